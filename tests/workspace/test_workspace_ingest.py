"""The delivery step as a plain function, on a SQLite and a PostgreSQL catalog."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from udc.catalog.store import KeyMismatchError
from udc.pseudonymize.hashing import pseudonym_of
from udc.sources.inbox import inbox_files
from udc.workspace.ingest import process_delivery
from udc.workspace.layout import Workspace
from udc.workspace.resources import init_workspace

HEADER = "BSN;regeling;leefvorm;ingangsdatum;einddatum;naam\n"


def bijstand(bsns: list[str], extra: str = "") -> bytes:
    rows = "".join(f"{b};PW;alleenstaand;20200101;;Jansen\n" for b in bsns)
    return (HEADER + rows + extra).encode()


def deliver(res, source: str, name: str, data: bytes) -> Path:
    path = res.settings.inbox / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_an_accepted_delivery_reaches_the_lake_pseudonymised_and_minimised(res):
    data = bijstand(_valid_bsns(60))
    path = deliver(res, "bijstand", "bijstand_20261001.csv", data)
    outcome = process_delivery(res, path, res.catalog.start_run(None))
    assert outcome.status in ("accepted", "accepted_with_warnings")
    assert outcome.rows == 60 and outcome.rows_rejected == 0
    assert not path.exists()
    lake = res.lake.read("bijstand", dt.date(2026, 10, 1))
    assert "bsn" not in lake.columns and "naam" not in lake.columns
    assert set(lake["pseudonym"]) == {pseudonym_of(b, res.link_key()) for b in _valid_bsns(60)}
    assert lake.schema["ingangsdatum"] == pl.Date
    [delivery] = res.catalog.deliveries("bijstand")
    assert delivery.status == outcome.status and delivery.sha256 and delivery.rows == 60
    assert Path(delivery.stored_path).read_bytes() != data
    assert (res.workspace.feedback / "bijstand" / "bijstand_20261001.html").is_file()
    [dataset] = res.catalog.datasets("lake", "bijstand")
    assert [d.id for d in res.catalog.lineage(dataset.id)] == [delivery.id]


def test_same_bytes_are_a_no_op_and_new_bytes_replace(res):
    run_id = res.catalog.start_run(None)
    first = bijstand(_valid_bsns(40))
    process_delivery(res, deliver(res, "bijstand", "bijstand_20261001.csv", first), run_id)
    again = process_delivery(res, deliver(res, "bijstand", "bijstand_20261001.csv", first), run_id)
    assert again.status == "duplicate"
    assert len(res.catalog.deliveries("bijstand")) == 1
    second = bijstand(_valid_bsns(41))
    process_delivery(res, deliver(res, "bijstand", "bijstand_20261001.csv", second), run_id)
    statuses = [d.status for d in res.catalog.deliveries("bijstand")]
    assert statuses[0] == "replaced" and statuses[1].startswith("accepted")
    assert res.lake.read("bijstand", dt.date(2026, 10, 1)).height == 41


def test_broken_deliveries_are_quarantined_byte_for_byte(res):
    run_id = res.catalog.start_run(None)
    cases = {
        ("bijstand", "bijstand_20261001.csv"): bijstand(_valid_bsns(30), "123456782;PW\n"),
        ("bijstand", "bijstand_20261002.csv"): bijstand(_valid_bsns(30) + ["123456789"] * 3),
        ("bijstand", "bijstand-oktober.csv"): bijstand(_valid_bsns(30)),
        ("bijstand", "bijstand_20991231.csv"): bijstand(_valid_bsns(30)),
        ("kadaster", "kadaster_20261001.csv"): b"a;b\n1;2\n",
    }
    for (source, name), data in cases.items():
        outcome = process_delivery(res, deliver(res, source, name, data), run_id)
        assert outcome.status == "quarantined", (name, outcome)
        assert "123456782" not in outcome.message
        stored = res.workspace.quarantine / source / name
        assert stored.read_bytes() == data
        assert "reason:" in stored.with_name(f"{name}.reason.txt").read_text()
    assert not inbox_files(res.settings.inbox)
    assert not list(res.workspace.lake.glob("*/*/*.parquet"))
    feedback = list((res.workspace.feedback / "bijstand").glob("*.html"))
    assert len(feedback) >= 3


def test_a_different_master_key_is_refused(res):
    res.check_key()
    (res.workspace.keys / "master.key").write_bytes(b"\x01" * 32)
    with pytest.raises(KeyMismatchError, match="not the key this lake was built with"):
        res.check_key()


def test_init_refuses_to_overwrite_keys(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    init_workspace(workspace)
    master = (workspace.keys / "master.key").read_bytes()
    with pytest.raises(Exception, match="never overwrites a key"):
        init_workspace(workspace)
    assert (workspace.keys / "master.key").read_bytes() == master
    assert (workspace.keys / "master.key").stat().st_mode & 0o777 == 0o600


def _valid_bsns(n: int) -> list[str]:
    import numpy as np

    from udc.pseudonymize.bsn import random_valid_bsns

    return [str(b) for b in random_valid_bsns(np.random.default_rng(n), n)]


def test_one_run_at_a_time_per_workspace(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    workspace.create_folders()
    with workspace.exclusive() as first:
        assert first
        with workspace.exclusive() as second:
            assert not second
    with workspace.exclusive() as again:
        assert again


def test_a_source_no_approved_purpose_uses_is_kept_but_loaded_nowhere(res):
    for purpose in ("minimabeleid", "stapeling_sociaal_domein", "datakwaliteit"):
        res.catalog.withdraw_purpose(purpose, by="fg", note="test")
    data = bijstand(_valid_bsns(20))
    path = deliver(res, "bijstand", "bijstand_20261001.csv", data)
    outcome = process_delivery(res, path, res.catalog.start_run(None))
    assert outcome.status == "quarantined"
    assert "no approved purpose in force uses source 'bijstand'" in outcome.message
    assert not res.lake.path("bijstand", dt.date(2026, 10, 1)).exists()
    kept = res.workspace.quarantine / "bijstand" / "bijstand_20261001.csv"
    assert kept.read_bytes() == data


def test_the_lake_keeps_only_the_columns_purposes_in_force_allow(res):
    # Only minimabeleid reads the leefvorm; stapeling and data quality need the rest.
    res.catalog.withdraw_purpose("minimabeleid", by="fg", note="test")
    data = bijstand(_valid_bsns(20))
    path = deliver(res, "bijstand", "bijstand_20261001.csv", data)
    process_delivery(res, path, res.catalog.start_run(None))
    lake = res.lake.read("bijstand", dt.date(2026, 10, 1))
    assert set(lake.columns) == {"pseudonym", "ingangsdatum", "einddatum", "line_number"}


def test_an_access_request_finds_the_deliveries_that_held_a_person(res):
    from typer.testing import CliRunner

    from udc.flows.cli import app
    from udc.workspace.logbook import record_run

    bsns = _valid_bsns(30)
    run_id = res.catalog.start_run(None)
    outcome = process_delivery(res, deliver(res, "bijstand", "bijstand_20261001.csv",
                                            bijstand(bsns)), run_id)  # fmt: skip
    record_run(res, run_id, None, [outcome.to_dict()], [])
    runner = CliRunner()
    found = runner.invoke(
        app, ["log", "subject", "--workspace", str(res.workspace.root)], input=f"{bsns[4]}\n"
    )
    assert found.exit_code == 0, found.output
    assert "Deliveries that held this person" in found.output and "20261001" in found.output
    assert "minimabeleid@" in found.output and "load" in found.output
    assert bsns[4] not in found.output
    other = _valid_bsns(31)[-1]
    assert other not in bsns
    absent = runner.invoke(
        app, ["log", "subject", "--workspace", str(res.workspace.root)], input=f"{other}\n"
    )
    assert absent.exit_code == 0 and "No loaded delivery holds this person" in absent.output
    wrong = runner.invoke(
        app, ["log", "subject", "--workspace", str(res.workspace.root)], input="123456789\n"
    )
    assert wrong.exit_code == 2 and "not a valid BSN" in wrong.output
    assert "123456789" not in wrong.output.replace("BSN: ", "")
