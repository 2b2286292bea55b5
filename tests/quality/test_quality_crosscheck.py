from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import date

import polars as pl
import pytest

from udc.quality.crosscheck import (
    CrossCheckResult,
    pick_reference_peildatum,
    run_cross_check,
)
from udc.sources.contracts import PSEUDONYM, CrossCheck

PEILDATUM = date(2024, 6, 30)
BRP_PEILDATUM = date(2024, 6, 1)
IN_BRP = CrossCheck(
    id="ingeschreven_in_brp",
    columns=(PSEUDONYM,),
    reference="brp",
    reference_columns=(PSEUDONYM,),
    description="Cliënt staat ingeschreven in de BRP",
)
ADDRESS = CrossCheck(
    id="adres_in_buurtindeling",
    columns=("postcode", "huisnummer"),
    reference="buurtindeling",
    reference_columns=("postcode", "huisnummer"),
    description="Adres komt voor in de buurtindeling",
)


def _pseudonym(number: int) -> str:
    return hashlib.sha256(f"persoon-{number}".encode()).hexdigest()


def _run(frame, check, reference, reference_peildatum=BRP_PEILDATUM) -> CrossCheckResult:
    return run_cross_check(frame, check, reference, "bijstand", PEILDATUM, reference_peildatum)


def test_pseudonyms_not_in_the_reference_are_counted():
    brp = pl.DataFrame({PSEUDONYM: [_pseudonym(i) for i in range(10)], "gemeentecode": "0363"})
    clients = [_pseudonym(i) for i in (0, 1, 2, 2, 50, 51)] + [None, "  "]
    frame = pl.DataFrame({PSEUDONYM: clients, "uitkering": "x"})
    result = _run(frame, IN_BRP, brp)
    assert (result.rows, result.missing) == (6, 2)
    assert result.missing_share == pytest.approx(2 / 6)
    assert result.status == "findings"
    assert result.reference_peildatum == BRP_PEILDATUM
    assert result.note is None
    assert result.description == "Cliënt staat ingeschreven in de BRP"
    assert (result.source, result.peildatum, result.check_id) == (
        "bijstand",
        PEILDATUM,
        "ingeschreven_in_brp",
    )


def test_every_pseudonym_found_is_ok():
    brp = pl.DataFrame({PSEUDONYM: [_pseudonym(i) for i in range(5)]})
    frame = pl.DataFrame({PSEUDONYM: [_pseudonym(i) for i in (4, 3, 3)]})
    result = _run(frame, IN_BRP, brp)
    assert (result.rows, result.missing, result.status) == (3, 0, "ok")


def test_pseudonyms_differing_in_case_do_not_match():
    # A pseudonym is compared exactly: folding case would merge distinct hashes.
    brp = pl.DataFrame({PSEUDONYM: ["abcdef"]})
    frame = pl.DataFrame({PSEUDONYM: ["ABCDEF", " abcdef "]})
    assert _run(frame, IN_BRP, brp).missing == 1


def test_addresses_match_across_spelling_and_types():
    reference = pl.DataFrame(
        {
            "postcode": ["1234AB", "1234AB", "9999ZZ"],
            "huisnummer": pl.Series([7, 10, 1], dtype=pl.Int64),
            "buurtcode": ["BU03630000"] * 3,
        }
    )
    frame = pl.DataFrame(
        {
            "postcode": ["1234 ab", "1234AB", " 1234ab", "1234AB", "1234AB", None, "1111AA"],
            "huisnummer": ["07", "7", "010", "8", None, "7", "1"],
        }
    )
    result = run_cross_check(frame, ADDRESS, reference, "huurachterstand", PEILDATUM, PEILDATUM)
    # Rows with an empty key column are not counted; 1234AB 8 and 1111AA 1 are not found.
    assert (result.rows, result.missing, result.status) == (5, 2, "findings")


def test_a_text_reference_matches_an_integer_source():
    reference = pl.DataFrame({"postcode": ["1234 ab"], "huisnummer": ["0007"]})
    frame = pl.DataFrame({"postcode": ["1234AB"], "huisnummer": pl.Series([7], dtype=pl.Int64)})
    assert _run(frame, ADDRESS, reference).status == "ok"


def test_no_reference_delivery_is_not_checked():
    frame = pl.DataFrame({PSEUDONYM: [_pseudonym(1)]})
    result = _run(frame, IN_BRP, None, reference_peildatum=None)
    assert result.status == "not_checked"
    assert result.reference_peildatum is None
    assert (result.rows, result.missing, result.missing_share) == (0, 0, 0.0)
    assert result.note == "geen levering van brp op of voor de peildatum"


def test_a_column_missing_from_the_lake_is_not_checked():
    reference = pl.DataFrame({"postcode": ["1234AB"], "huisnummer": [7]})
    frame = pl.DataFrame({"huisnummer": ["7"]})
    result = _run(frame, ADDRESS, reference)
    assert result.status == "not_checked"
    assert result.reference_peildatum is None
    assert result.note == "kolom postcode is niet bewaard in het lake"

    frame = pl.DataFrame({"postcode": ["1234AB"], "huisnummer": ["7"]})
    result = _run(frame, ADDRESS, reference.drop("huisnummer", "postcode"))
    assert result.status == "not_checked"
    assert (
        result.note
        == "kolommen postcode, huisnummer van buurtindeling zijn niet bewaard in het lake"
    )


def test_results_hold_counts_never_key_values():
    brp = pl.DataFrame({PSEUDONYM: [_pseudonym(i) for i in range(3)]})
    clients = [_pseudonym(i) for i in (1, 77, 78)]
    result = _run(pl.DataFrame({PSEUDONYM: clients}), IN_BRP, brp)
    text = repr(result) + repr(asdict(result))
    for value in clients + brp[PSEUDONYM].to_list():
        assert value not in text
    addresses = pl.DataFrame({"postcode": ["4321XY"], "huisnummer": ["123"]})
    result = _run(addresses, ADDRESS, pl.DataFrame({"postcode": ["8765QR"], "huisnummer": ["9"]}))
    text = repr(result) + repr(asdict(result))
    assert result.missing == 1
    assert not any(value in text for value in ("4321", "XY", "123", "8765", "QR"))


def test_a_million_rows_are_checked():
    n = 1_000_000
    numbers = pl.int_range(0, n, eager=True)
    frame = pl.DataFrame({PSEUDONYM: numbers.cast(pl.String).str.zfill(64)})
    brp = frame.filter(numbers % 4 != 0)
    result = _run(frame, IN_BRP, brp)
    assert (result.rows, result.missing) == (n, n // 4)


def test_the_reference_is_the_latest_delivery_on_or_before_the_peildatum():
    days = [date(2024, 1, 1), date(2024, 6, 30), date(2024, 7, 1), date(2024, 3, 1)]
    assert pick_reference_peildatum(days, PEILDATUM) == date(2024, 6, 30)
    assert pick_reference_peildatum(days, date(2024, 2, 1)) == date(2024, 1, 1)
    assert pick_reference_peildatum(days, date(2023, 12, 31)) is None
    assert pick_reference_peildatum([], PEILDATUM) is None
