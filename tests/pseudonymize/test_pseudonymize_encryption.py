import os

import pytest

from udc.pseudonymize.encryption import SealError, seal, unseal

KEY = bytes(range(32))
CONTEXT = b"brp/brp_20250101.csv"


@pytest.mark.parametrize("data", [b"", b"burgerservicenummer;anummer\n", os.urandom(1 << 20)])
def test_roundtrip(data):
    blob = seal(data, KEY, CONTEXT)
    assert blob[:4] == b"UDC1"
    assert len(blob) == 4 + 12 + len(data) + 16
    assert unseal(blob, KEY, CONTEXT) == data


def test_ciphertext_hides_the_data_and_nonces_differ():
    data = b"123456782;Jansen\n" * 100
    first, second = seal(data, KEY, CONTEXT), seal(data, KEY, CONTEXT)
    assert first[4:16] != second[4:16]
    assert b"123456782" not in first
    assert b"Jansen" not in first


@pytest.mark.parametrize("position", [4, 15, 16, 40, -1])
def test_any_altered_byte_is_detected(position):
    blob = bytearray(seal(b"x" * 64, KEY, CONTEXT))
    blob[position] ^= 0x01
    with pytest.raises(SealError, match="altered or damaged"):
        unseal(bytes(blob), KEY, CONTEXT)


def test_wrong_key_or_context_is_detected_without_leaking_data():
    blob = seal(b"123456782;Jansen\n", KEY, CONTEXT)
    with pytest.raises(SealError, match="archive key") as wrong_key:
        unseal(blob, bytes(range(1, 33)), CONTEXT)
    assert "123456782" not in str(wrong_key.value)
    with pytest.raises(SealError):
        unseal(blob, KEY, b"brp/brp_20250102.csv")


def test_foreign_or_truncated_blobs_are_rejected():
    with pytest.raises(SealError, match="not a udc sealed"):
        unseal(b"PK\x03\x04" + bytes(40), KEY, CONTEXT)
    with pytest.raises(SealError, match="truncated"):
        unseal(seal(b"data", KEY, CONTEXT)[:20], KEY, CONTEXT)


def test_key_must_be_256_bits():
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"data", KEY[:16], CONTEXT)
