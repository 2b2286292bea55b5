"""The key store (master key and archive key) and HKDF derivation of per-domain keys."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_LENGTH = 32

MASTER_KEY_FILE = "master.key"
ARCHIVE_KEY_FILE = "archive.key"
LOG_KEY_FILE = "log_signing.key"  # Ed25519: signs the processing log's checkpoints

# Fixed, public HKDF salt. RFC 5869 (section 3.1) recommends a salt even when it is not secret,
# because it separates udc's derivations from any other use of the same key material. It must
# never change: a different salt gives different domain keys, so new pseudonyms would no longer
# link to the ones already in the lake.
DOMAIN_KEY_SALT = b"udc urban data center hkdf salt v1"

_DOMAIN_INFO_PREFIX = b"udc pseudonymisation domain v1:"
# A label of its own, so the fingerprint is an independent HKDF output and says nothing about
# any domain key.
_FINGERPRINT_INFO = b"udc master key fingerprint v1"
_FINGERPRINT_BYTES = 8


class KeyStoreError(Exception):
    """A key is missing, damaged, unprotected, or would be overwritten."""


class KeyStore:
    """The two secret keys of a workspace, each in its own file of 32 random bytes.

    The master key is the root of every pseudonym; the archive key encrypts the archived raw
    deliveries. They are separate so that the archive can be destroyed (by deleting its key)
    without touching the lake.
    """

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)

    @property
    def master_key_path(self) -> Path:
        return self.keys_dir / MASTER_KEY_FILE

    @property
    def archive_key_path(self) -> Path:
        return self.keys_dir / ARCHIVE_KEY_FILE

    def exists(self) -> bool:
        return self.master_key_path.exists() and self.archive_key_path.exists()

    def create(self) -> None:
        """Write fresh master and archive keys; never replaces an existing key."""
        for path in (self.master_key_path, self.archive_key_path):
            if path.exists():
                raise KeyStoreError(
                    f"{path} already exists; udc never overwrites a key (it would make the lake "
                    "unlinkable). Remove it by hand only if you mean to start a new lake."
                )
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        # chmod explicitly: mkdir's mode is reduced by the umask and ignored for an existing dir.
        self.keys_dir.chmod(0o700)
        for path in (self.master_key_path, self.archive_key_path):
            _write_new_key(path, secrets.token_bytes(KEY_LENGTH))

    @property
    def log_key_path(self) -> Path:
        return self.keys_dir / LOG_KEY_FILE

    def master_key(self) -> bytes:
        return _read_key(self.master_key_path)

    def log_signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs the processing log's checkpoints, created on first use
        (a workspace from before the log has none yet)."""
        if not self.log_key_path.exists():
            # KeyStoreError here means another run created it just now: read that one.
            with contextlib.suppress(KeyStoreError):
                _write_new_key(self.log_key_path, secrets.token_bytes(KEY_LENGTH))
        return Ed25519PrivateKey.from_private_bytes(_read_key(self.log_key_path))

    def archive_key(self) -> bytes:
        return _read_key(self.archive_key_path)


def _write_new_key(path: Path, key: bytes) -> None:
    # O_EXCL makes the refusal to overwrite hold even if another process created the file after
    # the existence check.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStoreError(
            f"{path} already exists; udc never overwrites a key (it would make the lake "
            "unlinkable). Remove it by hand only if you mean to start a new lake."
        ) from None
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, key)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyStoreError(
            f"no key at {path}; create the keys with `udc init`, or restore them from your "
            "backup if this workspace already has a lake."
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(
            f"{path} is accessible to group or others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}` and check who may have copied it."
        )
    key = path.read_bytes()
    if len(key) != KEY_LENGTH:
        raise KeyStoreError(
            f"{path} holds {len(key)} bytes, not {KEY_LENGTH}; it is damaged or not a udc key. "
            "Restore it from your backup."
        )
    return key


def hkdf_sha256(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    """HKDF (RFC 5869) with SHA-256."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive_domain_key(master: bytes, domain: str) -> bytes:
    """The 32-byte key of one pseudonymisation domain.

    Pseudonyms of the same BSN in different domains are unlinkable without the master key.
    """
    if len(master) != KEY_LENGTH:
        raise ValueError(f"the master key must be {KEY_LENGTH} bytes, got {len(master)}")
    if not domain:
        raise ValueError("the pseudonymisation domain must be a non-empty name")
    return hkdf_sha256(master, DOMAIN_KEY_SALT, _DOMAIN_INFO_PREFIX + domain.encode(), KEY_LENGTH)


def key_fingerprint(master: bytes) -> str:
    """16 hex characters identifying the master key, safe to store next to the lake."""
    if len(master) != KEY_LENGTH:
        raise ValueError(f"the master key must be {KEY_LENGTH} bytes, got {len(master)}")
    return hkdf_sha256(master, DOMAIN_KEY_SALT, _FINGERPRINT_INFO, _FINGERPRINT_BYTES).hex()
