"""AES-256-GCM sealing of raw deliveries for the encrypted archive."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"UDC1"
NONCE_LENGTH = 12
TAG_LENGTH = 16
KEY_LENGTH = 32


class SealError(Exception):
    """A sealed blob cannot be opened: wrong key, wrong context, or altered or damaged data."""


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LENGTH:
        raise ValueError(f"an archive key must be {KEY_LENGTH} bytes, got {len(key)}")


def seal(data: bytes, key: bytes, associated_data: bytes) -> bytes:
    """Encrypt and authenticate `data`; `associated_data` (e.g. the delivery's name) is bound
    to the blob unencrypted, so a sealed file cannot be passed off as another delivery.

    Format: b"UDC1" + 12-byte random nonce + ciphertext + 16-byte tag.
    """
    _check_key(key)
    # A random 96-bit nonce is safe for far more than the number of deliveries one key will see
    # (NIST SP 800-38D allows 2**32 random nonces per key).
    nonce = os.urandom(NONCE_LENGTH)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, data, associated_data)


def unseal(blob: bytes, key: bytes, associated_data: bytes) -> bytes:
    """Decrypt a blob made by `seal`, checking that nothing was altered."""
    _check_key(key)
    if not blob.startswith(MAGIC):
        raise SealError("not a udc sealed archive file (it does not start with UDC1)")
    if len(blob) < len(MAGIC) + NONCE_LENGTH + TAG_LENGTH:
        raise SealError("the sealed archive file is truncated")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_LENGTH]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_LENGTH :], associated_data)
    except InvalidTag:
        raise SealError(
            "the sealed archive file cannot be opened: the archive key is not the one it was "
            "sealed with, it belongs to another delivery, or the file was altered or damaged"
        ) from None
