"""BSN validation, the key store, HKDF domain keys, keyed hashing and archive encryption."""

from udc.pseudonymize.bsn import (
    BSN_STATUS_DESCRIPTIONS,
    bsn_status,
    is_valid_bsn,
    random_valid_bsns,
)
from udc.pseudonymize.encryption import SealError, seal, unseal
from udc.pseudonymize.hashing import (
    hmac_rate,
    pseudonym_expr,
    pseudonym_of,
    pseudonymise,
)
from udc.pseudonymize.keys import (
    KeyStore,
    KeyStoreError,
    derive_domain_key,
    hkdf_sha256,
    key_fingerprint,
)

__all__ = [
    "BSN_STATUS_DESCRIPTIONS",
    "KeyStore",
    "KeyStoreError",
    "SealError",
    "bsn_status",
    "derive_domain_key",
    "hkdf_sha256",
    "hmac_rate",
    "is_valid_bsn",
    "key_fingerprint",
    "pseudonym_expr",
    "pseudonym_of",
    "pseudonymise",
    "random_valid_bsns",
    "seal",
    "unseal",
]
