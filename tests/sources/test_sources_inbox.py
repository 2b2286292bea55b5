"""What the inbox holds: delivered files in order, their peildatum, names fit for logs."""

from __future__ import annotations

import datetime as dt

import pytest

from udc.sources.contracts import load_contracts
from udc.sources.inbox import gemeente_of_file, inbox_files, peildatum_of_file, safe_label
from udc.sources.reader import DeliveryRejected

TODAY = dt.date(2026, 12, 5)


def test_safe_label_masks_long_digit_runs_outside_contract_names():
    assert safe_label("brp_20261101.csv") == "brp_20261101.csv"
    assert safe_label("lijst 123456782.csv") == "lijst #.csv"
    # A path keeps the peildatum of a contract name and masks a stray number in a folder.
    assert safe_label("brp/brp_20261101.csv") == "brp/brp_20261101.csv"
    assert safe_label("123456782/brp_20261101.csv") == "#/brp_20261101.csv"


def test_inbox_files_come_oldest_peildatum_first_without_uploads_in_progress(tmp_path):
    for name in ("wmo/wmo_20261101.csv", "brp/brp_20261201.csv", "brp/brp_20261001.csv",
                 "brp/.brp_20261101.csv", ".upload/bijstand_20260901.csv"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = [str(p.relative_to(tmp_path)) for p in inbox_files(tmp_path)]
    assert found == ["brp/brp_20261001.csv", "wmo/wmo_20261101.csv", "brp/brp_20261201.csv"]
    assert inbox_files(tmp_path / "absent") == []


def test_the_peildatum_comes_from_the_file_name_and_may_not_lie_ahead():
    brp = load_contracts()["brp"]
    assert peildatum_of_file(brp, "brp_20261101.csv", TODAY) == dt.date(2026, 11, 1)
    for name, reason in (
        ("brp-november.csv", "the file name must be brp_YYYYMMDD.csv or"),
        ("brp_20261301.csv", "is not a date"),
        ("brp_20270101.csv", "lies in the future"),
    ):
        with pytest.raises(DeliveryRejected, match=reason):
            peildatum_of_file(brp, name, TODAY)


def test_a_file_name_may_name_its_gemeente():
    brp = load_contracts()["brp"]
    assert gemeente_of_file(brp, "brp_GM0200_20261101.csv") == "GM0200"
    assert gemeente_of_file(brp, "brp_0200_20261101.csv") == "GM0200"
    assert gemeente_of_file(brp, "brp_20261101.csv") is None
    assert peildatum_of_file(brp, "brp_GM0200_20261101.csv", TODAY) == dt.date(2026, 11, 1)
    with pytest.raises(DeliveryRejected, match=r"brp_GMnnnn_YYYYMMDD\.csv"):
        peildatum_of_file(brp, "brp_GM02_20261101.csv", TODAY)
    # The gemeente's digits are no BSN: the name stays readable in logs.
    assert safe_label("brp/brp_GM0200_20261101.csv") == "brp/brp_GM0200_20261101.csv"
    assert safe_label("brp/brp_0200_20261101.csv") == "brp/brp_0200_20261101.csv"
