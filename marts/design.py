"""Table designs chosen against suppression (global recoding).

Statistical offices do not publish a table that hides most of its cells: they choose a
design whose cells are big enough (quarters instead of months, wijken instead of small
buurten, grouped classes). A mart lists its designs finest first (``definitions``); each
is applied to the mart's definition (``apply_design``): the measure queries are wrapped so
that they yield the coarser areas and categories, and the build counts distinct units in
those cells as it counts any mart. ``choose_designs`` then takes, per mart, the first
design whose hidden share meets the mart's ``max_hidden_share``:

- a design whose hidden cells must exceed the target is passed over without protecting
  it (``hidden_floor``: its primary cells, plus the complements that lines holding a
  single primary cell need at the least);
- the others are protected on their own, finest first, until one meets the target; the
  protection of a design stops as soon as it hides more than the target allows;
- when none does, the coarsest is published, and the choice says the target was missed.

A design never weakens protection: the chosen designs are protected together and audited
like any release. One release publishes one design per mart; an earlier release of the
same values fixes the design (``forced``), or the two designs together would be linked
tables that neither protection saw.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import overload

import duckdb
import numpy as np
import polars as pl
from scipy import sparse

from udc.marts.build import (
    MartCounts,
    MartTable,
    count_mart,
    counting_connection,
    member_connection,
)
from udc.marts.definitions import (
    COLLAPSE,
    GEOGRAPHY_LEVELS,
    GEOGRAPHY_SOURCE,
    QUARTERS,
    Design,
    Dimension,
    MartDefinition,
    MartError,
    Measure,
)
from udc.marts.protection import ProtectionStats
from udc.marts.release import protection_table
from udc.marts.tables import table


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _recode(dimension: str, how: str, groupings: Mapping[str, Mapping[str, tuple[str, ...]]]):
    column = f"CAST(fine.{_quoted(dimension)} AS VARCHAR)"
    if how == QUARTERS:
        return (
            f"CASE WHEN regexp_full_match({column}, '[0-9]{{4}}-[0-9]{{2}}') "
            f"THEN substr({column}, 1, 4) || '-K' || "
            f"CAST((CAST(substr({column}, 6, 2) AS INTEGER) + 2) // 3 AS VARCHAR) "
            f"ELSE {column} END"
        )
    cases = " ".join(
        f"WHEN {_literal(value)} THEN {_literal(label)}"
        for label, values in groupings[how].items()
        for value in values
    )
    return f"CASE {column} {cases} ELSE {column} END"


def _grouped_values(dimension: Dimension, how: str) -> tuple[str, ...]:
    """The values of a grouped dimension: each group where its first value stood."""
    groups = dimension.groupings[how]
    label_of = {value: label for label, values in groups.items() for value in values}
    found: list[str] = []
    for value in dimension.values:
        label = label_of.get(value, value)
        if label not in found:
            found.append(label)
    return tuple(found) + tuple(label for label in groups if label not in found)


# The table as its definition has it: what a mart without designs is counted in.
AS_DEFINED = Design("as_defined")


def apply_design(
    definition: MartDefinition, design: Design, fine: Mapping[str, str] | None = None
) -> MartDefinition:
    """The definition of ``definition`` published in ``design``: same name, purpose and
    inputs; coarser areas and categories. ``fine``: per measure, a relation that already
    holds what its query returns, read instead of running the query again."""
    geography = definition.geography
    if design.area is not None:
        geography = geography[geography.index(design.area) :]
    fine_code, code = definition.finest_code, GEOGRAPHY_LEVELS[geography[0]][0]
    collapsed = {d for d, how in design.coarsen.items() if how == COLLAPSE}
    dimensions = []
    for dimension in definition.dimensions:
        how = design.coarsen.get(dimension.name)
        if how == COLLAPSE:
            continue
        if how == QUARTERS:
            dimension = replace(dimension, values=(), groupings=MappingProxyType({}))
        elif how is not None:
            values = _grouped_values(dimension, how)
            dimension = replace(dimension, values=values, groupings=MappingProxyType({}))
        dimensions.append(dimension)
    # The table as defined keeps its own queries, and their own error messages, unless
    # what they return is at hand.
    as_defined = code == fine_code and not design.coarsen
    measures = tuple(
        measure
        if as_defined and measure.name not in (fine or {})
        else _measure(
            definition, measure, design, fine_code, code, collapsed, (fine or {}).get(measure.name)
        )
        for measure in definition.measures
    )
    return replace(
        definition,
        geography=geography,
        dimensions=tuple(dimensions),
        measures=measures,
        designs=(),
        max_hidden_share=definition.max_hidden_share,
        design=design,
        base=definition,
    )


def _measure(
    definition: MartDefinition,
    measure: Measure,
    design: Design,
    fine_code: str,
    code: str,
    collapsed: set[str],
    fine_relation: str | None,
) -> Measure:
    kept = [d for d in measure.dimensions if d not in collapsed]
    columns = ["fine.unit_id AS unit_id"]
    join = ""
    if code == fine_code:
        columns.append(f"fine.{_quoted(code)} AS {_quoted(code)}")
    else:
        # Areas the buurtindeling cannot place stay unplaced (NULL), as in the fine table.
        columns.append(f"areas._coarse AS {_quoted(code)}")
        join = (
            f"LEFT JOIN (SELECT DISTINCT {_quoted(fine_code)} AS _fine, {_quoted(code)} AS "
            f"_coarse FROM {GEOGRAPHY_SOURCE} WHERE {_quoted(fine_code)} IS NOT NULL) AS areas "
            f"ON fine.{_quoted(fine_code)} = areas._fine"
        )
    for name in kept:
        how = design.coarsen.get(name)
        if how is None:
            columns.append(f"fine.{_quoted(name)} AS {_quoted(name)}")
        else:
            groupings = definition.dimension(name).groupings
            columns.append(f"{_recode(name, how, groupings)} AS {_quoted(name)}")
    if measure.kind == "sum":
        columns.append("fine.amount AS amount")
    inner = fine_relation or f"(\n{measure.sql.strip().rstrip(';')}\n)"
    wrapped = f"SELECT {', '.join(columns)} FROM {inner} AS fine {join}"
    return replace(
        measure,
        sql=wrapped,
        dimensions=tuple(kept),
        group_disclosure=tuple(d for d in measure.group_disclosure if d not in collapsed),
    )


def designs_of(definition: MartDefinition) -> list[MartDefinition]:
    """The definitions to count, finest first: the mart itself when it lists no designs."""
    if not definition.designs:
        return [definition]
    return [apply_design(definition, design) for design in definition.designs]


class DesignCounts(Sequence[MartCounts]):
    """The counts of a mart's designs (``designs_of``), finest first, each counted the
    first time it is asked for: most marts are published in their first or second design,
    and counting all of them up front held every mart's designs in memory at once (at
    1,000,000 residents 34 s of counting summed over the marts, and 1.4 GB more at the
    peak). All designs count in one restricted connection in which the mart's own measure
    queries ran once, each into a temporary table the coarser designs read; the first
    design is counted at once, so a query that fails reads as without designs. Close it
    when the choice is made (it holds that connection)."""

    def __init__(
        self,
        definition: MartDefinition,
        tables: Mapping[str, pl.DataFrame] | Iterable[Mapping[str, pl.DataFrame]],
        peildatum: date,
        record_key: bytes | None = None,
        spill: Path | None = None,
    ) -> None:
        self.definition = definition
        self.seconds = 0.0  # spent counting
        self._counted: dict[int, MartCounts] = {}
        self._lock = threading.Lock()
        self._peildatum, self._record_key, self._spill = peildatum, record_key, spill
        self._con: duckdb.DuckDBPyConnection | None = None
        self._fine = {}
        if not isinstance(tables, Mapping):
            # Several municipalities: each measure query ran per member (member_connection).
            self._con, self._fine, areas = member_connection(definition, tables, peildatum, spill)
            self._tables = {GEOGRAPHY_SOURCE: areas}
            try:
                self[0]
            except BaseException:
                self.close()
                raise
            return
        if not definition.designs:
            self._tables = tables
            self[0]
            return
        self._con = counting_connection(definition, tables, peildatum, spill)
        self._fine: dict[str, str] = {}
        try:
            for measure in definition.measures:
                relation = _quoted(f"_fine_{measure.name}")
                try:
                    (statement,) = duckdb.extract_statements(measure.sql)
                    if statement.type != duckdb.StatementType.SELECT:
                        continue
                    sql = measure.sql.strip().rstrip(";")
                    self._con.execute(f"CREATE TEMP TABLE {relation} AS {sql}")
                except (duckdb.Error, ValueError):
                    continue
                self._fine[measure.name] = relation
            self._tables = tables
            try:
                self[0]
            except MartError:
                # Counted as written, a query the mart cannot count fails with the error
                # it gives without designs.
                count_mart(definition, tables, peildatum, record_key, self._con)
                raise
        except BaseException:
            self.close()
            raise
        # Counted, the first design proves every measure query ran: the coarser designs
        # read only the temporary tables and the areas, so the sources can go.
        for source in definition.inputs:
            if source != GEOGRAPHY_SOURCE:
                self._con.unregister(source)
        self._tables = {GEOGRAPHY_SOURCE: tables[GEOGRAPHY_SOURCE]}

    def __len__(self) -> int:
        return len(self.definition.designs) or 1

    @overload
    def __getitem__(self, index: int) -> MartCounts: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[MartCounts, ...]: ...

    def __getitem__(self, index: int | slice) -> MartCounts | tuple[MartCounts, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        with self._lock:
            if index not in self._counted:
                started = time.perf_counter()
                self._counted[index] = self._count(index)
                self.seconds += time.perf_counter() - started
            return self._counted[index]

    @property
    def counted(self) -> tuple[str | None, ...]:
        """The designs counted so far, finest first (``None``: the mart without designs)."""
        names = [d.name for d in self.definition.designs] or [None]
        return tuple(names[i] for i in sorted(self._counted))

    def named(self, design: str) -> MartCounts:
        """The counts of the design of that name."""
        return self[[d.name for d in self.definition.designs].index(design)]

    def _count(self, index: int) -> MartCounts:
        definition, tables = self.definition, self._tables
        if not definition.designs and not self._fine:
            return count_mart(
                definition, tables, self._peildatum, self._record_key, spill=self._spill
            )
        if self._con is None:
            raise RuntimeError(f"{definition.name}: the design counts were closed")
        if not definition.designs:
            counted = count_mart(
                apply_design(definition, AS_DEFINED, self._fine),
                tables,
                self._peildatum,
                self._record_key,
                self._con,
            )
            return replace(counted, definition=definition)
        design = definition.designs[index]
        counted = count_mart(
            apply_design(definition, design, self._fine),
            tables,
            self._peildatum,
            self._record_key,
            self._con,
        )
        # The counts carry the design's definition as it stands alone: its queries do not
        # name the temporary tables, which die with the connection.
        return replace(counted, definition=apply_design(definition, design))

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def count_designs(
    definition: MartDefinition,
    tables: Mapping[str, pl.DataFrame] | Iterable[Mapping[str, pl.DataFrame]],
    peildatum: date,
    record_key: bytes | None = None,
    spill: Path | None = None,
) -> DesignCounts:
    """``count_mart`` of every design, as it is asked for (``DesignCounts``); ``spill``:
    where their connection may spill (``counting_connection``)."""
    return DesignCounts(definition, tables, peildatum, record_key, spill)


@dataclass(frozen=True)
class DesignChoice:
    """Which design a mart is published in, and why: per design tried, its hidden share
    (primary cells only where those alone exceed the target) and what was found."""

    mart: str
    design: str | None  # None: the mart lists no designs
    target: float | None
    hidden_share: float | None  # as protected alone, then (``protect_designs``) in the release
    met: bool
    tried: tuple[tuple[str, float, str], ...] = ()

    def to_dict(self) -> dict:
        return {
            "design": self.design,
            "target": self.target,
            "hidden_share": self.hidden_share,
            "target_met": self.met,
            "tried": [{"design": d, "share": s, "found": f} for d, s, f in self.tried],
        }


def primary_share(counts: MartCounts) -> float:
    """The share of cells the primary rules hide."""
    primary = sum(int(protection_table(counts, t).primary.sum()) for t in counts.measures)
    cells = sum(len(t.values) for t in counts.measures)
    return primary / cells if cells else 0.0


def hidden_floor(counts: MartCounts) -> float:
    """A share of cells any protection of the mart must hide at least: its primary cells,
    and for the lines (relations) that hold exactly one of them, one more cell each; one
    complement lies on at most as many lines as the most any cell lies on."""
    hidden = cells = 0
    for measure in counts.measures:
        primary = protection_table(counts, measure).primary
        relations = table(measure.grid, measure.hierarchies).relations
        pattern = sparse.csr_array(relations != 0).astype(np.int64)
        lonely = int(((pattern @ primary.astype(np.int64)) == 1).sum())
        most_lines = int(pattern.sum(axis=0).max(initial=1)) or 1
        hidden += int(primary.sum()) + math.ceil(lonely / most_lines)
        cells += len(measure.values)
    return hidden / cells if cells else 0.0


def _named(designs: Sequence[MartCounts], name: str) -> int | None:
    definition = designs[0].definition.base
    assert definition is not None
    names = [design.name for design in definition.designs]
    return names.index(name) if name in names else None


def _choose(
    designs: Sequence[MartCounts],
    protect_alone: Callable[[MartCounts, float | None], float],
    forced: Mapping[str, str],
) -> tuple[MartCounts, DesignChoice]:
    # By position only: ``designs`` may count a design the first time it is asked for.
    first = designs[0].definition
    name = first.name
    if first.design is None:
        return designs[0], DesignChoice(name, None, None, None, True)
    if name in forced:
        at = _named(designs, forced[name])
        if at is None:
            raise MartError(
                f"{name}: an earlier release of the same values was published in design "
                f"{forced[name]}, which the definition no longer lists; a release in "
                "another design would publish both"
            )
        return designs[at], DesignChoice(
            name, forced[name], first.max_hidden_share, None, True,
            ((forced[name], 0.0, "as the earlier release of these values"),),
        )  # fmt: skip
    target = first.max_hidden_share
    tried: list[tuple[str, float, str]] = []
    pick, share, met = len(designs) - 1, None, False
    for at in range(len(designs)):
        counts = designs[at]
        design = counts.definition.design
        assert design is not None
        if target is None or counts.definition.protection == "cell_key":
            pick, met = at, True
            break
        floor = hidden_floor(counts)
        if floor > target:
            tried.append((design.name, round(floor, 4), "its least protection exceeds the target"))
            continue
        last = at == len(designs) - 1
        alone = protect_alone(counts, None if last else target)
        found = "protected alone" if alone <= target or last else "protected alone until over it"
        tried.append((design.name, round(alone, 4), found))
        if alone <= target:
            pick, share, met = at, alone, True
            break
        if last:
            share = alone
    chosen = designs[pick]
    design = chosen.definition.design
    assert design is not None
    return chosen, DesignChoice(name, design.name, target, share, met, tuple(tried))


def choose_designs(
    candidates: Sequence[Sequence[MartCounts]],
    protect_alone: Callable[[MartCounts, float | None], float],
    forced: Mapping[str, str] | None = None,
) -> tuple[list[MartCounts], list[DesignChoice]]:
    """Per mart, the counts of the design to publish (see the module's rules).
    ``candidates``: per mart, its designs counted, finest first. ``protect_alone(counts,
    stop_over)`` gives the hidden share of one mart protected on its own; given a share,
    it may stop as soon as it hides more than that and give the share it reached (a
    design passed over needs no complete protection). ``forced``: mart -> the design an
    earlier release of the same values was published in.

    Marts are chosen for independently, so on several cores at once (HiGHS releases the
    GIL); each choice is the same whichever finishes first."""
    forced = forced or {}
    workers = max(1, min(len(candidates), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="udc-design") as pool:
        found = list(pool.map(lambda designs: _choose(designs, protect_alone, forced), candidates))
    return [pick for pick, _ in found], [choice for _, choice in found]


def _hidden_share(built: MartTable) -> float:
    return (built.primary_suppressed + built.secondary_suppressed) / built.cells


def protect_designs(
    candidates: Sequence[Sequence[MartCounts]],
    protect: Callable[[list[MartCounts]], tuple[list[MartTable], ProtectionStats]],
    protect_alone: Callable[[MartCounts, float | None], float],
    forced: Mapping[str, str] | None = None,
) -> tuple[list[MartTable], ProtectionStats, list[DesignChoice]]:
    """Choose the designs (``choose_designs``), then protect the release with them
    (``protect``). Marts that share cells hide more together than each alone: a mart whose
    share in the release exceeds its target moves on to its next design that may meet it,
    and the release is protected again, until every mart meets its target or has no
    coarser design left."""
    forced = forced or {}
    chosen, choices = choose_designs(candidates, protect_alone, forced)
    while True:
        built, stats = protect(chosen)
        moved = False
        for m, (designs, published) in enumerate(zip(candidates, built, strict=True)):
            choice = choices[m]
            target = choice.target
            if choice.design is None or target is None or choice.mart in forced:
                continue
            share = _hidden_share(published)
            at = _named(designs, choice.design)
            assert at is not None
            later = (i for i in range(at + 1, len(designs)) if hidden_floor(designs[i]) <= target)
            following = next(later, None) if share > target else None
            if following is None:
                choices[m] = replace(choice, hidden_share=round(share, 4), met=share <= target)
                continue
            tried = (
                *choice.tried,
                (choice.design, round(share, 4), "over the target in the release"),
            )
            chosen[m] = designs[following]
            design = chosen[m].definition.design
            assert design is not None
            choices[m] = replace(choice, design=design.name, tried=tried)
            moved = True
        if not moved:
            return built, stats, choices
