"""The processing log's entries built from step outcomes, as plain functions."""

from __future__ import annotations

from udc.workspace.logbook import delivery_spans, mart_spans

T = 1_795_000_000.0


def accepted() -> dict:
    return {
        "source": "bijstand", "file_name": "bijstand_20261101.csv", "status": "accepted",
        "peildatum": "20261101", "rows": 1000, "warnings": 2, "message": "",
        "spans": {"read": [T, T + 1], "validate": [T + 1, T + 2],
                  "pseudonymise": [T + 2, T + 3], "lake": [T + 3, T + 4]},
        "sha256": "a" * 64, "lake_hash": "b" * 64, "received": T - 1,
    }  # fmt: skip


def test_an_accepted_delivery_is_received_validated_pseudonymised_and_loaded():
    spans = delivery_spans("run", "flow", accepted(), ["minimabeleid@2"], "f" * 16, T + 9)
    assert [s.name for s in spans] == ["receive", "validate", "pseudonymise", "load"]
    receive, validate, pseudonymise, load = spans
    assert all(s.parent_span_id == receive.span_id for s in spans[1:])
    assert receive.started_at.timestamp() == T - 1 and receive.ended_at.timestamp() == T + 4
    assert receive.inputs == (f"delivery:bijstand/bijstand_20261101.csv:sha256:{'a' * 64}",)
    assert validate.status == "warning"  # two warnings
    assert load.outputs == (f"lake:bijstand:20261101:sha256:{'b' * 64}",)
    assert (pseudonymise.key_fingerprint, validate.key_fingerprint) == ("f" * 16, None)
    assert {s.purposes for s in spans} == {("minimabeleid@2",)}


def test_a_refused_or_quarantined_delivery_is_logged_as_such():
    refused = accepted() | {
        "status": "quarantined", "spans": {}, "lake_hash": None, "refused": True,
        "message": "bijstand/x.csv: quarantined: refused: no approved purpose in force uses ...",
    }  # fmt: skip
    receive, quarantine = delivery_spans("run", None, refused, [], "f", T)
    assert (receive.status, quarantine.status) == ("refused", "refused")
    assert quarantine.outputs == ("quarantine:bijstand/bijstand_20261101.csv",)
    broken = refused | {"refused": False, "message": "bijstand/x.csv: quarantined: 3 of 10 rows"}
    assert [s.status for s in delivery_spans("run", None, broken, [], "f", T)] == [
        "ok", "warning",
    ]  # fmt: skip


def test_a_published_mart_is_aggregated_protected_and_published():
    outcome = {
        "mart": "bijstand_buurt", "status": "published", "release": "20261101-abc",
        "cells": 3955, "message": "",
        "deliveries": ["brp:20261101:" + "c" * 64],
        "spans": {"aggregate": [T, T + 1], "protect": [T + 1, T + 5], "audit": [T + 5, T + 6],
                  "publish": [T + 6, T + 7]},
    }  # fmt: skip
    aggregate, protect, publish = mart_spans("run", "flow", outcome, "minimabeleid@2", "f", T)
    assert (aggregate.name, protect.name, publish.name) == ("aggregate", "protect", "publish")
    assert protect.parent_span_id == publish.parent_span_id == aggregate.span_id
    assert publish.outputs == ("mart:bijstand_buurt:20261101-abc",)
    assert aggregate.inputs == ("delivery:brp:20261101:" + "c" * 64,)


def test_a_refused_mart_is_one_refused_entry_and_a_waiting_one_none():
    refused = {"mart": "x", "status": "refused", "message": "x: refused: its purpose ..."}
    (entry,) = mart_spans("run", None, refused, "minimabeleid", "f", T)
    assert (entry.name, entry.status, entry.message) == ("aggregate", "refused", refused["message"])
    assert mart_spans("run", None, {"mart": "x", "status": "skipped"}, "p", "f", T) == []
