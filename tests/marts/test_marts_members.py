"""Several municipalities in one mart: each member counted from its own deliveries, its
cells tied across releases by its own fingerprint, its areas found by their CBS codes."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from udc.marts import build
from udc.marts.audit import AuditInput, combined_view
from udc.marts.build import (
    measure_fingerprints,
    member_connection,
    member_of_area,
    tied_members,
)
from udc.marts.definitions import MartError, definition_from_dict, with_regio
from udc.marts.design import count_designs

PEILDATUM = dt.date(2026, 11, 1)
MART = with_regio(
    definition_from_dict(
        {
            "name": "inwoners_buurt",
            "purpose": "kerncijfers_bevolking",
            "geography": ["buurt", "wijk", "gemeente"],
            "inputs": {
                "brp": ["pseudonym", "postcode", "huisnummer"],
                "buurtindeling": [
                    "postcode", "huisnummer", "buurtcode", "buurtnaam", "wijkcode", "wijknaam",
                    "gemeentecode",
                ],
            },
            "measures": [
                {
                    "name": "personen",
                    "unit": "personen",
                    "sql": "SELECT p.pseudonym AS unit_id, b.buurtcode FROM brp AS p "
                    "LEFT JOIN buurtindeling AS b USING (postcode, huisnummer)",
                }
            ],
        }
    )
)  # fmt: skip


def member(gemeente: str, residents: int, regio: str | None = "RG0001") -> dict:
    digits = gemeente[2:]
    buurten = pl.DataFrame(
        {
            "postcode": [f"{digits}AA", f"{digits}AB"],
            "huisnummer": [1, 1],
            "buurtcode": [f"BU{digits}0101", f"BU{digits}0102"],
            "buurtnaam": ["Noord", "Zuid"],
            "wijkcode": [f"WK{digits}01"] * 2,
            "wijknaam": ["Centrum"] * 2,
            "gemeentecode": [gemeente] * 2,
            "regiocode": [regio] * 2,
            "regionaam": ["Regio Oost" if regio else None] * 2,
        },
        schema_overrides={"regiocode": pl.String, "regionaam": pl.String},
    )
    brp = pl.DataFrame(
        {
            "pseudonym": [f"{gemeente}-{i}" for i in range(residents)],
            "postcode": [f"{digits}A{'AB'[i % 2]}" for i in range(residents)],
            "huisnummer": [1] * residents,
        }
    )
    return {"brp": brp, "buurtindeling": buurten}


def counted(members: list[dict]) -> dict[str, int]:
    counts = count_designs(MART, members, PEILDATUM)
    try:
        (table,) = counts[0].measures
        return dict(zip(table.grid["gebiedscode"], table.values.tolist(), strict=True))
    finally:
        counts.close()


def test_each_member_is_counted_from_its_own_deliveries_and_the_regio_is_their_sum():
    one, two = member("GM0101", 30), member("GM0102", 50)
    cells = counted([one, two])
    assert cells["GM0101"] == 30 and cells["GM0102"] == 50 and cells["RG0001"] == 80
    assert cells["BU01010101"] == 15 and cells["WK010201"] == 50
    # A member's cells do not change when another member's data do.
    again = counted([one, member("GM0102", 70)])
    ones = [k for k in cells if member_of_area(k) == "GM0101"]
    assert len(ones) == 4 and all(again[k] == cells[k] for k in ones)
    assert again["RG0001"] == 100


def test_a_gemeente_without_a_published_regio_has_no_regio_row():
    cells = counted([member("GM0101", 30, regio=None), member("GM0102", 50, regio=None)])
    assert "RG0001" not in cells and cells["GM0102"] == 50


def test_a_buurtcode_outside_its_gemeente_is_refused():
    stray = member("GM0101", 30)
    stray["buurtindeling"] = stray["buurtindeling"].with_columns(
        pl.lit("BU09990101").alias("buurtcode")
    )
    with pytest.raises(MartError, match="do not start with the digits of their gemeentecode"):
        member_connection(MART, [stray], PEILDATUM)


def test_fingerprints_tie_a_member_across_releases_by_its_own_deliveries():
    partial = ["brp@GM0101:20261101:aa", "buurtindeling@GM0101:20261001:bb"]
    full = [*partial, "brp@GM0102:20261101:cc", "buurtindeling@GM0102:20261001:dd"]
    ours, theirs = measure_fingerprints(MART, full), measure_fingerprints(MART, partial)
    assert set(ours) == {"personen", "personen@GM0101", "personen@GM0102"}
    assert tied_members(ours, theirs, "personen") == frozenset({"GM0101"})
    assert tied_members(ours, ours, "personen") is None
    other = measure_fingerprints(MART, ["brp@GM0101:20261101:ee", *partial[1:]])
    assert tied_members(ours, other, "personen") == frozenset()
    # A workspace of one municipality has one fingerprint per measure, as before.
    assert set(measure_fingerprints(MART, ["brp:20261101:aa"])) == {"personen"}
    assert member_of_area("BU01010101") == member_of_area("WK010101") == "GM0101"
    assert member_of_area("GM0101") == "GM0101" and member_of_area("RG0001") is None


def _frame(values: dict[str, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "gebiedsniveau": ["buurt"] * len(values),
            "gebiedscode": list(values),
            "personen": list(values.values()),
            "personen_geheim": [v is None for v in values.values()],
        },
        schema_overrides={"personen": pl.Int64},
    )


def test_an_earlier_release_reveals_only_the_cells_of_the_members_it_shares():
    def release(frame, fingerprints):
        return AuditInput("m", frame, [], ["personen"], 10, fingerprints=fingerprints)

    now = release(
        _frame({"BU01010101": None, "BU01020101": None}),
        {"personen": "x", "personen@GM0101": "a", "personen@GM0102": "b"},
    )
    before = release(
        _frame({"BU01010101": 12, "BU01020101": 14}),
        {"personen": "y", "personen@GM0101": "a", "personen@GM0102": "old"},
    )
    seen = combined_view(now, [before]).frame
    assert seen["personen"].to_list() == [12, None]
    assert seen["personen_geheim"].to_list() == [False, True]


def test_members_are_read_one_at_a_time_and_counted_partly_on_disk(tmp_path, monkeypatch):
    """A country's inputs and per-person tables do not fit in memory at once: each member
    is read only when the one before it is counted, and the connection's tables go to the
    spill folder beyond its memory, with the same counts."""
    sizes = {"GM0101": 120_000, "GM0102": 80_000}
    log = []
    register = build._register_inputs

    def registering(con, definition, tables):
        log.append(("counted", tables["buurtindeling"]["gemeentecode"][0]))
        register(con, definition, tables)

    def lazily():
        for code, residents in sizes.items():
            log.append(("read", code))
            yield member(code, residents)

    monkeypatch.setattr(build, "_register_inputs", registering)
    monkeypatch.setattr(build, "COUNTING_MEMORY", "32MB")
    spill = tmp_path / "spill"
    counts = count_designs(MART, lazily(), PEILDATUM, spill=spill)
    try:
        assert log == [("read", "GM0101"), ("counted", "GM0101"),
                       ("read", "GM0102"), ("counted", "GM0102")]  # fmt: skip
        (folder,) = spill.iterdir()
        assert sum(f.stat().st_size for f in folder.iterdir()) > 100_000
        (table,) = counts[0].measures
        cells = dict(zip(table.grid["gebiedscode"], table.values.tolist(), strict=True))
    finally:
        counts.close()
    assert list(spill.iterdir()) == []
    assert cells == counted([member(code, residents) for code, residents in sizes.items()])
    assert cells["RG0001"] == 200_000
