import stat

import pytest

from udc.pseudonymize.keys import (
    KeyStore,
    KeyStoreError,
    derive_domain_key,
    hkdf_sha256,
    key_fingerprint,
)

# RFC 5869, appendix A, test cases 1-3 (HKDF-SHA256).
RFC5869_CASES = [
    (
        bytes([0x0B] * 22),
        bytes(range(0x00, 0x0D)),
        bytes(range(0xF0, 0xFA)),
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x00, 0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes([0x0B] * 22),
        b"",
        b"",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), RFC5869_CASES)
def test_hkdf_sha256_matches_rfc5869(ikm, salt, info, length, okm):
    assert hkdf_sha256(ikm, salt, info, length).hex() == okm


def test_create_writes_two_distinct_private_keys(tmp_path):
    store = KeyStore(tmp_path / "workspace" / "keys")
    assert not store.exists()
    store.create()
    assert store.exists()
    assert stat.S_IMODE(store.keys_dir.stat().st_mode) == 0o700
    for path in (store.master_key_path, store.archive_key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(store.master_key()) == 32
    assert len(store.archive_key()) == 32
    assert store.master_key() != store.archive_key()


def test_create_tightens_an_existing_open_folder(tmp_path):
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o755)
    keys_dir.chmod(0o755)
    KeyStore(keys_dir).create()
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_create_never_overwrites_a_key(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.create()
    master, archive = store.master_key(), store.archive_key()
    with pytest.raises(KeyStoreError, match=r"master\.key already exists; udc never overwrites"):
        store.create()
    store.master_key_path.unlink()
    with pytest.raises(KeyStoreError, match=r"archive\.key already exists"):
        store.create()
    assert not store.master_key_path.exists()
    assert store.archive_key() == archive
    assert master != archive


def test_group_readable_key_is_rejected_with_chmod_advice(tmp_path):
    store = KeyStore(tmp_path / "keys")
    store.create()
    store.master_key_path.chmod(0o640)
    with pytest.raises(KeyStoreError, match=r"chmod 600 .*master\.key"):
        store.master_key()
    store.archive_key_path.chmod(0o604)
    with pytest.raises(KeyStoreError, match="group or others"):
        store.archive_key()
    store.master_key_path.chmod(0o600)
    assert len(store.master_key()) == 32


def test_missing_or_damaged_key_gives_an_actionable_error(tmp_path):
    store = KeyStore(tmp_path / "keys")
    with pytest.raises(KeyStoreError, match=r"no key at .*udc init"):
        store.master_key()
    store.create()
    store.archive_key_path.write_bytes(b"short")
    with pytest.raises(KeyStoreError, match=r"holds 5 bytes, not 32.*backup"):
        store.archive_key()


def test_domain_keys_are_deterministic_and_separate():
    master = bytes(range(32))
    brp = derive_domain_key(master, "brp")
    assert len(brp) == 32
    assert derive_domain_key(master, "brp") == brp
    assert derive_domain_key(master, "sociaal_domein") != brp
    assert derive_domain_key(bytes(range(1, 33)), "brp") != brp
    with pytest.raises(ValueError, match="non-empty"):
        derive_domain_key(master, "")
    with pytest.raises(ValueError, match="32 bytes"):
        derive_domain_key(master[:16], "brp")


def test_fingerprint_identifies_the_key_without_revealing_domain_keys():
    master = bytes(range(32))
    fingerprint = key_fingerprint(master)
    assert len(fingerprint) == 16
    assert int(fingerprint, 16) >= 0
    assert key_fingerprint(master) == fingerprint
    assert key_fingerprint(bytes(range(1, 33))) != fingerprint
    for domain in ("brp", "sociaal_domein", "default"):
        assert fingerprint not in derive_domain_key(master, domain).hex()
    assert fingerprint not in master.hex()
