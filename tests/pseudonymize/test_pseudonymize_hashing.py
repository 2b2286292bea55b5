import hashlib

import numpy as np
import polars as pl
import polars_hash as plh
import pytest

from udc.pseudonymize.bsn import is_valid_bsn, random_valid_bsns
from udc.pseudonymize.hashing import (
    hmac_key_text,
    hmac_rate,
    hmac_sha256_hex,
    pseudonym_of,
    pseudonymise,
)
from udc.pseudonymize.keys import DOMAIN_KEY_SALT, derive_domain_key

# RFC 4231, section 4, test cases 1-7 (HMAC-SHA-256); case 5 is truncated to 128 bits.
RFC4231_CASES = [
    (
        bytes([0x0B] * 20),
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        bytes([0xAA] * 20),
        bytes([0xDD] * 50),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(0x01, 0x1A)),
        bytes([0xCD] * 50),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (bytes([0x0C] * 20), b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        bytes([0xAA] * 131),
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        bytes([0xAA] * 131),
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]
# Cases whose key is valid UTF-8, the only keys the polars_hash plugin accepts.
PLUGIN_CASES = [RFC4231_CASES[index] for index in (0, 1, 3, 4)]


def keys(count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(32) for _ in range(count)]


@pytest.mark.parametrize(("key", "data", "mac"), RFC4231_CASES)
def test_reference_hmac_matches_rfc4231(key, data, mac):
    assert hmac_sha256_hex(key, data)[: len(mac)] == mac


@pytest.mark.parametrize(("key", "data", "mac"), PLUGIN_CASES)
def test_polars_plugin_hmac_matches_rfc4231(key, data, mac):
    try:
        column = pl.Series("data", [data.decode("utf-8")])
    except UnicodeDecodeError:
        column = pl.Series("data", [data], dtype=pl.Binary)
    result = column.to_frame().select(plh.col("data").chash.hmac_sha256(key=key.decode("utf-8")))
    assert result.item()[: len(mac)] == mac


def test_pseudonym_is_hmac_under_the_hex_form_of_the_domain_key():
    domain_key = bytes([0xAA] * 32)
    assert hmac_key_text(domain_key) == "aa" * 32
    expected = hmac_sha256_hex(b"aa" * 32, b"123456782")
    assert pseudonym_of("123456782", domain_key) == expected
    frame = pseudonymise(pl.DataFrame({"bsn": ["123456782"]}), "bsn", domain_key)
    assert frame["pseudonym"].item() == expected


def test_pseudonymise_equals_reference_for_many_bsns_and_keys():
    bsns = random_valid_bsns(np.random.default_rng(1), 2_000).tolist()
    frame = pl.DataFrame({"bsn": bsns})
    for domain_key in keys(5, seed=2):
        result = pseudonymise(frame, "bsn", domain_key)["pseudonym"].to_list()
        assert result == [pseudonym_of(bsn, domain_key) for bsn in bsns]


def test_pseudonymise_replaces_the_column_in_place():
    frame = pl.DataFrame(
        {
            "row": [1, 2, 3, 4],
            "bsn": [" 123456782", "123456782\t", None, "  "],
            "postcode": ["1234AB", "1234AB", "9999ZZ", "1000AA"],
        }
    )
    domain_key = keys(1, seed=3)[0]
    result = pseudonymise(frame, "bsn", domain_key, output="persoon_id")
    assert result.columns == ["row", "persoon_id", "postcode"]
    assert result.schema["persoon_id"] == pl.String
    expected = pseudonym_of("123456782", domain_key)
    assert result["persoon_id"].to_list() == [expected, expected, None, None]
    assert len(expected) == 64 and int(expected, 16) >= 0
    assert result["postcode"].to_list() == frame["postcode"].to_list()


def test_pseudonymise_refuses_a_column_that_lost_its_leading_zeros():
    frame = pl.DataFrame({"bsn": [12345672, 123456782]})
    with pytest.raises(TypeError, match="must be read as String") as raised:
        pseudonymise(frame, "bsn", keys(1, seed=4)[0])
    assert "12345672" not in str(raised.value)
    with pytest.raises(ValueError, match="already exists"):
        pseudonymise(pl.DataFrame({"bsn": ["123456782"], "pseudonym": ["x"]}), "bsn", bytes(32))


def test_domains_give_different_unlinkable_pseudonyms():
    master = keys(1, seed=5)[0]
    bsns = random_valid_bsns(np.random.default_rng(6), 5_000).tolist()
    frame = pl.DataFrame({"bsn": bsns})
    brp = pseudonymise(frame, "bsn", derive_domain_key(master, "brp"))["pseudonym"]
    social = pseudonymise(frame, "bsn", derive_domain_key(master, "sociaal_domein"))["pseudonym"]
    assert brp.n_unique() == social.n_unique() == len(bsns)
    assert not brp.is_in(social.implode()).any()
    # Within one domain, the same BSN always links.
    again = pseudonymise(frame, "bsn", derive_domain_key(master, "brp"))["pseudonym"]
    assert brp.to_list() == again.to_list()


def valid_bsns_in_range(start: int, stop: int) -> list[str]:
    candidates = [f"{number:09d}" for number in range(start, stop)]
    return [bsn for bsn in candidates if is_valid_bsn(bsn)]


def test_bsn_cannot_be_recovered_without_the_key():
    """A dictionary attack over every valid BSN in a range finds nothing without the key."""
    master = keys(1, seed=7)[0]
    domain = "brp"
    domain_key = derive_domain_key(master, domain)
    dictionary = valid_bsns_in_range(123_400_000, 123_500_000)
    rng = np.random.default_rng(8)
    targets = rng.choice(np.array(dictionary), size=300, replace=False).tolist()
    published = set(pseudonymise(pl.DataFrame({"bsn": targets}), "bsn", domain_key)["pseudonym"])

    candidates = pl.DataFrame({"bsn": dictionary})
    salts = [DOMAIN_KEY_SALT.decode(), domain]
    attacks = [plh.col("bsn").chash.sha2_256()]
    attacks += [plh.concat_str(pl.lit(salt), "bsn").chash.sha2_256() for salt in salts]
    attacks += [plh.concat_str("bsn", pl.lit(salt)).chash.sha2_256() for salt in salts]
    for wrong_key in [keys(1, seed=9)[0], master, derive_domain_key(master, "sociaal_domein")]:
        attacks.append(plh.col("bsn").chash.hmac_sha256(key=wrong_key.hex()))
    attacks.append(plh.col("bsn").chash.hmac_sha256(key=domain))
    guesses = candidates.select(
        [attack.alias(f"attack_{index}") for index, attack in enumerate(attacks)]
    )
    for name in guesses.columns:
        assert published.isdisjoint(guesses[name].to_list()), name
    assert hashlib.sha256(targets[0].encode()).hexdigest() in guesses["attack_0"].to_list()

    # The same enumeration with the right key recovers every target: the search space was right.
    with_key = candidates.select(plh.col("bsn").chash.hmac_sha256(key=domain_key.hex()))
    assert published <= set(with_key.to_series().to_list())


def test_raw_bsn_never_appears_in_the_output():
    rng = np.random.default_rng(10)
    bsns = random_valid_bsns(rng, 1_000).tolist()
    frame = pl.DataFrame(
        {
            "bsn": [f" {bsn} " for bsn in bsns],
            "postcode": rng.choice(["1234AB", "9999ZZ"], size=len(bsns)).tolist(),
            "regeling": "PW",
        }
    )
    result = pseudonymise(frame, "bsn", keys(1, seed=11)[0])
    string_columns = [name for name, dtype in result.schema.items() if dtype == pl.String]
    assert set(string_columns) == {"pseudonym", "postcode", "regeling"}
    leaks = result.select(
        pl.any_horizontal(pl.col(name).str.contains_any(bsns) for name in string_columns).sum()
    ).item()
    assert leaks == 0
    # The scan itself works: it would have seen the raw column.
    assert frame.select(pl.col("bsn").str.contains_any(bsns).all()).item()


def test_hmac_rate_measures_pseudonyms_per_second():
    rate = hmac_rate(20_000)
    assert 10_000 < rate < 1e9


def test_subject_digests_hold_each_person_once_and_only_under_their_own_key():
    import numpy as np
    import polars as pl

    from udc.pseudonymize.bsn import random_valid_bsns
    from udc.pseudonymize.hashing import holds_subject, subject_digest, subject_digests

    bsns = [str(b) for b in random_valid_bsns(np.random.default_rng(7), 200)]
    frame = pl.DataFrame({"bsn": [*bsns, bsns[0], None, " "]})
    log_key, link_key = b"L" * 32, b"K" * 32
    digests = subject_digests(frame, "bsn", log_key)
    values = np.frombuffer(digests, dtype=">u8")
    assert len(values) == 200 and (np.diff(values.astype(np.float64)) > 0).all()
    assert all(holds_subject(digests, subject_digest(b, log_key)) for b in bsns)
    outsider = str(random_valid_bsns(np.random.default_rng(8), 1)[0])
    assert not holds_subject(digests, subject_digest(outsider, log_key))
    # Under the lake's key the same people give other digests: the two cannot be joined.
    assert not any(holds_subject(digests, subject_digest(b, link_key)) for b in bsns[:50])
