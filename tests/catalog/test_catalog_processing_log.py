"""The processing log on SQLite and PostgreSQL: appended, checkpointed, verified, and
tampered with in every way the issue names."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from udc.catalog.processing_log import ProcessingLog, Span
from udc.catalog.store import Catalog

T0 = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def spans(trace: str, n: int, source: str = "bijstand") -> list[Span]:
    return [
        Span(
            trace_id=trace,
            name="load",
            started_at=T0 + dt.timedelta(seconds=i),
            ended_at=T0 + dt.timedelta(seconds=i + 1),
            status="ok",
            purposes=("minimabeleid@2",),
            source=source,
            inputs=(f"delivery:{i}:{'a' * 64}",),
            outputs=(f"lake:{source}:20261101:{'b' * 64}",),
            rows=100 + i,
            key_fingerprint="f" * 16,
        )
        for i in range(n)
    ]


@pytest.fixture
def log(database_url):
    catalog = Catalog(database_url)
    yield ProcessingLog(catalog)
    catalog.close()


def logged(log: ProcessingLog, runs: int = 3, per_run: int = 4) -> None:
    for run in range(runs):
        log.append(spans(f"run-{run}", per_run))
        log.checkpoint(KEY, f"run-{run}")


def sql(log: ProcessingLog, statement: str, **values) -> None:
    with log.catalog.engine.begin() as connection:
        connection.execute(sa.text(statement), values)


def test_an_untouched_log_verifies_and_filters(log):
    logged(log)
    log.append(spans("run-3", 2, source="wmo"))
    result = log.verify(KEY.public_key())
    assert result.intact, result.problems
    assert (result.entries, result.checkpoints, result.unsigned) == (14, 3, 2)
    assert [e.seq for e in log.entries(trace_id="run-1")] == [4, 5, 6, 7]
    assert len(log.entries(source="wmo")) == 2
    assert len(log.entries(purpose="minimabeleid")) == 14
    assert log.entries(purpose="veiligheid") == []
    assert len(log.entries(since=dt.date(2026, 11, 29), until=dt.date(2026, 11, 29))) == 14
    assert log.entries(since=dt.date(2026, 11, 30)) == []


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ("UPDATE processing_log SET rows = 999 WHERE seq = 5", "entry 5 differs"),
        ("DELETE FROM processing_log WHERE seq = 2", "entries missing at positions [2]"),
        ("UPDATE processing_log SET status = 'ok', message = 'x' WHERE seq = 0", "entry 0 differ"),
    ],
    ids=["changed", "deleted", "changed-first"],
)
def test_a_changed_or_deleted_entry_is_found(log, tamper, found):
    logged(log)
    sql(log, tamper)
    result = log.verify(KEY.public_key())
    assert not result.intact
    assert any(found in p for p in result.problems), result.problems
    assert any("no longer give its root" in p for p in result.problems), result.problems


def test_an_entry_rewritten_with_a_matching_leaf_still_breaks_the_signed_root(log):
    from udc.catalog.merkle import leaf_hash
    from udc.catalog.processing_log import entry_bytes

    logged(log)
    sql(log, "UPDATE processing_log SET rows = 1 WHERE seq = 6")
    with log.catalog.session() as session:
        from udc.catalog.models import LogEntry

        entry = session.get(LogEntry, 6)
        entry.leaf = leaf_hash(entry_bytes(6, entry)).hex()
    result = log.verify(KEY.public_key())
    assert [p for p in result.problems if "differs" in p] == []
    assert any("checkpoint 2 (size 8" in p and "no longer give its root" in p
               for p in result.problems), result.problems  # fmt: skip


def test_inserted_and_reordered_entries_are_found(log):
    logged(log)
    # Reorder: swap the contents of two entries (their positions stay).
    sql(log, "UPDATE processing_log SET seq = -1 WHERE seq = 1")
    sql(log, "UPDATE processing_log SET seq = 1 WHERE seq = 3")
    sql(log, "UPDATE processing_log SET seq = 3 WHERE seq = -1")
    problems = log.verify(KEY.public_key()).problems
    assert {"entry 1 differs from what was logged", "entry 3 differs from what was logged"} <= set(
        problems
    )
    # Insert: one more entry than the head recorded.
    sql(
        log,
        "INSERT INTO processing_log (seq, trace_id, span_id, name, started_at, ended_at, status, "
        "purposes, inputs, outputs, leaf) VALUES (12, 'x', 'x', 'load', :t, :t, 'ok', '[]', '[]', "
        "'[]', :leaf)",
        t=T0, leaf="0" * 64,
    )  # fmt: skip
    problems = log.verify(KEY.public_key()).problems
    assert any("holds 13 entries but recorded 12" in p for p in problems), problems


def test_a_checkpoint_that_does_not_extend_the_one_before_is_found(log):
    logged(log)
    # Re-sign a forged third checkpoint over a rewritten history with the right key: its
    # root is signed, but it cannot prove it extends checkpoint 2.
    forged_root = "ab" * 32
    message = b"udc processing log checkpoint v1\n12\n" + forged_root.encode() + b"\n"
    sql(
        log,
        "UPDATE log_checkpoints SET root = :r, signature = :s WHERE id = 3",
        r=forged_root, s=KEY.sign(message).hex(),
    )  # fmt: skip
    problems = log.verify(KEY.public_key()).problems
    assert any("checkpoint 3" in p and "does not extend" in p for p in problems), problems
    other = Ed25519PrivateKey.generate()
    assert any("signed by another key" in p for p in log.verify(other.public_key()).problems)
    sql(log, "UPDATE log_checkpoints SET signature = :s WHERE id = 1", s="00" * 64)
    assert any("checkpoint 1" in p and "no valid signature" in p
               for p in log.verify(KEY.public_key()).problems)  # fmt: skip


def test_two_runs_writing_at_once_keep_the_chain(database_url):
    catalogs = [Catalog(database_url) for _ in range(2)]
    logs = [ProcessingLog(c) for c in catalogs]
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            for batch in range(10):
                logs[number].append(spans(f"run-{number}-{batch}", 3))
            logs[number].checkpoint(KEY, f"run-{number}")
        except BaseException as exc:  # reported below: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = logs[0].verify(KEY.public_key())
    assert result.intact, result.problems
    assert (result.entries, result.checkpoints, result.unsigned) == (60, 2, 0)
    # Each run's batches stay whole: a batch's three entries sit side by side.
    entries = logs[0].entries()
    for start in range(0, 60, 3):
        assert len({e.trace_id for e in entries[start : start + 3]}) == 1
    for catalog in catalogs:
        catalog.close()


def test_a_span_names_a_known_step_and_status():
    with pytest.raises(ValueError, match="not a processing step"):
        Span("t", "upload", T0, T0, "ok")
    with pytest.raises(ValueError, match="not a step status"):
        Span("t", "load", T0, T0, "fine")


def test_upgrading_a_workspace_keeps_its_log(database_url):
    from test_catalog_store import _catalog_at

    from udc.catalog.merkle import leaf_hash
    from udc.catalog.processing_log import entry_bytes

    engine = _catalog_at(database_url, "0007")  # before the access-request index
    (span,) = spans("old-run", 1)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE log_head SET size = 1"))
        connection.execute(
            sa.text(
                "INSERT INTO processing_log (seq, trace_id, span_id, name, started_at, ended_at, "
                "status, purposes, source, inputs, outputs, rows, key_fingerprint, leaf) VALUES "
                "(0, :trace, :span, 'load', :start, :end, 'ok', :purposes, 'bijstand', :inputs, "
                ":outputs, :rows, :key, :leaf)"
            ),
            {
                "trace": span.trace_id, "span": span.span_id, "start": span.started_at,
                "end": span.ended_at, "purposes": '["minimabeleid@2"]',
                "inputs": f'["{span.inputs[0]}"]', "outputs": f'["{span.outputs[0]}"]',
                "rows": span.rows, "key": span.key_fingerprint,
                "leaf": leaf_hash(entry_bytes(0, span)).hex(),
            },
        )  # fmt: skip
    engine.dispose()
    log = ProcessingLog(Catalog(database_url))  # migrates to the newest schema
    log.checkpoint(KEY, "after-upgrade")
    result = log.verify(KEY.public_key())
    assert result.intact, result.problems
    assert [e.trace_id for e in log.entries()] == ["old-run"]
    log.catalog.close()
