"""Retention: what is kept until when, and deleting what has expired, on a real workspace
(SQLite and PostgreSQL catalog)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from test_workspace_ingest import _valid_bsns, bijstand, deliver

from udc.pseudonymize.hashing import holds_subject, subject_digest
from udc.workspace.ingest import process_delivery
from udc.workspace.retention import add_months, apply_retention, retention_plan


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2027, 12, 15), 2) == dt.date(2028, 2, 15)
    assert add_months(dt.date(2026, 11, 29), 0) == dt.date(2026, 11, 29)


def publish_twice(res) -> None:
    metadata = {
        "udc.purpose": "minimabeleid", "udc.peildatum": "2026-10-01", "udc.min_cell_size": 10,
        "udc.dimensions": [], "udc.measures": ["n"], "udc.deliveries": [],
        "udc.key_fingerprint": "f",
    }  # fmt: skip
    for n in (1, 2):
        res.store.publish("bijstand_buurt", pl.DataFrame({"n": [n]}), metadata)


def test_expired_items_are_deleted_logged_and_the_newest_lake_data_in_use_stay(res):
    run = res.catalog.start_run(None)
    first, second = _valid_bsns(20), _valid_bsns(25)
    for day, bsns in (("20261001", first), ("20261101", second)):
        path = deliver(res, "bijstand", f"bijstand_{day}.csv", bijstand(bsns))
        assert process_delivery(res, path, run).status.startswith("accepted")
    broken = deliver(res, "bijstand", "bijstand_20261015.csv", b"BSN;regeling\n1;2")
    assert process_delivery(res, broken, run).status == "quarantined"
    publish_twice(res)
    today = dt.date(2026, 11, 29)
    plan = retention_plan(res, today)
    assert sorted(k.kind for k in plan) == [
        "archive", "archive", "lake", "lake", "mart_release", "quarantine",
    ]  # fmt: skip
    assert not [k for k in plan if k.due <= today]
    (old_lake,) = [k for k in plan if k.kind == "lake" and k.since == dt.date(2026, 10, 1)]
    assert old_lake.due == dt.date(2028, 10, 1)  # the longest purpose using bijstand: 24
    assert apply_retention(res, "trace", today) == []

    later = dt.date(2029, 1, 1)
    spans = apply_retention(res, "trace", later)
    assert sorted(s.inputs[0].split(":")[0] for s in spans) == [
        "archive", "archive", "lake", "mart_release", "quarantine",
    ]  # fmt: skip
    assert {s.name for s in spans} == {"delete"} and all("retention ended" in s.message
                                                          for s in spans)  # fmt: skip
    assert not res.lake.path("bijstand", dt.date(2026, 10, 1)).exists()
    assert res.lake.path("bijstand", dt.date(2026, 11, 1)).exists()  # newest, in use
    assert list((res.workspace.quarantine / "bijstand").iterdir()) == []
    assert [r.release_id for r in res.store.releases("bijstand_buurt")] == [
        res.store.current("bijstand_buurt").release_id
    ]
    # The access-request index went with the lake data it described.
    key = res.log_subject_key()
    gone = subject_digest(first[0], key)
    assert res.catalog.deliveries_holding(lambda digests: holds_subject(digests, gone)) == []
    kept = subject_digest(second[0], key)
    assert len(res.catalog.deliveries_holding(lambda d: holds_subject(d, kept))) == 1


def test_a_source_no_purpose_uses_any_more_keeps_its_last_retention(res):
    run = res.catalog.start_run(None)
    path = deliver(res, "bijstand", "bijstand_20261001.csv", bijstand(_valid_bsns(20)))
    process_delivery(res, path, run)
    for purpose in ("minimabeleid", "stapeling_sociaal_domein", "datakwaliteit"):
        res.catalog.withdraw_purpose(purpose, by="fg", note="test")
    (lake,) = [k for k in retention_plan(res, dt.date(2026, 11, 29)) if k.kind == "lake"]
    assert lake.due == dt.date(2028, 10, 1)  # no longer "newest in use"


def test_a_source_contract_may_keep_its_raw_deliveries_shorter(res):
    import dataclasses

    res.contracts["bijstand"] = dataclasses.replace(res.contracts["bijstand"], archive_months=1)
    run = res.catalog.start_run(None)
    process_delivery(
        res, deliver(res, "bijstand", "bijstand_20261001.csv", bijstand(_valid_bsns(20))), run
    )
    (archive,) = [k for k in retention_plan(res, dt.date(2026, 11, 29)) if k.kind == "archive"]
    assert archive.due == add_months(archive.since, 1)
    assert "the bijstand contract's archive_months" in archive.reason
