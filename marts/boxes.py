"""Box certificates: explicit null vectors of a table's relations, built from its geometry.

Along one axis with a hierarchy (a tree: values add up to their parent), a vector with
small support that satisfies every relation of that axis is either

- a *path*: +1 on a leaf and on each of its ancestors up to the root, or
- a *pair*: +1 on a leaf and its ancestors up to a node ``c``, and -1 on a leaf and its
  ancestors up to a sibling of ``c`` (above them the two cancel).

Along an axis without a hierarchy the only such vector is a single value. The outer
product of one such vector per axis (a "box": in the simplest case the corners of a
hypercube) satisfies every relation of the table. If every corner of a box is hidden, the
corners can move together (+ corners up, - corners down, or the other way round) without
changing any published cell, so none of them can be computed back: a certificate that
needs no linear algebra to trust (it is still checked against the relations).

``cheapest_box`` finds, for one cell that must be able to rise or fall by an amount, the
box whose corners not yet hidden cost the least (among the cheapest few options per axis)
and whose falling corners each hold at least that amount (no published zero: it cannot
fall, and as a complement would need complements of its own), the hypercube method of
tau-ARGUS (GHMITER) in its simplest form. Rising always has one: the paths of a leaf below
the cell (every corner rises); falling has one when a leaf below holds the amount.
"""

from __future__ import annotations

import itertools

import numpy as np

from udc.marts.tables import Axis, DisclosureError, Geometry, Table

OPTIONS_PER_AXIS = 6
Option = tuple[tuple[int, ...], tuple[int, ...]]  # (nodes, signs) along one axis


def axis_options(axis: Axis, node: int) -> list[Option]:
    """The small-support vectors of one axis that are non-zero at ``node``."""
    if not axis.hierarchical:
        return [((node,), (1,))]
    below = axis.leaves[node]
    options = [(axis.paths[x], (1,) * len(axis.paths[x])) for x in below]
    depth = len(axis.paths[node])
    up = axis.paths[node][1] if depth > 1 else -1
    if up >= 0:
        for sibling in axis.children[up]:
            if sibling == node:
                continue
            for x in below:
                plus = axis.paths[x][: len(axis.paths[x]) - depth + 1]
                for y in axis.leaves[sibling]:
                    minus = axis.paths[y][: len(axis.paths[y]) - depth + 1]
                    options.append((plus + minus, (1,) * len(plus) + (-1,) * len(minus)))
    return options


def _price(
    corners: np.ndarray,
    signs: np.ndarray,
    values: np.ndarray,
    hidden: np.ndarray,
    amount: float,
    rising: bool,
    zeros: bool,
) -> tuple[float, int] | None:
    """(cost, number) of the corners still to hide; None if the box cannot move the cell
    by ``amount`` (a corner that falls must hold at least that much)."""
    if (corners < 0).any():
        return None
    falling = signs < 0 if rising else signs > 0
    if (values[corners[falling]] < amount).any():
        return None
    new = corners[~hidden[corners]]
    if not zeros and (values[new] == 0).any():
        return None
    return float((1.0 + values[new]).sum()), len(new)


def _ranked_options(
    geo: Geometry, cell: int, d: int, values: np.ndarray, hidden: np.ndarray
) -> list[Option]:
    """The cheapest options along axis ``d``, priced on the line through ``cell``."""
    options = axis_options(geo.axes[d], int(geo.codes[cell, d]))
    sizes = np.array([len(nodes) for nodes, _ in options])
    codes = np.repeat(geo.codes[[cell]], sizes.sum(), axis=0)
    codes[:, d] = np.concatenate([nodes for nodes, _ in options])
    corners = geo.lookup(codes)
    owner = np.repeat(np.arange(len(options)), sizes)
    found = np.where(corners < 0, 0, corners)
    new = ~hidden[found] & (corners >= 0)
    unusable = np.bincount(owner, weights=corners < 0, minlength=len(options)) > 0
    n_new = np.bincount(owner, weights=new, minlength=len(options))
    cost = np.bincount(owner, weights=np.where(new, 1.0 + values[found], 0), minlength=len(options))
    ranked = np.lexsort((np.arange(len(options)), n_new, cost))
    return [options[i] for i in ranked if not unusable[i]][:OPTIONS_PER_AXIS]


def _leaf_paths(
    geo: Geometry, cell: int, values: np.ndarray, amount: float, rising: bool
) -> tuple[Option, ...] | None:
    """Per axis, the path of the first non-zero leaf cell at or below ``cell`` (holding
    ``amount`` to fall): every corner of that box holds the leaf, so none is zero and each
    can fall as far as the leaf."""
    below = values >= max(amount, 1.0) if not rising else values > 0
    for d, axis in enumerate(geo.axes):
        node = int(geo.codes[cell, d])
        below &= np.isin(geo.codes[:, d], axis.leaves[node] if axis.hierarchical else [node])
    candidates = np.flatnonzero(below)
    if not len(candidates):
        return None
    leaf = geo.codes[candidates[0]]
    choice = []
    for d, axis in enumerate(geo.axes):
        nodes = axis.paths[leaf[d]] if axis.hierarchical else (int(leaf[d]),)
        choice.append((nodes, (1,) * len(nodes)))
    return tuple(choice)


def _corners(geo: Geometry, choice: tuple[Option, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Cells and signs of the box given by one option per axis."""
    codes = np.array(list(itertools.product(*(nodes for nodes, _ in choice))), dtype=np.int64)
    signs = np.array(list(itertools.product(*(signs for _, signs in choice)))).prod(axis=1)
    return geo.lookup(codes.reshape(len(signs), len(geo.axes))), signs


def cheapest_box(
    table: Table,
    values: np.ndarray,
    hidden: np.ndarray,
    cell: int,
    amount: float,
    rising: bool,
    zeros: bool = False,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Corner cells and signs of the cheapest box that moves ``cell`` up (``rising``) or
    down by ``amount`` (None if there is none among the options tried): the least cost
    ``1 + value`` of the corners still to hide, then the fewest cells; published zeros only
    with ``zeros`` (they can rise, not fall). The cell's own sign
    is +1: the direction is ``amount * signs`` rising, ``-amount * signs`` falling."""
    geo = table.geometry
    ranked = [_ranked_options(geo, cell, d, values, hidden) for d in range(len(geo.axes))]
    choices = list(itertools.product(*ranked))
    fallback = _leaf_paths(geo, cell, values, amount, rising)
    if fallback is not None:
        choices.append(fallback)
    best_key: tuple[float, int, int] | None = None
    best: tuple[np.ndarray, np.ndarray] | None = None
    for position, choice in enumerate(choices):
        corners, signs = _corners(geo, choice)
        price = _price(corners, signs, values, hidden, amount, rising, zeros)
        if price is not None and (best_key is None or (*price, position) < best_key):
            best_key, best = (*price, position), (corners, signs)
    if best is None:
        return None
    vector = np.zeros(table.n_cells)
    vector[best[0]] = best[1]
    if np.abs(table.relations @ vector).max(initial=0) != 0:
        raise DisclosureError("a box is not a null vector of the relations")
    return best
