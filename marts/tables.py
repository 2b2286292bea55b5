"""The structure of a table of counts: its relations and its geometry.

A table is complete: one cell per combination of coordinate values. Along a column with a
``Hierarchy`` each child value adds up to its parent value (an additive dimension's values
add up to ``totaal``; buurten to their wijk, wijken to their gemeente). A column without a
hierarchy (a non-additive dimension) has no relations: it splits the table into
independent sub-tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse


class DisclosureError(RuntimeError):
    """No safe suppression pattern was found, or the table cannot be protected as given:
    the table must not be published."""


@dataclass(frozen=True)
class Hierarchy:
    """Along ``column``, each child value adds up to its parent value (``child -> parent``)."""

    column: str
    parents: Mapping[str, str]


def _relation_entries(
    indexed: pl.DataFrame, columns: Sequence[str], hierarchy: Hierarchy
) -> tuple[np.ndarray, np.ndarray]:
    """(total cell, child cell) for every child that has a parent along ``hierarchy``."""
    others = [c for c in columns if c != hierarchy.column]
    parent_map = pl.DataFrame(
        {hierarchy.column: list(hierarchy.parents), "_parent": list(hierarchy.parents.values())},
        schema={hierarchy.column: pl.String, "_parent": pl.String},
    )
    children = indexed.join(parent_map, on=hierarchy.column, how="inner")
    totals = indexed.select(
        *others, pl.col(hierarchy.column).alias("_parent"), pl.col("_cell").alias("_total")
    )
    linked = children.join(totals, on=[*others, "_parent"], how="left")
    if linked["_total"].null_count():
        raise DisclosureError(f"incomplete table: a total along {hierarchy.column!r} is missing")
    return linked["_total"].to_numpy(), linked["_cell"].to_numpy()


def relation_matrix(
    coordinates: pl.DataFrame, hierarchies: Sequence[Hierarchy]
) -> sparse.csr_array:
    """One row per (hierarchy, total cell): its children +1, the total -1.

    ``coordinates`` holds only the String coordinate columns, one row per cell.
    """
    n = coordinates.height
    if coordinates.unique().height != n:
        raise DisclosureError("coordinates must be unique")
    indexed = coordinates.with_row_index("_cell").with_columns(pl.col("_cell").cast(pl.Int64))
    children, keys = [], []
    for k, hierarchy in enumerate(hierarchies):
        total, child = _relation_entries(indexed, coordinates.columns, hierarchy)
        children.append(child)
        keys.append(k * n + total)
    if not keys:
        return sparse.csr_array((0, n), dtype=np.float64)
    relation_keys, child_relation = np.unique(np.concatenate(keys), return_inverse=True)
    rows = np.concatenate([child_relation, np.arange(len(relation_keys))])
    cols = np.concatenate([*children, relation_keys % n])
    data = np.concatenate([np.ones(len(child_relation)), -np.ones(len(relation_keys))])
    return sparse.csr_array((data, (rows, cols)), shape=(len(relation_keys), n))


@dataclass(frozen=True)
class Axis:
    """One coordinate column: its values as nodes and, with a hierarchy, their tree."""

    column: str
    values: tuple[str, ...]
    hierarchical: bool
    children: tuple[tuple[int, ...], ...]  # per node
    leaves: tuple[tuple[int, ...], ...]  # per node: the leaves at or below it
    paths: tuple[tuple[int, ...], ...]  # per node: itself, its parent, ... up to the root


def _axis(column: str, values: tuple[str, ...], parents: Mapping[str, str] | None) -> Axis:
    index = {value: i for i, value in enumerate(values)}
    parent = [index.get((parents or {}).get(v, ""), -1) for v in values]
    children: list[list[int]] = [[] for _ in values]
    for node, up in enumerate(parent):
        if up >= 0:
            children[up].append(node)
    paths = []
    for node in range(len(values)):
        path = [node]
        while parent[path[-1]] >= 0 and len(path) <= len(values):
            path.append(parent[path[-1]])
        if len(path) > len(values):
            raise DisclosureError(f"the hierarchy of {column!r} has a cycle")
        paths.append(tuple(path))
    leaves: list[list[int]] = [[] for _ in values]
    for node, path in enumerate(paths):
        if not children[node]:
            for ancestor in path:
                leaves[ancestor].append(node)
    return Axis(
        column=column,
        values=values,
        hierarchical=parents is not None,
        children=tuple(tuple(c) for c in children),
        leaves=tuple(tuple(sorted(lv)) for lv in leaves),
        paths=tuple(paths),
    )


@dataclass(frozen=True)
class Geometry:
    """Cells as integer codes per axis, with a lookup from codes back to cells."""

    axes: tuple[Axis, ...]
    codes: np.ndarray  # (cells, axes)
    strides: np.ndarray
    sorted_keys: np.ndarray
    key_order: np.ndarray

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """The cell of each row of ``codes``, -1 where the table has no such cell."""
        keys = codes @ self.strides
        at = np.minimum(np.searchsorted(self.sorted_keys, keys), len(self.sorted_keys) - 1)
        return np.where(self.sorted_keys[at] == keys, self.key_order[at], -1)


def geometry(coordinates: pl.DataFrame, hierarchies: Sequence[Hierarchy]) -> Geometry:
    by_column = {h.column: h.parents for h in hierarchies}
    axes, codes = [], []
    for column in coordinates.columns:
        values = tuple(sorted(coordinates[column].unique().to_list()))
        axes.append(_axis(column, values, by_column.get(column)))
        index = {value: i for i, value in enumerate(values)}
        codes.append(coordinates[column].replace_strict(index, return_dtype=pl.Int64).to_numpy())
    matrix = np.column_stack(codes)
    sizes = [len(axis.values) for axis in axes]
    strides = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int64)
    keys = matrix @ strides
    order = np.argsort(keys, kind="stable")
    return Geometry(tuple(axes), matrix, strides, keys[order], order)


@dataclass(frozen=True)
class Table:
    """A complete table's relations and geometry."""

    relations: sparse.csr_array
    geometry: Geometry

    @property
    def n_cells(self) -> int:
        return int(self.relations.shape[1])


def table(coordinates: pl.DataFrame, hierarchies: Sequence[Hierarchy]) -> Table:
    return Table(relation_matrix(coordinates, hierarchies), geometry(coordinates, hierarchies))
