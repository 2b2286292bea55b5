import datetime as dt

import pytest
import sqlalchemy as sa

from udc.catalog.store import Catalog, CatalogError, CheckRecord, KeyMismatchError

PEILDATUM = dt.date(2026, 11, 1)


def _delivery(catalog: Catalog, run_id: str, sha: str, status: str = "accepted") -> int:
    return catalog.add_delivery(
        run_id=run_id,
        source="brp",
        peildatum=PEILDATUM,
        file_name="brp_20261101.csv",
        sha256=sha,
        size_bytes=10,
        rows=5,
        rows_rejected=0,
        warnings=0,
        status=status,
    )


def test_migrations_create_every_table(database_url):
    catalog = Catalog(database_url)
    tables = set(sa.inspect(catalog.engine).get_table_names())
    assert {
        "runs",
        "deliveries",
        "quality_checks",
        "datasets",
        "lineage",
        "key_fingerprints",
        "alembic_version",
    } <= tables
    Catalog(database_url).close()  # a second open finds the schema current
    catalog.close()


def test_deliveries_replace_and_duplicates(database_url):
    catalog = Catalog(database_url)
    run_id = catalog.start_run(flow_run_id=None)
    first = _delivery(catalog, run_id, "a" * 64)
    second = _delivery(catalog, run_id, "b" * 64)
    catalog.supersede_earlier(second, "brp", PEILDATUM)
    statuses = {d.id: d.status for d in catalog.deliveries("brp")}
    assert statuses == {first: "replaced", second: "accepted"}
    assert [d.id for d in catalog.accepted_deliveries()] == [second]
    assert catalog.find_delivery("brp", "a" * 64).id == first
    assert catalog.find_delivery("brp", "c" * 64) is None
    assert catalog.find_delivery("wmo", "a" * 64) is None
    catalog.add_checks(second, 5, [CheckRecord("bsn_elfproef", "burgerservicenummer", "error", 2)])
    [check] = catalog.checks(second)
    assert (check.check_id, check.failed_count, check.rows) == ("bsn_elfproef", 2, 5)
    catalog.finish_run(run_id, "completed", {"deliveries": 2}, "f" * 16)
    [run] = catalog.runs()
    assert run.status == "completed" and run.finished_at is not None
    catalog.close()


def test_datasets_keep_lineage_and_supersede(database_url):
    catalog = Catalog(database_url)
    run_id = catalog.start_run(flow_run_id=None)
    delivery = _delivery(catalog, run_id, "a" * 64)
    old = catalog.add_dataset(
        run_id=run_id,
        kind="lake",
        name="brp",
        peildatum=PEILDATUM,
        path="lake/brp",
        rows=5,
        content_hash="1" * 64,
        deliveries=[delivery],
    )
    new = catalog.add_dataset(
        run_id=run_id,
        kind="lake",
        name="brp",
        peildatum=PEILDATUM,
        path="lake/brp",
        rows=4,
        content_hash="2" * 64,
        deliveries=[delivery],
        stats={"cells": 3},
    )
    assert [d.id for d in catalog.datasets("lake")] == [new]
    assert {d.id for d in catalog.datasets("lake", current_only=False)} == {old, new}
    assert [d.id for d in catalog.lineage(new)] == [delivery]
    catalog.close()


def test_a_different_key_is_refused(database_url):
    catalog = Catalog(database_url)
    catalog.check_key("koppeling", "0123456789abcdef")
    catalog.check_key("koppeling", "0123456789abcdef")
    with pytest.raises(KeyMismatchError, match="not the key this lake was built with"):
        catalog.check_key("koppeling", "fedcba9876543210")
    catalog.close()


def test_an_unreachable_database_gives_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot open the catalog database"):
        Catalog(f"sqlite:///{tmp_path / 'missing' / 'catalog.db'}")
