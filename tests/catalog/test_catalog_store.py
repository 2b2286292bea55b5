import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from udc.catalog.store import (
    MIGRATIONS,
    Catalog,
    CatalogError,
    CheckRecord,
    KeyMismatchError,
    make_engine,
)
from udc.quality.crosscheck import CrossCheckResult

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


def _cross_check(source: str, check_id: str, rows: int, missing: int, **extra) -> CrossCheckResult:
    fields = {
        "source": source,
        "peildatum": PEILDATUM,
        "check_id": check_id,
        "reference": "brp",
        "reference_peildatum": dt.date(2026, 10, 1),
        "columns": ("pseudonym",),
        "rows": rows,
        "missing": missing,
        "description": "Cliënt staat ingeschreven in de BRP",
    }
    return CrossCheckResult(**{**fields, **extra})


def test_cross_checks_are_stored_with_run_and_delivery(database_url):
    catalog = Catalog(database_url)
    run_id = catalog.start_run(flow_run_id=None)
    delivery = _delivery(catalog, run_id, "a" * 64)
    results = [
        _cross_check("brp", "adres_in_buurtindeling", 5, 1, reference="buurtindeling"),
        _cross_check("wmo", "ingeschreven_in_brp", 40, 0),
        _cross_check(
            "wmo",
            "adres_in_buurtindeling",
            0,
            0,
            reference="buurtindeling",
            reference_peildatum=None,
            note="geen levering van buurtindeling op of voor de peildatum",
        ),
    ]
    catalog.add_cross_checks(run_id, results, {("brp", PEILDATUM): delivery})
    stored = catalog.cross_checks()
    assert [(r.source, r.check_id, r.rows, r.missing, r.status) for r in stored] == [
        ("brp", "adres_in_buurtindeling", 5, 1, "findings"),
        ("wmo", "ingeschreven_in_brp", 40, 0, "ok"),
        ("wmo", "adres_in_buurtindeling", 0, 0, "not_checked"),
    ]
    assert [r.delivery_id for r in stored] == [delivery, None, None]
    assert {r.run_id for r in stored} == {run_id}
    assert [r.reference_peildatum for r in stored] == [dt.date(2026, 10, 1)] * 2 + [None]
    assert all(r.peildatum == PEILDATUM and r.created_at is not None for r in stored)
    assert [r.check_id for r in catalog.cross_checks(source="wmo")] == [
        "ingeschreven_in_brp",
        "adres_in_buurtindeling",
    ]
    assert len(catalog.cross_checks(source="wmo", peildatum=PEILDATUM)) == 2
    assert catalog.cross_checks(peildatum=dt.date(2026, 12, 1)) == []
    assert catalog.cross_checks(source="bijstand") == []
    catalog.close()


def test_cross_checks_need_no_run_or_delivery(database_url):
    catalog = Catalog(database_url)
    catalog.add_cross_checks(None, [_cross_check("wmo", "ingeschreven_in_brp", 3, 3)])
    catalog.add_cross_checks(None, [])
    [record] = catalog.cross_checks("wmo")
    assert (record.run_id, record.delivery_id, record.status) == (None, None, "findings")
    catalog.close()


def _catalog_at(database_url: str, revision: str) -> sa.Engine:
    """A catalog database as udc at migration ``revision`` left it."""
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def test_an_existing_0001_catalog_is_upgraded(database_url):
    engine = _catalog_at(database_url, "0001")
    with engine.begin() as connection:
        assert "cross_checks" not in sa.inspect(connection).get_table_names()
        connection.execute(
            sa.text(
                "INSERT INTO runs (id, started_at, status) "
                "VALUES ('00000000-0000-0000-0000-000000000001', :now, 'completed')"
            ),
            {"now": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO deliveries (id, source, file_name, sha256, size_bytes, status, "
                "received_at) VALUES (1, 'wmo', 'wmo_20261101.csv', :sha, 10, 'accepted', :now)"
            ),
            {"sha": "b" * 64, "now": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO quality_checks (delivery_id, check_id, severity, failed_count, rows) "
                "VALUES (1, 'bsn.valid_bsn', 'error', 3, 10), (1, 'bsn.unique', 'error', 0, 10)"
            )
        )
    engine.dispose()

    catalog = Catalog(database_url)
    with catalog.engine.connect() as connection:
        assert "cross_checks" in sa.inspect(connection).get_table_names()
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0009"
    held = {c.check_id: c.passed for c in catalog.checks(1)}
    assert held == {"bsn.valid_bsn": False, "bsn.unique": True}
    [run] = catalog.runs()
    assert run.status == "completed"
    catalog.add_cross_checks(run.id, [_cross_check("wmo", "ingeschreven_in_brp", 2, 1)])
    assert [r.run_id for r in catalog.cross_checks()] == [run.id]
    catalog.close()


def test_an_audit_recorded_before_group_disclosure_was_checked_survives_the_upgrade(
    database_url,
):
    engine = _catalog_at(database_url, "0004")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO disclosure_audits (mart, release_id, measure, cells, suppressed, "
                "exact, too_narrow, required_width, min_width, audited_at) VALUES "
                "('bevolking_buurt', 'r1', 'personen', 90, 12, 0, 0, 10, 14.0, :now)"
            ),
            {"now": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
    engine.dispose()
    catalog = Catalog(database_url)
    [old] = catalog.latest_audits("bevolking_buurt", "r1")
    assert (old.suppressed, old.min_width, old.whole_groups) == (12, 14.0, None)
    catalog.add_audits(
        [
            {"mart": "bevolking_buurt", "release_id": "r1", "measure": "personen", "cells": 90,
             "suppressed": 12, "exact": 0, "too_narrow": 0, "whole_groups": 0,
             "required_width": 10, "min_width": 14.0}
        ]
    )  # fmt: skip
    [new] = catalog.latest_audits("bevolking_buurt", "r1")
    assert new.whole_groups == 0
    catalog.close()


def test_the_migrations_build_exactly_the_models(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from udc.catalog.models import Base

    catalog = Catalog(database_url)
    with catalog.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    catalog.close()
    assert differences == []


def test_a_check_about_the_whole_delivery_keeps_its_outcome(database_url):
    catalog = Catalog(database_url)
    run_id = catalog.start_run(None)
    delivery_id = catalog.add_delivery(
        run_id=run_id,
        source="brp",
        peildatum=dt.date(2026, 11, 1),
        file_name="brp_20261101.csv",
        sha256="a" * 64,
        size_bytes=10,
        rows=5,
        status="quarantined",
    )
    catalog.add_checks(
        delivery_id,
        5,
        [
            CheckRecord("rows.change", None, "error", 0, False, False, "Te weinig regels."),
            CheckRecord("bsn.valid_bsn", "bsn", "error", 0),
        ],
    )
    checks = {c.check_id: c for c in catalog.checks(delivery_id)}
    assert (checks["rows.change"].passed, checks["rows.change"].row_level) == (False, False)
    assert checks["rows.change"].description == "Te weinig regels."
    assert checks["bsn.valid_bsn"].passed is True
    catalog.close()


def test_the_latest_disclosure_audit_of_a_release_is_kept_per_measure(database_url):
    catalog = Catalog(database_url)
    record = {
        "mart": "bijstand_buurt",
        "release_id": "20261101-abc",
        "measure": "ontvangers",
        "cells": 100,
        "suppressed": 20,
        "exact": 1,
        "too_narrow": 3,
        "required_width": 10,
        "min_width": 0.0,
    }
    catalog.add_audits([record, record | {"measure": "inwoners", "min_width": None}])
    catalog.add_audits([record | {"exact": 0, "too_narrow": 0, "min_width": 12.0}])
    catalog.add_audits([record | {"release_id": "20261001-old", "exact": 5}])
    latest = {a.measure: a for a in catalog.latest_audits("bijstand_buurt", "20261101-abc")}
    assert (latest["ontvangers"].exact, latest["ontvangers"].min_width) == (0, 12.0)
    assert latest["inwoners"].min_width is None
    assert catalog.latest_audits("wmo_wijk", "20261101-abc") == []
    catalog.close()
