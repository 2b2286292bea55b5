"""Merkle roots and consistency proofs against RFC 6962's definitions, written out here."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udc.catalog.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_the_root_follows_rfc_6962_by_hand():
    a, b, c = leaves(3)
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root([a]) == a == hashlib.sha256(b"\x00entry 0").digest()
    assert root([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()
    # Three leaves split at 2: ((a b) c).
    assert root([a, b, c]) == node_hash(node_hash(a, b), c)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_every_prefix_is_proven_consistent(sizes):
    m, n = sizes
    tree = leaves(n)
    proof = consistency_proof(m, tree)
    assert verify_consistency(m, n, root(tree[:m]), root(tree), proof)


@pytest.mark.parametrize(("m", "n"), [(1, 2), (3, 7), (4, 8), (5, 13), (6, 6)])
def test_a_changed_removed_or_reordered_entry_breaks_the_proof(m, n):
    tree = leaves(n)
    proof = consistency_proof(m, tree)
    changed = list(tree)
    changed[0] = leaf_hash(b"rewritten")
    assert not verify_consistency(m, n, root(changed[:m]), root(tree), proof)
    swapped = list(tree)
    swapped[0], swapped[-1] = swapped[-1], swapped[0]
    if m < n:
        assert not verify_consistency(m, n, root(tree[:m]), root(swapped), proof)
        shorter = tree[:-1]
        assert not verify_consistency(m, n, root(tree[:m]), root(shorter), proof)


def test_a_proof_for_another_size_is_refused():
    tree = leaves(10)
    proof = consistency_proof(4, tree)
    assert not verify_consistency(5, 10, root(tree[:5]), root(tree), proof)
    assert not verify_consistency(11, 10, root(tree), root(tree), [])
    with pytest.raises(ValueError):
        consistency_proof(11, tree)
