"""Merkle tree hashes as Certificate Transparency defines them (RFC 6962, section 2.1;
RFC 9162, section 2.1): the root of a list of entries, and consistency proofs that a
tree of ``m`` entries is a prefix of a tree of ``n``.

Leaves and inner nodes are hashed with different prefixes (0x00, 0x01), so no inner node
can pass for an entry. A processing log that publishes a signed root after each run can
then show that every later root extends every earlier one: nothing changed, removed,
inserted or reordered in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of leaf hashes (``leaf_hash`` of each entry)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The nodes that prove the tree of the first ``m`` leaves is a prefix of the tree of
    all ``leaves`` (RFC 9162, 2.1.4.1); empty when ``m`` is 0 or all of them."""
    if not 0 <= m <= len(leaves):
        raise ValueError(f"no prefix of {m} in a tree of {len(leaves)}")
    if m in (0, len(leaves)):
        return []
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_consistency(
    m: int, n: int, first: bytes, second: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of size ``m`` with root ``first`` to be a prefix of
    the tree of size ``n`` with root ``second`` (RFC 9162, 2.1.4.2)."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and first == second
    if m == 0:
        return not proof
    path = list(proof)
    if m & (m - 1) == 0:  # a power of two: the old tree is a whole subtree
        path = [first, *path]
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == first and sr == second and sn == 0
