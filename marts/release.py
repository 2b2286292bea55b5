"""A release: every mart built for one peildatum, protected together.

Marts share cells (``same_as``: ``bijstand_buurt.inwoners`` are the ``bevolking_buurt``
residents), and an attacker reads all of them, so suppression is chosen for all tables of
the release at once (``protection``). This module turns the counted marts into that
problem: the primary cells by the mart's rules (``primary``) with the protection each
needs, the links between marts, and back into the wide frames analysts read.

Primary rules and what a primary cell must keep (``p`` = the mart's protection level):

- minimum cell size: ``0 < n < min_cell_size``; ``p`` above its value and down to 0 below;
- group disclosure (along a configured dimension, or a ratio's numerator equal to its
  denominator): ``p`` below its group's total (it may not be shown to be the whole
  group), nothing above (the group's total bounds it anyway). Its protection may hide the
  published zeros beside it, which would otherwise show that the rest of the group is
  empty (``release_groups``).

Complements keep a width of ``p`` (``ProtectionTable.secondary_width``). A sum (a
magnitude) follows the dominance rule instead (``_magnitude_needs``). A mart under the
cell key method is not suppressed: each of its cells is perturbed by its cell key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from udc.marts.build import (
    CODE_COLUMN,
    SECRET_SUFFIX,
    MartCounts,
    MartTable,
    MeasureCounts,
    assemble_mart,
    count_mart,
)
from udc.marts.cellkey import CellKeyError, PTable, cell_keys, find_ptable, perturb
from udc.marts.definitions import TOTAL, MartDefinition, MartError
from udc.marts.primary import (
    along_dimension_total_rows,
    count_unsafe,
    dominance_protection,
    dominance_unsafe,
    group_disclosure_unsafe,
    totals_at,
)
from udc.marts.protection import (
    CellLink,
    GroupLink,
    ProtectionStats,
    ProtectionTable,
    protect_release,
)


def _whole_groups(counts: MartCounts, table: MeasureCounts) -> list[tuple[str, np.ndarray]]:
    """Per group this measure's cells belong to (along a ``group_disclosure`` dimension, or
    as the numerator of a ratio), the measure holding the group totals and, per cell, the
    row of its total there; -1 where the cell does not hold its whole group."""
    by_name = {m.measure.name: m for m in counts.measures}
    found = [
        (table.measure.name, along_dimension_total_rows(table.grid, dimension))
        for dimension in table.measure.group_disclosure
    ]
    for ratio in counts.definition.ratios:
        if ratio.numerator != table.measure.name or not ratio.group_disclosure:
            continue
        denominator = by_name[ratio.denominator]
        keys = [CODE_COLUMN, *denominator.measure.dimensions]
        rows = denominator.grid.select(keys).with_row_index("_row")
        joined = table.grid.join(rows, on=keys, how="left", maintain_order="left")
        found.append((ratio.denominator, joined["_row"].fill_null(-1).cast(pl.Int64).to_numpy()))
    whole = []
    for name, rows in found:
        unsafe = group_disclosure_unsafe(table.values, totals_at(by_name[name].values, rows))
        whole.append((name, np.where(unsafe, rows, -1)))
    return whole


def _magnitude_needs(
    counts: MartCounts, table: MeasureCounts
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A sum's primary cells, what each must keep above and below, and the complements'
    width. Unsafe by the dominance rule, a cell must move what ``dominance_protection``
    says; with fewer contributors than the minimum cell size, p% of its value; the larger
    if both. Complements need no interval of their own: they hide no one's contribution by
    themselves."""
    dominance = table.dominance
    assert dominance is not None
    p = table.measure.dominance_p
    values = table.values
    few = count_unsafe(dominance.contributors, counts.definition.min_cell_size)
    dominated = dominance_unsafe(values, dominance.largest, dominance.second, p)
    primary = (few | dominated) & (values > 0)
    rule = dominance_protection(values, dominance.largest, dominance.second, p)
    share = np.ceil(p / 100 * values)
    needed = np.maximum(np.where(dominated, rule, 0.0), np.where(few, share, 0.0))
    needed = np.where(primary, np.maximum(needed, 1.0), 0.0)
    return primary, needed, np.minimum(values, needed), 0.0


def _count_needs(
    counts: MartCounts, table: MeasureCounts
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A count's primary cells (small, or holding their whole group), what each must keep
    above and below, and the complements' width (``p``)."""
    definition = counts.definition
    values = table.values
    level = float(definition.protection_level or definition.min_cell_size)
    small = count_unsafe(values, definition.min_cell_size)
    whole_group = np.zeros(len(values), dtype=bool)
    for _, rows in _whole_groups(counts, table):
        whole_group |= rows >= 0
    primary = small | whole_group
    upper = np.where(small, level, 0.0)
    return primary, upper, np.where(primary, np.minimum(values, level), 0.0), level


def protection_table(counts: MartCounts, table: MeasureCounts) -> ProtectionTable:
    """A measure's cells with its primary cells and the protection each must keep."""
    needs = _magnitude_needs if table.measure.kind == "sum" else _count_needs
    primary, upper, lower, width = needs(counts, table)
    return ProtectionTable(
        name=f"{counts.definition.name}.{table.measure.name}",
        coordinates=table.grid,
        values=table.values,
        hierarchies=table.hierarchies,
        primary=primary,
        upper=upper,
        lower=lower,
        secondary_width=width,
    )


def _numbers(marts: Sequence[MartCounts]) -> dict[tuple[str, str], int]:
    """(mart, measure) -> table number, in the order of ``marts`` and their measures."""
    keys = [(c.definition.name, t.measure.name) for c in marts for t in c.measures]
    return {key: number for number, key in enumerate(keys)}


def release_groups(marts: Sequence[MartCounts]) -> list[GroupLink]:
    """Every cell that holds its whole group, with that group's total (numbered as
    ``release_links`` numbers the tables)."""
    numbers = _numbers(marts)
    groups = []
    for counts in marts:
        mart = counts.definition.name
        for table in counts.measures:
            for name, rows in _whole_groups(counts, table):
                cells = np.flatnonzero(rows >= 0)
                if len(cells):
                    groups.append(
                        GroupLink(
                            numbers[(mart, table.measure.name)], cells, numbers[(mart, name)],
                            rows[cells],
                        )
                    )  # fmt: skip
    return groups


def release_links(marts: Sequence[MartCounts]) -> list[CellLink]:
    """Cells that ``same_as`` declares equal, between tables of this release (numbered in
    the order of ``marts`` and their measures): the same area and categories along the
    dimensions both tables have, each table's other dimensions at their total.

    That is all an attacker learns from two tables of the same units whose shared
    dimensions keep the same categories (the definitions see to it): below a cell both
    publish, the finest cells of one table and those of the other are the row and the
    column sums of the unpublished table that crosses them, and any non-negative row and
    column sums with the same total are those of some non-negative table (a transportation
    problem). Protection and audit need not model the unpublished table."""
    numbers = _numbers(marts)
    tables = {(c.definition.name, t.measure.name): t for c in marts for t in c.measures}
    links = []
    for key, table in tables.items():
        if table.measure.same_as is None:
            continue
        target = tuple(table.measure.same_as.split("."))
        if target not in tables:
            continue
        other = tables[target]
        ours, theirs = table.measure.dimensions, other.measure.dimensions
        keys = [CODE_COLUMN, *(d for d in ours if d in theirs)]
        mine = _at_total(table.grid.with_row_index("_i"), [d for d in ours if d not in theirs])
        found = _at_total(other.grid.with_row_index("_j"), [d for d in theirs if d not in ours])
        pairs = mine.join(found.select(*keys, "_j"), on=keys)
        links.append(
            CellLink(numbers[key], pairs["_i"].to_numpy(), numbers[target], pairs["_j"].to_numpy())
        )
    return links


def _at_total(grid: pl.DataFrame, dimensions: Sequence[str]) -> pl.DataFrame:
    """The cells of ``grid`` at the total of every one of ``dimensions``."""
    return grid.filter(*(pl.col(d) == TOTAL for d in dimensions)) if dimensions else grid


def _perturbed(counts: MartCounts, ptable: PTable) -> MartTable:
    """A cell key mart: every count perturbed by its cell key, nothing hidden."""
    measures, nothing = [], []
    for table in counts.measures:
        assert table.record_key_sums is not None
        keys = cell_keys(table.record_key_sums)
        measures.append(dataclasses.replace(table, values=perturb(table.values, keys, ptable)))
        nothing.append(np.zeros(len(table.values), dtype=bool))
    return assemble_mart(dataclasses.replace(counts, measures=tuple(measures)), nothing, nothing)


def cells_shown(
    frame: pl.DataFrame, counts: MartCounts, table: MeasureCounts
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of ``table``, whether ``frame`` (a published release of the same mart) hides
    it, and whether it publishes it; neither for a cell it does not hold."""
    secret = f"{table.measure.name}{SECRET_SUFFIX}"
    keys = [CODE_COLUMN, *table.measure.dimensions]
    others = [d.name for d in counts.definition.dimensions if d.name not in keys]
    held = frame.filter(pl.col(secret).is_not_null(), *(pl.col(d) == TOTAL for d in others))
    joined = table.grid.join(
        held.select(*keys, secret), on=keys, how="left", maintain_order="left"
    )[secret]
    return joined.fill_null(False).to_numpy(), (~joined.fill_null(True)).to_numpy()


def linked_marts(marts: Sequence[MartCounts]) -> set[str]:
    """The marts of a release that share cells with another of its marts (``same_as``)."""
    names = {c.definition.name for c in marts}
    linked: set[str] = set()
    for counts in marts:
        for table in counts.measures:
            target = (table.measure.same_as or "").split(".")[0]
            if target in names and target != counts.definition.name:
                linked |= {counts.definition.name, target}
    return linked


def _sum_stats(stats: Sequence[ProtectionStats]) -> ProtectionStats:
    return ProtectionStats(
        **{
            f.name: sum(getattr(s, f.name) for s in stats)
            for f in dataclasses.fields(ProtectionStats)
        }
    )


def protect_marts(
    marts: Sequence[MartCounts],
    ptable_folders: Sequence[Path] = (),
    before: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None,
    alone: Mapping[int, tuple[MartTable, ProtectionStats]] | None = None,
    max_hidden: int | None = None,
) -> tuple[list[MartTable], ProtectionStats]:
    """Protect the marts of one release together and assemble what analysts read. Marts
    under the cell key method are perturbed instead (``definitions`` forbids them to share
    cells with suppressed marts). ``before``: per (mart, measure) the cells that earlier
    releases of the same values hid and published (``cells_shown``): hidden again, and
    never a complement, since the earlier release shows it. ``alone``: per ``id`` of a
    mart's counts, that mart already protected on its own; a mart that shares no cell with
    another of the release and has no earlier release is independent of the others, so
    that protection is its protection in the release. ``max_hidden``: as for
    ``protect_release``, over the suppressed marts not reused."""
    before = before or {}
    alone = alone or {}
    linked = linked_marts(marts)
    earlier = {mart for mart, _ in before}
    reused = {
        counts.definition.name: alone[id(counts)]
        for counts in marts
        if id(counts) in alone
        and counts.definition.name not in linked | earlier
        and counts.definition.protection == "suppression"
    }
    suppressed = [
        c
        for c in marts
        if c.definition.protection == "suppression" and c.definition.name not in reused
    ]
    tables = []
    for counts in suppressed:
        for t in counts.measures:
            table = protection_table(counts, t)
            if (counts.definition.name, t.measure.name) in before:
                hidden, published = before[(counts.definition.name, t.measure.name)]
                table = dataclasses.replace(table, hidden_before=hidden, published_before=published)
            tables.append(table)
    result = protect_release(
        tables, release_links(suppressed), release_groups(suppressed), max_hidden
    )
    built: dict[str, MartTable] = {name: table for name, (table, _) in reused.items()}
    at = 0
    for counts in suppressed:
        n = len(counts.measures)
        built[counts.definition.name] = assemble_mart(
            counts, result.suppressed[at : at + n], result.primary[at : at + n]
        )
        at += n
    for counts in marts:
        definition = counts.definition
        if definition.protection == "cell_key":
            try:
                ptable = find_ptable(definition.ptable, *ptable_folders)
            except CellKeyError as exc:
                raise MartError(f"{definition.name}: {exc}") from None
            built[definition.name] = _perturbed(counts, ptable)
    stats = _sum_stats([result.stats, *(s for _, s in reused.values())])
    return [built[c.definition.name] for c in marts], stats


def build_mart(
    definition: MartDefinition,
    tables: Mapping[str, pl.DataFrame],
    peildatum: date,
    record_key: bytes | None = None,
) -> MartTable:
    """Count and protect one mart on its own (a release of one)."""
    built, _ = protect_marts([count_mart(definition, tables, peildatum, record_key)])
    return built[0]
