"""Build one mart: run its measure queries over its allowed inputs, count distinct units (or
sum their amounts) over the full grid of areas and dimensions, and protect the cells.

The output is wide, for analysts: one row per area (buurt, wijk and gemeente rows, as the
definition's geography says) and combination of dimension values (with ``totaal`` for
additive dimensions), one Int64 column per measure (null when hidden), a Boolean
``<measure>_geheim`` (true when hidden; it does not say why: primary and secondary cells
look the same, or an attacker would learn which ones are below the minimum), and ratio
columns in percent with one decimal, computed from published counts only.

A measure whose dimensions are a subset of the mart's is published on the rows where the
other dimensions are ``totaal``; elsewhere both its columns are null (not applicable).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from udc.marts.cellkey import record_keys
from udc.marts.definitions import (
    GEOGRAPHY_LEVELS,
    GEOGRAPHY_SOURCE,
    REGIO,
    TOTAL,
    UNKNOWN,
    MartDefinition,
    MartError,
    Measure,
)
from udc.marts.macros import macro_statements
from udc.marts.tables import Hierarchy

LEVEL_COLUMN, CODE_COLUMN, NAME_COLUMN = "gebiedsniveau", "gebiedscode", "gebiedsnaam"
PARENT_COLUMN = "bovenliggende_gebiedscode"
SECRET_SUFFIX = "_geheim"


@dataclass(frozen=True)
class MeasureStats:
    name: str
    cells: int
    primary_suppressed: int
    secondary_suppressed: int
    unplaced: int  # distinct units whose address is not in the buurtindeling
    # Information loss in mass: the sum of the hidden values, beside the sum of all values.
    hidden_mass: int = 0
    total_mass: int = 0


@dataclass(frozen=True)
class MartTable:
    definition: MartDefinition
    peildatum: date
    frame: pl.DataFrame
    # Public hierarchy (gebiedsniveau, gebiedscode, gebiedsnaam, bovenliggende_gebiedscode)
    # the audit needs to know which areas add up to which.
    geography: pl.DataFrame
    measures: tuple[MeasureStats, ...]

    @property
    def cells(self) -> int:
        return sum(m.cells for m in self.measures)

    @property
    def primary_suppressed(self) -> int:
        return sum(m.primary_suppressed for m in self.measures)

    @property
    def secondary_suppressed(self) -> int:
        return sum(m.secondary_suppressed for m in self.measures)

    @property
    def unplaced(self) -> int:
        return sum(m.unplaced for m in self.measures)

    def publication_metadata(
        self, deliveries: Sequence[str], key_fingerprint: str
    ) -> dict[str, object]:
        """The metadata ``MartStore.publish`` expects for this table. It goes into the
        analysts' parquet, so it holds only what the table shows anyway: the number of
        hidden cells, not how many are primary (that would say how many are below the
        minimum), and not the unplaced units (a count outside the protected table)."""
        definition = self.definition
        return {
            "purpose": definition.purpose,
            "peildatum": self.peildatum.isoformat(),
            "min_cell_size": definition.min_cell_size,
            "protection_level": definition.protection_level or definition.min_cell_size,
            "protection": definition.protection,
            "dimensions": [d.name for d in definition.dimensions],
            "measures": [m.name for m in definition.measures],
            "sums": [m.name for m in definition.measures if m.kind == "sum"],
            "deliveries": list(deliveries),
            "key_fingerprint": key_fingerprint,
            "measure_fingerprints": json.dumps(
                measure_fingerprints(definition.base or definition, deliveries), sort_keys=True
            ),
            "title": definition.title,
            "cells": self.cells,
            "suppressed": self.primary_suppressed + self.secondary_suppressed,
        } | (
            {
                "design": definition.design.name,
                "hidden_share": round(
                    (self.primary_suppressed + self.secondary_suppressed) / self.cells, 4
                ),
            }
            if definition.design is not None
            else {}
        )


def measure_fingerprints(definition: MartDefinition, deliveries: Sequence[str]) -> dict[str, str]:
    """Per measure, a hash of everything its true cell values depend on: its query, kind and
    dimensions, the mart's geography and inputs, and the deliveries read. Two releases with
    the same fingerprint for a measure hold the same values there, whatever they hide, so
    an attacker who reads both combines them (the audit ties them, and a rebuild starts
    from what the earlier one hid). Protection settings do not change it."""
    found = {}
    members = sorted({_member_of_delivery(d) for d in deliveries} - {None})
    for measure in definition.measures:
        payload = {
            "measure": [measure.sql, measure.kind, list(measure.dimensions)],
            "dimensions": [
                [d.name, list(d.values), d.additive]
                for d in definition.dimensions
                if d.name in measure.dimensions
            ],
            "geography": list(definition.geography),
            "inputs": {source: list(columns) for source, columns in definition.inputs.items()},
            "deliveries": sorted(deliveries),
        }
        text = json.dumps(payload, sort_keys=True).encode()
        found[measure.name] = hashlib.sha256(text).hexdigest()[:16]
        # A member's cells depend on its own deliveries only (member_connection): two
        # releases with the same fingerprint for a member hold the same values in its areas.
        for member in members:
            own = [d for d in deliveries if _member_of_delivery(d) == member]
            text = json.dumps(payload | {"deliveries": sorted(own)}, sort_keys=True).encode()
            found[f"{measure.name}{MEMBER_MARK}{member}"] = hashlib.sha256(text).hexdigest()[:16]
    return found


MEMBER_MARK = "@"


def _member_of_delivery(delivery: str) -> str | None:
    """The gemeente of a delivery as a release names it (``brp@GM0200:20261201:<sha>``)."""
    key = delivery.split(":", 1)[0]
    return key.partition(MEMBER_MARK)[2] or None


def member_of_area(code: str) -> str | None:
    """The gemeente a buurt, wijk or gemeente code lies in, by the CBS numbering (BU and WK
    codes start with the gemeente's four digits); None for a regio."""
    return pl.DataFrame({"code": [code]}).select(member_of_area_expr("code")).item()


def member_of_area_expr(column: str) -> pl.Expr:
    """``member_of_area`` of a column of codes."""
    code = pl.col(column)
    return (
        pl.when(code.str.slice(0, 2).is_in(["BU", "WK", "GM"]))
        .then(pl.lit("GM") + code.str.slice(2, 4))
        .otherwise(pl.lit(None, pl.String))
    )


def tied_members(
    ours: Mapping[str, str], theirs: Mapping[str, str], measure: str
) -> frozenset[str] | None:
    """Where two releases hold the same values of ``measure``: everywhere (None), or in the
    areas of these members only (empty: nowhere)."""
    fingerprint = ours.get(measure)
    if fingerprint is not None and theirs.get(measure) == fingerprint:
        return None
    prefix = f"{measure}{MEMBER_MARK}"
    return frozenset(
        key.removeprefix(prefix)
        for key, value in ours.items()
        if key.startswith(prefix) and theirs.get(key) == value
    )


# A counting connection with a spill folder keeps at most this much in memory and the rest
# of its tables on disk: a national mart's per-person tables took 4.8 GB per mart, and a
# release holds all its marts' connections until its designs are chosen.
COUNTING_MEMORY = "1GB"


def _connect(spill: Path | None) -> duckdb.DuckDBPyConnection:
    """An in-memory database; with ``spill``, one that spills to a folder of its own under
    it (DuckDB creates the folder and removes it on close)."""
    con = duckdb.connect(":memory:")
    if spill is not None:
        spill.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = str(spill / uuid.uuid4().hex).replace("'", "''")
        con.execute(f"SET memory_limit = '{COUNTING_MEMORY}'")
        con.execute(f"SET temp_directory = '{folder}'")
    return con


def counting_connection(
    definition: MartDefinition,
    tables: Mapping[str, pl.DataFrame],
    peildatum: date,
    spill: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory database that holds only the allowed columns of the allowed sources
    and cannot reach files, other databases or Python variables: where ``count_mart``
    counts, and where a caller counting several designs of one mart counts them all (it
    closes the connection). ``spill``: where its tables may go beyond ``COUNTING_MEMORY``
    (inside the workspace: they hold pseudonymised rows, as the lake does)."""
    con = _connect(spill)
    try:
        _register_inputs(con, definition, tables)
    except MartError:
        con.close()
        raise
    for statement in macro_statements(peildatum):
        con.execute(statement)
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def member_connection(
    definition: MartDefinition,
    members: Iterable[Mapping[str, pl.DataFrame]],
    peildatum: date,
    spill: Path | None = None,
) -> tuple[duckdb.DuckDBPyConnection, dict[str, str], pl.DataFrame]:
    """A restricted connection (as ``counting_connection``) for a mart over several
    municipalities: each measure query runs over one member's inputs at a time, so that a
    member's cells depend on its own deliveries only (what the audit relies on when it ties
    a member's cells across releases), and what it returns goes into one temporary table
    per measure (``_fine_<measure>``; returned per measure name). ``members`` is read once,
    one member after another: a lazy one holds a single member's inputs in memory (a
    country's took 3 GB at once). The sources are gone afterwards; ``buurtindeling`` holds
    every member's areas together (one row each), which are returned as well."""
    queries = {
        m.name: _single_select(f"{definition.name}.{m.name}", m.sql) for m in definition.measures
    }
    fine = {name: _quoted(f"_fine_{name}") for name in queries}
    # Once the queries ran, designs read the areas alone: one row per area, not per
    # address (a country's 5 million addresses stayed in memory once per mart).
    area_columns = {c for pair in GEOGRAPHY_LEVELS.values() for c in pair if c is not None}
    geographies = []
    con = _connect(spill)
    try:
        for statement in macro_statements(peildatum):
            con.execute(statement)
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_external_access = false")
        for number, tables in enumerate(members):
            buurtindeling = tables[GEOGRAPHY_SOURCE]
            _check_nesting(definition, buurtindeling)
            geographies.append(
                buurtindeling.select(c for c in buurtindeling.columns if c in area_columns).unique()
            )
            _register_inputs(con, definition, tables)
            for name, sql in queries.items():
                into = (
                    f"CREATE TEMP TABLE {fine[name]} AS"
                    if number == 0
                    else f"INSERT INTO {fine[name]} BY NAME"
                )
                try:
                    con.execute(f"{into} {sql}")
                except duckdb.Error as exc:
                    allowed = {source: list(cols) for source, cols in definition.inputs.items()}
                    raise MartError(
                        f"{definition.name}.{name}: {exc} (the query may read only {allowed})"
                    ) from None
        for source in definition.inputs:
            con.unregister(source)
        areas = pl.concat(geographies, how="vertical_relaxed")
        con.register(GEOGRAPHY_SOURCE, areas.to_arrow())
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, fine, areas


def _check_nesting(definition: MartDefinition, buurtindeling: pl.DataFrame | None) -> None:
    """Every buurt and wijk code of a member starts with its gemeente's digits, as CBS
    numbers them: the audit finds a member's areas by their codes."""
    if buurtindeling is None or "gemeentecode" not in buurtindeling.columns:
        return
    for column in ("buurtcode", "wijkcode"):
        if column not in buurtindeling.columns:
            continue
        outside = buurtindeling.filter(
            pl.col(column).is_not_null()
            & (member_of_area_expr(column) != pl.col("gemeentecode")).fill_null(True)
        )
        if outside.height:
            raise MartError(
                f"{definition.name}: {outside.height} {column}s of the {GEOGRAPHY_SOURCE} do "
                "not start with the digits of their gemeentecode (CBS numbering), which a "
                "regional workspace needs to tell the members' areas apart"
            )


def _register_inputs(
    con: duckdb.DuckDBPyConnection, definition: MartDefinition, tables: Mapping[str, pl.DataFrame]
) -> None:
    for source, columns in definition.inputs.items():
        if source not in tables:
            raise MartError(f"{definition.name}: input {source!r} was not provided")
        missing = sorted(set(columns) - set(tables[source].columns))
        if missing:
            raise MartError(f"{definition.name}: input {source!r} lacks columns {missing}")
        con.register(source, tables[source].select(columns).to_arrow())


def _single_select(where: str, sql: str) -> str:
    """The query without its trailing semicolon, if it is one SELECT."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise MartError(f"{where}: the query does not parse: {exc}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise MartError(f"{where}: the query must be a single SELECT")
    return sql.strip().rstrip(";")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count_measure(
    con: duckdb.DuckDBPyConnection,
    definition: MartDefinition,
    measure: Measure,
    record_key: bytes | None,
) -> tuple[pl.DataFrame, int]:
    """Distinct units per finest area and dimension values (column ``_n``; under the cell key
    method also the sum of their record keys, ``_k``), and the number of
    distinct units whose area is not in the geography. Counting happens in DuckDB, so the
    microdata never leave the restricted connection. For a sum: one row per unit and cell
    with its amount in whole units (``_amount``), without the unit id."""
    where = f"{definition.name}.{measure.name}"
    sql = _single_select(where, measure.sql)
    try:
        columns = con.sql(sql).columns
    except duckdb.Error as exc:
        allowed = {source: list(cols) for source, cols in definition.inputs.items()}
        raise MartError(f"{where}: {exc} (the query may read only {allowed})") from None
    code, dimensions = definition.finest_code, list(measure.dimensions)
    is_sum = measure.kind == "sum"
    expected = ["unit_id", code, *dimensions, *(["amount"] if is_sum else [])]
    if sorted(columns) != sorted(expected):
        raise MartError(f"{where}: the query must return exactly the columns {expected}")
    keys = ", ".join(_quoted(c) for c in [code, *dimensions])
    non_additive = [d for d in dimensions if not definition.dimension(d).additive]
    areas = f"SELECT {code} FROM {GEOGRAPHY_SOURCE} WHERE {code} IS NOT NULL"
    cast = ", ".join(
        [
            "CAST(unit_id AS VARCHAR) AS unit_id",
            f"CAST({_quoted(code)} AS VARCHAR) AS {_quoted(code)}",
            *(f"coalesce(CAST({_quoted(d)} AS VARCHAR), '{UNKNOWN}') AS {_quoted(d)}"
              for d in dimensions),
        ]
    )  # fmt: skip
    per_cell = ", ".join(_quoted(c) for c in ["unit_id", code, *dimensions])
    contributions = (
        # A unit's amounts in one cell are one contribution, rounded once: sums of whole
        # numbers add up exactly at every level.
        f"SELECT {per_cell}, CAST(round(sum(amount)) AS BIGINT) AS _amount FROM "
        f"(SELECT {cast}, CAST(amount AS DOUBLE) AS amount FROM (\n{sql}\n) AS measure) "
        f"GROUP BY {per_cell}"
        if is_sum
        else f"SELECT DISTINCT {cast} FROM (\n{sql}\n) AS measure"
    )
    try:
        if is_sum:
            (bad,) = con.sql(
                f"SELECT count(*) FILTER (amount IS NULL OR amount < 0) FROM (\n{sql}\n)"
            ).fetchall()
            if bad[0]:
                raise MartError(
                    f"{where}: the query returns {bad[0]} row(s) with an amount that is "
                    "missing or negative; the dominance rule needs amounts of 0 or more"
                )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _contributions AS {contributions}")
        (unplaced,) = con.sql(
            f"SELECT count(DISTINCT unit_id) FROM _contributions "
            f"WHERE {_quoted(code)} IS NULL OR {_quoted(code)} NOT IN ({areas})"
        ).fetchall()
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _placed AS SELECT * FROM _contributions "
            f"WHERE {_quoted(code)} IN ({areas})"
        )
        per_unit = ", ".join(["unit_id", *(_quoted(d) for d in non_additive)])
        (twice,) = con.sql(
            f"SELECT count(*) FROM (SELECT {per_unit} FROM _placed "
            f"GROUP BY {per_unit} HAVING count(*) > 1)"
        ).fetchall()
        counts = con.sql(
            f"SELECT {keys}, _amount FROM _placed"
            if is_sum
            else f"SELECT {keys}, CAST(count(*) AS BIGINT) AS _n FROM _placed GROUP BY {keys}"
        ).to_arrow_table()
        placed = (
            con.sql(f"SELECT {keys}, unit_id FROM _placed").to_arrow_table()
            if definition.protection == "cell_key"
            else None
        )
        # Each is a copy of the measure's rows; the next design makes its own.
        con.execute("DROP TABLE _placed")
        con.execute("DROP TABLE _contributions")
    except duckdb.Error as exc:
        raise MartError(f"{where}: {exc}") from None
    if twice[0]:
        raise MartError(
            f"{where}: a unit falls in two cells of an additive dimension or area, "
            "so totals would count it twice"
        )
    frame = pl.from_arrow(counts)
    assert isinstance(frame, pl.DataFrame)
    if placed is not None:
        contributors = pl.from_arrow(placed)
        assert isinstance(contributors, pl.DataFrame)
        # Int64 sums of 32-bit keys keep their residue modulo 2**32 (cellkey.cell_keys).
        assert record_key is not None
        sums = (
            contributors.with_columns(
                record_keys(contributors["unit_id"], record_key).cast(pl.Int64).alias("_k")
            )
            .group_by([code, *dimensions])
            .agg(pl.col("_k").sum())
        )
        frame = frame.join(sums, on=[code, *dimensions], how="left")
    return frame, int(unplaced[0])


def _geography(definition: MartDefinition, buurtindeling: pl.DataFrame) -> pl.DataFrame:
    """One row per area of the definition's levels, finest level first, codes ascending."""
    levels = definition.geography
    codes = [GEOGRAPHY_LEVELS[level][0] for level in levels]
    names = [GEOGRAPHY_LEVELS[level][1] for level in levels]
    # A gemeente outside every regio (or in one whose figures wait) has no regio above it.
    placed = [c for level, c in zip(levels, codes, strict=True) if level != REGIO]
    missing = [c for c in (*codes, *(n for n in names if n)) if c not in buurtindeling.columns]
    if missing:
        raise MartError(f"{definition.name}: the {GEOGRAPHY_SOURCE} lacks {missing}")
    areas = buurtindeling.select(
        *codes, *(n for n in names if n is not None)
    ).unique().drop_nulls(placed)  # fmt: skip
    if areas.is_empty():
        raise MartError(f"{definition.name}: the {GEOGRAPHY_SOURCE} holds no areas")
    frames = []
    for i, (level, code, name) in enumerate(zip(levels, codes, names, strict=True)):
        parent = pl.col(codes[i + 1]) if i + 1 < len(codes) else pl.lit(None, pl.String)
        level_areas = areas.drop_nulls(code).select(
            pl.lit(level).alias(LEVEL_COLUMN),
            pl.col(code).alias(CODE_COLUMN),
            (pl.col(name) if name else pl.col(code)).alias(NAME_COLUMN),
            parent.alias(PARENT_COLUMN),
        ).unique()
        if level_areas[CODE_COLUMN].n_unique() != level_areas.height:
            raise MartError(
                f"{definition.name}: {GEOGRAPHY_SOURCE} gives a {level} two names or parents"
            )
        frames.append(level_areas.sort(CODE_COLUMN))
    geography = pl.concat(frames)
    if geography[CODE_COLUMN].n_unique() != geography.height:
        raise MartError(f"{definition.name}: area codes of different levels coincide")
    return geography


def _level_map(definition: MartDefinition, geography: pl.DataFrame) -> pl.DataFrame:
    """finest code -> code of every level (itself included), as columns _l0, _l1, ..."""
    parent_of = geography.select(CODE_COLUMN, PARENT_COLUMN)
    finest = geography.filter(pl.col(LEVEL_COLUMN) == definition.geography[0])
    level_map = finest.select(pl.col(CODE_COLUMN).alias("_l0"))
    for i in range(1, len(definition.geography)):
        level_map = level_map.join(
            parent_of.rename({CODE_COLUMN: f"_l{i - 1}", PARENT_COLUMN: f"_l{i}"}),
            on=f"_l{i - 1}",
            how="left",
        )
    return level_map


def _domains(
    definition: MartDefinition, counts: Mapping[str, pl.DataFrame]
) -> dict[str, list[str]]:
    """Per dimension: configured values, then other values seen in the data (sorted)."""
    domains = {}
    for dimension in definition.dimensions:
        seen: set[str] = set()
        for measure in definition.measures:
            if dimension.name in measure.dimensions:
                seen.update(counts[measure.name][dimension.name].unique().to_list())
        if TOTAL in seen:
            raise MartError(f"{definition.name}: {dimension.name} holds the value {TOTAL!r}")
        values = list(dimension.values) + sorted(seen - set(dimension.values))
        domains[dimension.name] = [*values, TOTAL] if dimension.additive else values
    return domains


def _grid(geography: pl.DataFrame, dimensions: Mapping[str, list[str]]) -> pl.DataFrame:
    """Every area x every combination of dimension values, in publication order."""
    grid = geography.select(CODE_COLUMN).with_row_index("_o_area")
    for name, values in dimensions.items():
        domain = pl.DataFrame({name: values}, schema={name: pl.String}).with_row_index(f"_o_{name}")
        grid = grid.join(domain, how="cross")
    order = ["_o_area", *(f"_o_{name}" for name in dimensions)]
    return grid.sort(order).drop(order)


def _aggregate(
    definition: MartDefinition,
    measure: Measure,
    rows: pl.DataFrame,
    level_map: pl.DataFrame,
    grid: pl.DataFrame,
    aggregations: Sequence[pl.Expr],
) -> pl.DataFrame:
    """``aggregations`` of the finest ``rows`` for every grid cell (aligned with ``grid``),
    over every area and every total. Sums of the finest counts equal distinct counts because
    ``_count_measure`` checked that no unit is in two cells of an additive dimension or
    area."""
    dimensions = list(measure.dimensions)
    additive = [d for d in dimensions if definition.dimension(d).additive]
    base = rows.join(level_map, left_on=definition.finest_code, right_on="_l0")
    values = [c for c in rows.columns if c not in (definition.finest_code, *dimensions)]
    parts = []
    for i in range(len(definition.geography)):
        level_code = definition.finest_code if i == 0 else f"_l{i}"
        at_level = base.select(pl.col(level_code).alias(CODE_COLUMN), *dimensions, *values)
        for size in range(len(additive) + 1):
            for totals in itertools.combinations(additive, size):
                parts.append(
                    at_level.with_columns(pl.lit(TOTAL).alias(d) for d in totals)
                    .group_by(CODE_COLUMN, *dimensions)
                    .agg(*aggregations)
                )
    keyed = grid.join(
        pl.concat(parts), on=[CODE_COLUMN, *dimensions], how="left", maintain_order="left"
    )
    return keyed.drop(grid.columns)


def _counts(
    definition: MartDefinition,
    measure: Measure,
    rows: pl.DataFrame,
    level_map: pl.DataFrame,
    grid: pl.DataFrame,
    column: str,
) -> np.ndarray:
    """The sum of a finest count column (``_n``, or the record keys ``_k``) per grid cell."""
    found = _aggregate(definition, measure, rows, level_map, grid, [pl.col(column).sum()])
    return found[column].fill_null(0).to_numpy()


def _magnitudes(
    definition: MartDefinition,
    measure: Measure,
    rows: pl.DataFrame,
    level_map: pl.DataFrame,
    grid: pl.DataFrame,
) -> tuple[np.ndarray, Dominance]:
    """Per grid cell the sum of its contributions and what the dominance rule reads: the
    number of contributors and the two largest contributions (0 where there are fewer)."""
    found = _aggregate(
        definition,
        measure,
        rows,
        level_map,
        grid,
        [
            pl.col("_amount").sum().alias("_sum"),
            pl.len().alias("_contributors"),
            pl.col("_amount").top_k(2).alias("_top"),
        ],
    )
    top = found["_top"]
    return found["_sum"].fill_null(0).to_numpy(), Dominance(
        contributors=found["_contributors"].fill_null(0).to_numpy(),
        largest=top.list.get(0, null_on_oob=True).fill_null(0).to_numpy(),
        second=top.list.get(1, null_on_oob=True).fill_null(0).to_numpy(),
    )


def _hierarchies(
    definition: MartDefinition,
    measure: Measure,
    geography: pl.DataFrame,
    domains: Mapping[str, list[str]],
) -> list[Hierarchy]:
    links = geography.drop_nulls(PARENT_COLUMN)
    hierarchies = [
        Hierarchy(CODE_COLUMN, dict(zip(links[CODE_COLUMN], links[PARENT_COLUMN], strict=True)))
    ]
    for name in measure.dimensions:
        if definition.dimension(name).additive:
            hierarchies.append(Hierarchy(name, {v: TOTAL for v in domains[name] if v != TOTAL}))
    return hierarchies


def _measure_cells(
    definition: MartDefinition,
    measure: Measure,
    published: pl.DataFrame,
) -> pl.DataFrame:
    """A measure's cells in the wide frame's keys: its missing dimensions at ``totaal``."""
    missing = [d.name for d in definition.dimensions if d.name not in measure.dimensions]
    return published.with_columns(pl.lit(TOTAL).alias(d) for d in missing)


def _ratio_columns(definition: MartDefinition, wide: pl.DataFrame) -> list[pl.Series]:
    columns = []
    for ratio in definition.ratios:
        keys = [CODE_COLUMN, *definition.measure(ratio.denominator).dimensions]
        denominators = wide.filter(pl.col(f"{ratio.denominator}{SECRET_SUFFIX}").is_not_null())
        denominators = denominators.select(*keys, pl.col(ratio.denominator).alias("_den"))
        joined = wide.select(*keys, pl.col(ratio.numerator).alias("_num")).join(
            denominators, on=keys, how="left", maintain_order="left"
        )
        usable = pl.col("_den") >= ratio.min_denominator
        share = pl.when(usable).then((pl.col("_num") * 100 / pl.col("_den")).round(1))
        columns.append(joined.select(share.cast(pl.Float64).alias(ratio.name)).to_series())
    return columns


@dataclass(frozen=True)
class Dominance:
    """What the dominance rule reads of a sum's cells: never published."""

    contributors: np.ndarray
    largest: np.ndarray
    second: np.ndarray


@dataclass(frozen=True)
class MeasureCounts:
    """One measure's complete table before protection: a cell per area and combination of
    its dimensions' values, finest areas first."""

    measure: Measure
    grid: pl.DataFrame  # gebiedscode and the measure's dimensions (String)
    values: np.ndarray
    hierarchies: tuple[Hierarchy, ...]
    unplaced: int  # distinct units whose address is not in the buurtindeling
    # Cell key method: per cell the sum of its contributors' record keys (else None).
    record_key_sums: np.ndarray | None = None
    dominance: Dominance | None = None  # a sum's contributors (None for a count)


@dataclass(frozen=True)
class MartCounts:
    """Every measure of one mart counted, not yet protected: never published as it is."""

    definition: MartDefinition
    peildatum: date
    geography: pl.DataFrame
    domains: Mapping[str, list[str]]
    measures: tuple[MeasureCounts, ...]


def count_mart(
    definition: MartDefinition,
    tables: Mapping[str, pl.DataFrame],
    peildatum: date,
    record_key: bytes | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    spill: Path | None = None,
) -> MartCounts:
    """Run the measure queries over the mart's allowed inputs and count distinct units over
    the full grid. A mart under the cell key method needs ``record_key``, the secret its
    units' record keys are derived under (``cellkey.record_keys``). ``con``: a
    ``counting_connection`` of these inputs to count in (left open); ``spill``: where the
    connection it opens otherwise may spill. Raises ``MartError`` for a bad definition or
    input."""
    if definition.protection == "cell_key" and record_key is None:
        raise MartError(f"{definition.name}: the cell key method needs the record key secret")
    own = con is None
    if con is None:
        con = counting_connection(definition, tables, peildatum, spill)
    counts, unplaced = {}, {}
    try:
        for measure in definition.measures:
            counts[measure.name], unplaced[measure.name] = _count_measure(
                con, definition, measure, record_key
            )
    finally:
        if own:
            con.close()
    geography = _geography(definition, tables[GEOGRAPHY_SOURCE])
    level_map = _level_map(definition, geography)
    domains = _domains(definition, counts)
    measures = []
    for measure in definition.measures:
        grid = _grid(geography, {d: domains[d] for d in measure.dimensions})
        rows = counts[measure.name]
        dominance = None
        if measure.kind == "sum":
            values, dominance = _magnitudes(definition, measure, rows, level_map, grid)
        else:
            values = _counts(definition, measure, rows, level_map, grid, "_n")
        measures.append(
            MeasureCounts(
                measure=measure,
                grid=grid,
                values=values,
                hierarchies=tuple(_hierarchies(definition, measure, geography, domains)),
                unplaced=unplaced[measure.name],
                record_key_sums=(
                    _counts(definition, measure, rows, level_map, grid, "_k")
                    if definition.protection == "cell_key"
                    else None
                ),
                dominance=dominance,
            )
        )
    return MartCounts(definition, peildatum, geography, domains, tuple(measures))


def assemble_mart(
    counts: MartCounts, suppressed: Sequence[np.ndarray], primary: Sequence[np.ndarray]
) -> MartTable:
    """The wide frame analysts read, with the hidden cells (per measure, in order) null."""
    definition, domains = counts.definition, counts.domains
    areas = counts.geography.select(LEVEL_COLUMN, CODE_COLUMN, NAME_COLUMN, PARENT_COLUMN)
    wide = areas.join(_grid(counts.geography, domains), on=CODE_COLUMN, maintain_order="right")
    stats = []
    for table, hidden_cells, primary_cells in zip(
        counts.measures, suppressed, primary, strict=True
    ):
        name = table.measure.name
        hidden = pl.Series(hidden_cells)
        published = table.grid.with_columns(
            pl.when(~hidden).then(pl.Series(table.values)).cast(pl.Int64).alias(name),
            hidden.alias(f"{name}{SECRET_SUFFIX}"),
        )
        wide = wide.join(
            _measure_cells(definition, table.measure, published),
            on=[CODE_COLUMN, *domains],
            how="left",
            maintain_order="left",
        )
        stats.append(
            MeasureStats(
                name=name,
                cells=table.grid.height,
                primary_suppressed=int(primary_cells.sum()),
                secondary_suppressed=int((hidden_cells & ~primary_cells).sum()),
                unplaced=table.unplaced,
                hidden_mass=int(table.values[hidden_cells].sum()),
                total_mass=int(table.values.sum()),
            )
        )
    wide = wide.with_columns(_ratio_columns(definition, wide))
    return MartTable(
        definition=definition,
        peildatum=counts.peildatum,
        frame=wide,
        geography=counts.geography,
        measures=tuple(stats),
    )
