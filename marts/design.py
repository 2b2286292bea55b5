"""Table designs chosen against suppression (global recoding).

Statistical offices do not publish a table that hides most of its cells: they choose a
design whose cells are big enough (quarters instead of months, wijken instead of small
buurten, grouped classes). A mart lists its designs finest first (``definitions``); each
is applied to the mart's definition (``apply_design``): the measure queries are wrapped so
that they yield the coarser areas and categories, and the build counts distinct units in
those cells as it counts any mart. ``choose_designs`` then takes, per mart, the first
design whose hidden share meets the mart's ``max_hidden_share``:

- a design whose primary cells alone exceed the target is passed over without protecting
  it (hidden cells are primary cells plus complements);
- the others are protected on their own, finest first, until one meets the target;
- when none does, the coarsest is published, and the choice says the target was missed.

A design never weakens protection: the chosen designs are protected together and audited
like any release. One release publishes one design per mart; an earlier release of the
same values fixes the design (``forced``), or the two designs together would be linked
tables that neither protection saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from udc.marts.build import MartCounts
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
from udc.marts.release import protection_table


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


def apply_design(definition: MartDefinition, design: Design) -> MartDefinition:
    """The definition of ``definition`` published in ``design``: same name, purpose and
    inputs; coarser areas and categories."""
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
    measures = tuple(
        _measure(definition, measure, design, fine_code, code, collapsed)
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
    sql = measure.sql.strip().rstrip(";")
    wrapped = f"SELECT {', '.join(columns)} FROM (\n{sql}\n) AS fine {join}"
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


@dataclass(frozen=True)
class DesignChoice:
    """Which design a mart is published in, and why: per design tried, its hidden share
    (primary cells only where those alone exceed the target) and what was found."""

    mart: str
    design: str | None  # None: the mart lists no designs
    target: float | None
    hidden_share: float | None  # of the design as protected alone (None: not protected)
    met: bool
    tried: tuple[tuple[str, float, str], ...] = ()

    def to_dict(self) -> dict:
        return {
            "design": self.design,
            "target": self.target,
            "hidden_share_alone": self.hidden_share,
            "target_met": self.met,
            "tried": [{"design": d, "share": s, "found": f} for d, s, f in self.tried],
        }


def primary_share(counts: MartCounts) -> float:
    """The share of cells the primary rules hide (a floor under the hidden share)."""
    primary = sum(int(protection_table(counts, t).primary.sum()) for t in counts.measures)
    cells = sum(len(t.values) for t in counts.measures)
    return primary / cells if cells else 0.0


def choose_designs(
    candidates: Sequence[Sequence[MartCounts]],
    protect_alone,
    forced: Mapping[str, str] | None = None,
) -> tuple[list[MartCounts], list[DesignChoice]]:
    """Per mart, the counts of the design to publish (see the module's rules).
    ``candidates``: per mart, its designs counted, finest first. ``protect_alone(counts)``
    gives the hidden share of one mart protected on its own. ``forced``: mart -> the design
    an earlier release of the same values was published in."""
    forced = forced or {}
    chosen, choices = [], []
    for designs in candidates:
        first = designs[0].definition
        name = first.name
        if first.design is None:
            chosen.append(designs[0])
            choices.append(DesignChoice(name, None, None, None, True))
            continue
        by_name = {c.definition.design.name: c for c in designs}  # type: ignore[union-attr]
        if name in forced:
            if forced[name] not in by_name:
                raise MartError(
                    f"{name}: an earlier release of the same values was published in design "
                    f"{forced[name]}, which the definition no longer lists; a release in "
                    "another design would publish both"
                )
            chosen.append(by_name[forced[name]])
            choices.append(
                DesignChoice(name, forced[name], first.max_hidden_share, None, True,
                             ((forced[name], 0.0, "as the earlier release of these values"),))
            )  # fmt: skip
            continue
        target = first.max_hidden_share
        tried: list[tuple[str, float, str]] = []
        pick, share, met = designs[-1], None, False
        for counts in designs:
            design = counts.definition.design
            assert design is not None
            if target is None or counts.definition.protection == "cell_key":
                pick, met = counts, True
                break
            floor = primary_share(counts)
            if floor > target:
                tried.append((design.name, round(floor, 4), "primary cells exceed the target"))
                continue
            alone = protect_alone(counts)
            tried.append((design.name, round(alone, 4), "protected alone"))
            if alone <= target:
                pick, share, met = counts, alone, True
                break
            if counts is designs[-1]:
                share = alone
        design = pick.definition.design
        assert design is not None
        chosen.append(pick)
        choices.append(DesignChoice(name, design.name, target, share, met, tuple(tried)))
    return chosen, choices
