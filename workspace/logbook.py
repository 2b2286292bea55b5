"""What a nightly run writes to the processing log: one trace per run, one span per
processing step, built from the outcomes the steps return (ids, hashes, counts and
times; never a delivered value), then a signed checkpoint."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping, Sequence

from udc.catalog.processing_log import ProcessingLog, Span, new_span_id
from udc.workspace.resources import Resources

# Ingest stages (``ingest.timed``) and the processing steps they are.
DELIVERY_STEPS = {"validate": "validate", "pseudonymise": "pseudonymise", "lake": "load"}
MART_STEPS = {"aggregate": "aggregate", "protect": "protect", "publish": "publish"}


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _window(spans: Mapping[str, Sequence[float]], fallback: float) -> tuple[float, float]:
    times = [t for span in spans.values() for t in span]
    return (min(times), max(times)) if times else (fallback, fallback)


def delivery_spans(
    trace_id: str,
    flow_run_id: str | None,
    outcome: Mapping,
    purposes: Sequence[str],
    key_fingerprint: str,
    now: float,
) -> list[Span]:
    """A delivery: "receive" with its steps below it (or "quarantine" for a rejected one)."""
    spans: Mapping[str, Sequence[float]] = outcome.get("spans") or {}
    received = outcome.get("received") or now
    start, end = _window(spans, received)
    start = min(start, received)
    status = outcome["status"]
    source, delivered = outcome["source"], outcome.get("sha256")
    refused = bool(outcome.get("refused"))
    shared = {
        "trace_id": trace_id,
        "flow_run_id": flow_run_id,
        "purposes": tuple(purposes),
        "source": source,
        "inputs": (f"delivery:{source}/{outcome['file_name']}:sha256:{delivered}",),
        "rows": outcome.get("rows"),
    }
    root = Span(
        name="receive",
        started_at=_moment(start),
        ended_at=_moment(max(end, start)),
        status="refused" if refused else "failed" if status == "failed" else "ok",
        message=outcome.get("message") or status,
        **shared,
    )
    found = [root]
    if status == "quarantined":
        found.append(
            Span(
                parent_span_id=root.span_id,
                name="quarantine",
                started_at=root.started_at,
                ended_at=root.ended_at,
                status="refused" if refused else "warning",
                outputs=(f"quarantine:{source}/{outcome['file_name']}",),
                message=outcome.get("message"),
                **shared,
            )
        )
    for stage, step in DELIVERY_STEPS.items():
        if stage not in spans:
            continue
        begin, finish = spans[stage]
        output = ()
        if step == "load" and outcome.get("lake_hash"):
            output = (f"lake:{source}:{outcome['peildatum']}:sha256:{outcome['lake_hash']}",)
        found.append(
            Span(
                parent_span_id=root.span_id,
                name=step,
                started_at=_moment(begin),
                ended_at=_moment(finish),
                status="warning" if step == "validate" and outcome.get("warnings") else "ok",
                outputs=output,
                key_fingerprint=key_fingerprint if step in ("pseudonymise", "load") else None,
                **shared,
            )
        )
    return found


def mart_spans(
    trace_id: str,
    flow_run_id: str | None,
    outcome: Mapping,
    purpose: str,
    key_fingerprint: str,
    now: float,
) -> list[Span]:
    """A mart: aggregate, protect and publish, or one refused or failed "aggregate"."""
    status = outcome["status"]
    inputs = tuple(f"delivery:{d}" for d in outcome.get("deliveries") or ())
    if status not in ("published", "unchanged"):
        if status == "skipped":
            return []
        return [
            Span(
                trace_id=trace_id,
                flow_run_id=flow_run_id,
                name="aggregate",
                started_at=_moment(now),
                ended_at=_moment(now),
                status="refused" if status == "refused" else "failed",
                purposes=(purpose,),
                inputs=inputs,
                message=outcome.get("message"),
            )
        ]
    spans: Mapping[str, Sequence[float]] = outcome.get("spans") or {}
    output = f"mart:{outcome['mart']}:{outcome['release']}"
    found = []
    parent = new_span_id()
    for stage, step in MART_STEPS.items():
        if stage not in spans:
            continue
        begin, finish = spans[stage]
        found.append(
            Span(
                trace_id=trace_id,
                flow_run_id=flow_run_id,
                span_id=parent if step == "aggregate" else new_span_id(),
                parent_span_id=None if step == "aggregate" else parent,
                name=step,
                started_at=_moment(begin),
                ended_at=_moment(finish),
                status="ok",
                purposes=(purpose,),
                inputs=inputs,
                outputs=(output,) if step == "publish" else (),
                rows=outcome.get("cells"),
                key_fingerprint=key_fingerprint if step == "aggregate" else None,
                message=outcome.get("message") or status,
            )
        )
    return found


def record_run(
    res: Resources,
    trace_id: str,
    flow_run_id: str | None,
    deliveries: Sequence[Mapping],
    marts: Sequence[Mapping],
    deletions: Sequence[Span] = (),
) -> tuple[int, int]:
    """Append the run's entries and sign a checkpoint over the whole log; returns how many
    entries the run added and the log's size."""
    now = time.time()
    in_force = res.catalog.purposes_in_force(res.today())
    fingerprint = res.fingerprint()
    spans: list[Span] = []
    for outcome in deliveries:
        purposes = [
            f"{purpose}@{row.version}"
            for purpose, (spec, row) in in_force.items()
            if outcome["source"] in spec.sources
        ]
        spans += delivery_spans(trace_id, flow_run_id, outcome, purposes, fingerprint, now)
    for outcome in marts:
        definition = res.marts.get(outcome["mart"])
        if definition is None:
            continue
        held = in_force.get(definition.purpose)
        purpose = f"{definition.purpose}@{held[1].version}" if held else definition.purpose
        spans += mart_spans(trace_id, flow_run_id, outcome, purpose, fingerprint, now)
    spans += [
        dataclasses.replace(span, flow_run_id=flow_run_id, key_fingerprint=None)
        for span in deletions
    ]
    log = ProcessingLog(res.catalog)
    log.append(spans)
    checkpoint = log.checkpoint(res.keys.log_signing_key(), trace_id)
    return len(spans), checkpoint.size
