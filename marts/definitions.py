"""Mart definitions: what a mart counts, for which purpose, from which inputs, read from TOML.

A mart is data, not code: a municipality adds or changes a mart by dropping a TOML file in
a definitions folder. The packaged defaults are the five marts of DESIGN.md and, beside
the incidents per buurt, the same incidents per wijk and month (linked tables).

A definition names its purpose (doelbinding) and the only sources and columns that purpose
allows (``[inputs]``). In the lake the BSN column of every person source is replaced by a
column ``pseudonym``, so that is the name an input lists; the flow maps it back to the
source's BSN column when it decides which delivered columns to keep.

Each ``[[measures]]`` entry holds a DuckDB query over the input views that yields one row
per contribution: ``unit_id`` (the thing counted: a pseudonym or a registratienummer), the
code column of the finest geography level (``buurtcode``, ``wijkcode`` or ``gemeentecode``;
NULL when the address cannot be placed) and one column per dimension of the measure.
Coarser levels, names and totals are derived by the build, never by the query, so totals
always equal the sum of their children. A measure of ``kind = "sum"`` (a magnitude, such as
an arrears amount in euro) also yields ``amount``: each cell then holds the sum of its
units' amounts in whole units, and is unsafe by the dominance rule (``dominance_p``, the p
of the p%-rule) or when it has fewer contributors than the minimum cell size.

Count cells are protected by suppression (``protection = "suppression"``, the default) or
by the cell key method (``protection = "cell_key"`` with a ``ptable``: every cell
perturbed, nothing hidden, see ``cellkey``). The mart's ``protection_level`` (default its
``min_cell_size``) is the margin every suppressed count cell keeps in the attacker's
interval, above and below its value. ``group_disclosure`` on a measure (the dimensions to
check) or on a ratio (default true) flags the cells in which a whole group shares the
sensitive value (``primary``).

Table designs (global recoding, ``design``): a mart may list ``[[designs]]``, finest first,
each a coarser version of the same table: the finest area level it publishes (``area``)
and, per dimension, ``"totaal"`` (only the total), ``"kwartaal"`` (months ``YYYY-MM`` to
quarters ``YYYY-K1``) or a grouping the dimension declares
(``[dimensions.<name>.groupings.<grouping>]``: group label = list of values). With
``max_hidden_share`` the build publishes the first design whose share of hidden cells is at
most that.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

PACKAGED_DEFINITIONS = Path(__file__).parent / "definitions"
NAME = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
TOTAL = "totaal"
UNKNOWN = "onbekend"
DEFAULT_MIN_CELL_SIZE = 10
PROTECTIONS = ("suppression", "cell_key")
MEASURE_KINDS = ("count", "sum")
DEFAULT_DOMINANCE_P = 10  # p%-rule: no contributor may be estimated closer than 10%
DEFAULT_MIN_DENOMINATOR = 100  # CBS practice: no share of a group smaller than 100

# The CBS hierarchy: level -> (code column, name column) in the geography source.
GEOGRAPHY_SOURCE = "buurtindeling"
GEOGRAPHY_LEVELS: Mapping[str, tuple[str, str | None]] = MappingProxyType(
    {
        "buurt": ("buurtcode", "buurtnaam"),
        "wijk": ("wijkcode", "wijknaam"),
        "gemeente": ("gemeentecode", None),
        # Not in the buurtindeling: the workspace adds it above gemeente when udc.toml
        # configures regios (``with_regio``), from their members.
        "regio": ("regiocode", "regionaam"),
    }
)
REGIO = "regio"
# Output columns the build adds; a dimension or measure may not take these names.
RESERVED = frozenset({"gebiedsniveau", "gebiedscode", "gebiedsnaam", "unit_id"})


class MartError(ValueError):
    """A mart definition is invalid, or a mart cannot be built from its inputs."""


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[str, ...] = ()
    # A non-additive dimension (a person can fall in several categories) gets no total
    # level: its categories do not sum to anything that could be published.
    additive: bool = True
    # Coarser classifications a design may choose: name -> (group label -> its values).
    groupings: Mapping[str, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    sql: str
    dimensions: tuple[str, ...]
    # "<mart>.<measure>": this measure counts the same units as that one, which has at
    # least these dimensions (its others at their total). An attacker who knows both marts
    # knows the two agree; the disclosure audit links their cells.
    same_as: str | None = None
    # Dimensions along which a category holding its group's whole total is unsafe: then
    # every unit of the group has that category, which discloses it for each of them.
    group_disclosure: tuple[str, ...] = ()
    # "count": distinct units per cell; "sum": the sum of the units' ``amount``.
    kind: str = "count"
    dominance_p: int = DEFAULT_DOMINANCE_P  # sums only


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator in percent (1 decimal), from published counts only."""

    name: str
    numerator: str
    denominator: str
    min_denominator: int = DEFAULT_MIN_DENOMINATOR
    # A numerator equal to its positive denominator says 100%: everyone in the group has
    # the numerator's property.
    group_disclosure: bool = True


COLLAPSE, QUARTERS = "totaal", "kwartaal"


@dataclass(frozen=True)
class Design:
    """A coarser version of a mart's table: its finest area level (None: the mart's own)
    and, per dimension, ``COLLAPSE``, ``QUARTERS`` or the name of one of its groupings."""

    name: str
    area: str | None = None
    coarsen: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MartDefinition:
    name: str
    title: str
    purpose: str
    inputs: Mapping[str, tuple[str, ...]]
    geography: tuple[str, ...]
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    ratios: tuple[Ratio, ...] = ()
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    # The margin every suppressed count cell keeps in the attacker's interval, above and
    # below its value; None means min_cell_size (resolved on construction, so always an int).
    protection_level: int | None = None
    # "suppression", or "cell_key": every cell perturbed by the p-table ``ptable`` (a file
    # ``<ptable>.toml`` in the workspace's config/ptables or marts/ptables), nothing hidden.
    protection: str = "suppression"
    ptable: str = "default"
    # Designs to choose from, finest first, and the hidden share the choice aims at.
    designs: tuple[Design, ...] = ()
    max_hidden_share: float | None = None
    # Set on a definition that ``design.apply_design`` derived: the design and the
    # definition it coarsens (whose fingerprints say which true values a table holds).
    design: Design | None = None
    base: MartDefinition | None = None

    def __post_init__(self) -> None:
        if self.protection_level is None:
            object.__setattr__(self, "protection_level", self.min_cell_size)

    @property
    def finest_code(self) -> str:
        return GEOGRAPHY_LEVELS[self.geography[0]][0]

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(name)

    def measure(self, name: str) -> Measure:
        for measure in self.measures:
            if measure.name == name:
                return measure
        raise KeyError(name)


def _strings(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MartError(f"{where} must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise MartError(f"{where} has duplicates")
    return tuple(value)


def _check_keys(where: str, raw: Mapping[str, object], allowed: Iterable[str]) -> None:
    unknown = set(raw) - set(allowed)
    if unknown:
        raise MartError(f"{where}: unknown setting(s) {sorted(unknown)}")


def _name(where: str, value: object) -> str:
    if not isinstance(value, str) or not NAME.match(value) or value in RESERVED:
        raise MartError(f"{where}: {value!r} must be lower-case letters, digits, _ (not reserved)")
    return value


def _positive_int(where: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MartError(f"{where} must be a positive integer")
    return value


def _dimensions(mart: str, raw: object) -> tuple[Dimension, ...]:
    if not isinstance(raw, dict):
        raise MartError(f"{mart}: [dimensions] must be a table of dimension tables")
    dimensions = []
    for name, settings in raw.items():
        where = f"{mart}.dimensions.{name}"
        _name(where, name)
        if not isinstance(settings, dict):
            raise MartError(f"{where} must be a table")
        _check_keys(where, settings, ("values", "additive", "groupings"))
        values = _strings(f"{where}.values", settings.get("values", []))
        if TOTAL in values:
            raise MartError(f"{where}: {TOTAL!r} is the total level, not a value")
        additive = settings.get("additive", True)
        if not isinstance(additive, bool):
            raise MartError(f"{where}.additive must be true or false")
        groupings = _groupings(where, settings.get("groupings", {}), values)
        dimensions.append(Dimension(name, values, additive, groupings))
    return tuple(dimensions)


def _groupings(
    where: str, raw: object, values: tuple[str, ...]
) -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    if not isinstance(raw, dict):
        raise MartError(f"{where}.groupings must be a table of groupings")
    found = {}
    for name, groups in raw.items():
        at = f"{where}.groupings.{name}"
        _name(at, name)
        if name in (COLLAPSE, QUARTERS):
            raise MartError(f"{at}: {name!r} is a built-in coarsening, not a grouping name")
        if not isinstance(groups, dict) or not groups:
            raise MartError(f"{at} must map each group label to its values")
        members: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        for label, grouped in groups.items():
            items = _strings(f"{at}.{label}", grouped)
            if label in (TOTAL, UNKNOWN) or not label:
                raise MartError(f"{at}: {label!r} cannot be a group label")
            if seen & set(items):
                raise MartError(f"{at}: a value is in two groups")
            if values and set(items) - set(values):
                raise MartError(f"{at}.{label}: {sorted(set(items) - set(values))} are not values")
            seen |= set(items)
            members[label] = items
        kept = [v for v in values if v not in seen]
        if set(kept) & set(members):
            raise MartError(f"{at}: a group label is also an ungrouped value")
        found[name] = MappingProxyType(members)
    return MappingProxyType(found)


def _measure(mart: str, raw: object, dimensions: Mapping[str, Dimension]) -> Measure:
    if not isinstance(raw, dict):
        raise MartError(f"{mart}: every [[measures]] entry must be a table")
    where = f"{mart}.measures.{raw.get('name', '?')}"
    _check_keys(
        where,
        raw,
        ("name", "unit", "sql", "dimensions", "same_as", "group_disclosure", "kind", "dominance_p"),
    )
    name = _name(where, raw.get("name"))
    unit, sql = raw.get("unit"), raw.get("sql")
    if not isinstance(unit, str) or not unit:
        raise MartError(f"{where}: needs a unit, e.g. 'personen'")
    if not isinstance(sql, str) or not sql.strip():
        raise MartError(f"{where}: needs a sql query")
    used = _strings(f"{where}.dimensions", raw.get("dimensions", []))
    for dimension in used:
        if dimension not in dimensions:
            raise MartError(f"{where}: dimension {dimension!r} is not declared")
    for dimension in set(dimensions) - set(used):
        # The measure is published on the rows where its missing dimensions are at their
        # total; a non-additive dimension has no total row to publish it on.
        if not dimensions[dimension].additive:
            raise MartError(f"{where}: must use the non-additive dimension {dimension!r}")
    same_as = raw.get("same_as")
    if same_as is not None and (not isinstance(same_as, str) or same_as.count(".") != 1):
        raise MartError(f"{where}.same_as must be '<mart>.<measure>'")
    group_disclosure = _strings(f"{where}.group_disclosure", raw.get("group_disclosure", []))
    for dimension in group_disclosure:
        if dimension not in used:
            raise MartError(f"{where}.group_disclosure: {dimension!r} is not a dimension of it")
        if not dimensions[dimension].additive:
            # Without a total there is no group whose whole a category could hold.
            raise MartError(f"{where}.group_disclosure: {dimension!r} is not additive")
    kind = raw.get("kind", "count")
    if kind not in MEASURE_KINDS:
        raise MartError(f"{where}.kind must be one of {list(MEASURE_KINDS)}")
    dominance_p = raw.get("dominance_p", DEFAULT_DOMINANCE_P)
    if kind == "count" and "dominance_p" in raw:
        raise MartError(f"{where}.dominance_p: the dominance rule is for kind = 'sum' only")
    if isinstance(dominance_p, bool) or not isinstance(dominance_p, int) or dominance_p >= 100:
        raise MartError(f"{where}.dominance_p must be a whole percentage from 1 to 99")
    if dominance_p < 1:
        raise MartError(f"{where}.dominance_p must be a whole percentage from 1 to 99")
    if kind == "sum" and (same_as is not None or group_disclosure):
        # Both are rules about counted units: a share of a group, units counted twice.
        raise MartError(f"{where}: same_as and group_disclosure are for counts, not sums")
    return Measure(name, unit, sql, used, same_as, group_disclosure, str(kind), dominance_p)


def _ratio(mart: str, raw: object, measures: Mapping[str, Measure]) -> Ratio:
    if not isinstance(raw, dict):
        raise MartError(f"{mart}: every [[ratios]] entry must be a table")
    where = f"{mart}.ratios.{raw.get('name', '?')}"
    _check_keys(
        where, raw, ("name", "numerator", "denominator", "min_denominator", "group_disclosure")
    )
    name = _name(where, raw.get("name"))
    numerator, denominator = raw.get("numerator"), raw.get("denominator")
    if numerator not in measures or denominator not in measures:
        raise MartError(f"{where}: numerator and denominator must be measures of this mart")
    if measures[numerator].kind != "count" or measures[denominator].kind != "count":
        raise MartError(f"{where}: a ratio is a share of counts; a sum is not one")
    if not set(measures[denominator].dimensions) <= set(measures[numerator].dimensions):
        raise MartError(f"{where}: the denominator's dimensions must be the numerator's")
    minimum = _positive_int(
        f"{where}.min_denominator", raw.get("min_denominator", DEFAULT_MIN_DENOMINATOR)
    )
    group_disclosure = raw.get("group_disclosure", True)
    if not isinstance(group_disclosure, bool):
        raise MartError(f"{where}.group_disclosure must be true or false")
    return Ratio(name, str(numerator), str(denominator), minimum, group_disclosure)


def _inputs(mart: str, raw: object, geography: tuple[str, ...]) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or not raw:
        raise MartError(f"{mart}: [inputs] must map each source to its allowed columns")
    inputs = {source: _strings(f"{mart}.inputs.{source}", cols) for source, cols in raw.items()}
    needed = {
        col for level in geography if level != REGIO for col in GEOGRAPHY_LEVELS[level] if col
    }
    missing = needed - set(inputs.get(GEOGRAPHY_SOURCE, ()))
    if missing:
        raise MartError(f"{mart}: the geography needs {GEOGRAPHY_SOURCE} columns {sorted(missing)}")
    return MappingProxyType(inputs)


def _geography(mart: str, raw: object) -> tuple[str, ...]:
    levels = _strings(f"{mart}.geography", raw)
    order = list(GEOGRAPHY_LEVELS)
    if not levels or any(level not in order for level in levels):
        raise MartError(f"{mart}.geography: levels must be among {order}")
    if [order.index(level) for level in levels] != sorted(order.index(lv) for lv in levels):
        raise MartError(f"{mart}.geography: list the levels from finest to coarsest")
    if REGIO in levels:
        raise MartError(
            f"{mart}.geography: {REGIO!r} is added to every mart when udc.toml configures "
            "[regios]; list the levels up to gemeente"
        )
    return levels


def with_regio(definition: MartDefinition) -> MartDefinition:
    """The definition in a regional workspace: its geography up to gemeente, then regio."""
    if definition.geography[-1] != "gemeente":
        return definition
    return replace(definition, geography=(*definition.geography, REGIO))


def definition_from_dict(raw: Mapping[str, object]) -> MartDefinition:
    name = _name("mart", raw.get("name"))
    _check_keys(
        name,
        raw,
        (
            "name", "title", "purpose", "min_cell_size", "geography",
            "inputs", "dimensions", "measures", "ratios",
            "protection_level", "protection", "ptable", "designs", "max_hidden_share",
        ),
    )  # fmt: skip
    purpose = raw.get("purpose")
    if not isinstance(purpose, str) or not NAME.match(purpose):
        raise MartError(f"{name}: needs a purpose id (lower-case letters, digits, _)")
    geography = _geography(name, raw.get("geography"))
    dimensions = _dimensions(name, raw.get("dimensions", {}))
    by_name = {d.name: d for d in dimensions}
    raw_measures = raw.get("measures")
    if not isinstance(raw_measures, list) or not raw_measures:
        raise MartError(f"{name}: needs at least one [[measures]] entry")
    measures = tuple(_measure(name, m, by_name) for m in raw_measures)
    measure_names = {m.name: m for m in measures}
    raw_ratios = raw.get("ratios", [])
    if not isinstance(raw_ratios, list):
        raise MartError(f"{name}: [[ratios]] must be a list of tables")
    ratios = tuple(_ratio(name, r, measure_names) for r in raw_ratios)
    columns = [d.name for d in dimensions] + [m.name for m in measures]
    columns += [f"{m.name}_geheim" for m in measures] + [r.name for r in ratios]
    if len(set(columns)) != len(columns):
        raise MartError(f"{name}: dimension, measure and ratio names must be unique")
    min_cell_size = _positive_int(
        f"{name}.min_cell_size", raw.get("min_cell_size", DEFAULT_MIN_CELL_SIZE)
    )
    protection_level = _positive_int(
        f"{name}.protection_level", raw.get("protection_level", min_cell_size)
    )
    protection = raw.get("protection", "suppression")
    if protection not in PROTECTIONS:
        raise MartError(f"{name}.protection must be one of {list(PROTECTIONS)}")
    ptable = raw.get("ptable", "default")
    if protection == "cell_key" and any(m.kind != "count" for m in measures):
        # The p-tables perturb counts; a magnitude needs noise scaled to its contributions.
        raise MartError(f"{name}: the cell key method protects counts only, not sums")
    if "ptable" in raw and protection != "cell_key":
        raise MartError(f"{name}.ptable: a p-table is for protection = 'cell_key' only")
    if not isinstance(ptable, str) or not NAME.match(ptable):
        raise MartError(f"{name}.ptable: {ptable!r} must be lower-case letters, digits, _")
    designs = _designs(name, raw.get("designs", []), geography, dimensions, measures)
    share = raw.get("max_hidden_share")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1
    ):
        raise MartError(f"{name}.max_hidden_share must be a fraction between 0 and 1")
    if share is not None and not designs:
        raise MartError(f"{name}.max_hidden_share chooses among [[designs]]; list them")
    return MartDefinition(
        name=name,
        title=str(raw.get("title", name)),
        purpose=purpose,
        inputs=_inputs(name, raw.get("inputs"), geography),
        geography=geography,
        dimensions=dimensions,
        measures=measures,
        ratios=ratios,
        min_cell_size=min_cell_size,
        protection_level=protection_level,
        protection=str(protection),
        ptable=ptable,
        designs=designs,
        max_hidden_share=None if share is None else float(share),
    )


def _designs(
    mart: str,
    raw: object,
    geography: tuple[str, ...],
    dimensions: tuple[Dimension, ...],
    measures: tuple[Measure, ...],
) -> tuple[Design, ...]:
    if not isinstance(raw, list):
        raise MartError(f"{mart}: [[designs]] must be a list of tables")
    by_name = {d.name: d for d in dimensions}
    # Cells another mart declares equal must be the same cells in both marts: a design may
    # publish fewer areas of a linked measure, or only its total along a dimension (the
    # other mart's total), but not other categories.
    linked = {d for m in measures if m.same_as for d in m.dimensions}
    designs = []
    for number, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise MartError(f"{mart}: every [[designs]] entry must be a table")
        name = _name(f"{mart}.designs[{number}]", entry.get("name"))
        where = f"{mart}.designs.{name}"
        area = entry.get("area")
        if area is not None and area not in geography:
            raise MartError(f"{where}.area must be one of the geography levels {list(geography)}")
        coarsen = {}
        for dimension, how in entry.items():
            if dimension in ("name", "area"):
                continue
            if dimension not in by_name:
                raise MartError(f"{where}: {dimension!r} is not a dimension of {mart}")
            known = (COLLAPSE, QUARTERS, *by_name[dimension].groupings)
            if how not in known:
                raise MartError(f"{where}.{dimension} must be one of {list(known)}")
            if how == COLLAPSE and not by_name[dimension].additive:
                raise MartError(f"{where}.{dimension}: a non-additive dimension has no total")
            if dimension in linked and how != COLLAPSE:
                raise MartError(
                    f"{where}.{dimension}: a measure declares its cells the same as another "
                    "mart's along it, so its categories must stay as they are (or go: totaal)"
                )
            coarsen[dimension] = str(how)
        designs.append(Design(name, area, MappingProxyType(coarsen)))
    if len({d.name for d in designs}) != len(designs):
        raise MartError(f"{mart}: design names must be unique")
    return tuple(designs)


def load_definition(path: Path) -> MartDefinition:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MartError(f"{path}: {exc}") from None
    return definition_from_dict(raw)


def load_definitions(*extra_folders: Path) -> dict[str, MartDefinition]:
    """The packaged definitions, then each folder in turn (a later one wins by name)."""
    definitions: dict[str, MartDefinition] = {}
    for folder in (PACKAGED_DEFINITIONS, *extra_folders):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                definition = load_definition(path)
                definitions[definition.name] = definition
    _check_links(definitions)
    return dict(sorted(definitions.items()))


def _check_links(definitions: Mapping[str, MartDefinition]) -> None:
    for definition in definitions.values():
        for measure in definition.measures:
            if measure.same_as is None:
                continue
            where = f"{definition.name}.measures.{measure.name}.same_as"
            mart, other = measure.same_as.split(".")
            target = definitions.get(mart)
            found = [m for m in target.measures if m.name == other] if target else []
            if not found:
                raise MartError(f"{where}: no mart measure {measure.same_as!r}")
            assert target is not None
            # A dimension only one of the two has is linked at its total (release_links).
            for owner, one, other in (
                (definition, measure, found[0]),
                (target, found[0], measure),
            ):
                for name in set(one.dimensions) - set(other.dimensions):
                    if not next(d for d in owner.dimensions if d.name == name).additive:
                        raise MartError(
                            f"{where}: {owner.name} counts along the non-additive dimension "
                            f"{name!r}, which the other lacks: no cell of the two is the same"
                        )
            for name in set(measure.dimensions) & set(found[0].dimensions):
                ours = next(d for d in definition.dimensions if d.name == name)
                theirs = next(d for d in target.dimensions if d.name == name)
                if (ours.values, ours.additive) != (theirs.values, theirs.additive):
                    raise MartError(
                        f"{where}: {definition.name} and {mart} must give {name!r} the same "
                        "categories, or their cells are not the same"
                    )
            for design in target.designs:
                regrouped = {
                    d for d, how in design.coarsen.items()
                    if how != COLLAPSE and d in measure.dimensions
                }  # fmt: skip
                if regrouped:
                    raise MartError(
                        f"{where}: design {design.name} of {mart} regroups "
                        f"{sorted(regrouped)}, along which this measure's cells are its cells"
                    )
            if target is not None and target.protection != definition.protection:
                # A perturbed twin of a hidden cell would publish it, give or take the noise.
                raise MartError(
                    f"{where}: {mart} is protected by {target.protection}, this mart by "
                    f"{definition.protection}; cells two marts share need the same protection"
                )
