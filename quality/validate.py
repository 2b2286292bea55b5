"""Validation of one delivery against the expectation suite of its contract.

The suite's checks are grouped by the columns they read, and each group runs in one GX call
on a pandas copy of just those columns. A group of ``value`` checks (each row judged on its
own values: sets, patterns, dates, ranges) sees every distinct value combination once rather
than every row: a million BRP rows hold some thirty thousand birth dates. GX decides which
combinations fail; polars maps them back to the delivered lines. Other groups (uniqueness,
aggregates) see every row, indexed by line number.

GX is asked for failing index values only (``exclude_unexpected_values``), so delivered
values, BSNs among them, never enter a GX result, and the report is built from line numbers.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig

from udc.quality.dutch import percent, thousands
from udc.quality.expectations import gx
from udc.quality.suites import (
    ERROR,
    META_KEY,
    WARNING,
    CheckSpec,
    PreviousDelivery,
    Severity,
    build_checks,
    suite_of,
    with_helper_columns,
)
from udc.sources.contracts import Contract
from udc.sources.reader import LINE_NUMBER

logger = logging.getLogger(__name__)

Verdict = Literal["accepted", "accepted_with_warnings", "quarantined"]
ACCEPTED: Verdict = "accepted"
ACCEPTED_WITH_WARNINGS: Verdict = "accepted_with_warnings"
QUARANTINED: Verdict = "quarantined"

# The index of a group's frame: the line number, or a distinct value combination's number.
VALUE_ID = "__value_id"


def result_format(index: str) -> dict[str, Any]:
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [index],
        "exclude_unexpected_values": True,
        "partial_unexpected_count": 0,
        "return_unexpected_index_query": False,
    }


NO_ROWS = "De levering bevat geen gegevensregels."


@dataclass(frozen=True)
class CheckResult:
    """One check of the suite and the delivered lines that failed it.

    A check about the delivery as a whole (``row_level`` False: a row count, an aggregate)
    names no lines; ``passed`` says whether it held.
    """

    check_id: str
    column: str
    severity: Severity
    description: str
    failed_count: int
    failed_lines: tuple[int, ...]
    row_level: bool = True
    passed: bool = True


@dataclass(frozen=True)
class ValidationReport:
    """What the suite found in one delivery.

    ``rejected_lines`` are the lines that fail at least one error check: the flow drops them.
    ``delivery_errors`` (Dutch) are failures of the delivery as a whole, which quarantine it
    whatever the share of rejected rows. ``record_keys`` maps failed lines to the source's own
    record key, only for contracts that name a ``record_key`` that is not a BSN.
    """

    source: str
    rows: int
    checks: tuple[CheckResult, ...]
    rejected_lines: tuple[int, ...]
    warning_lines: tuple[int, ...]
    max_rejected_share: float
    delivery_errors: tuple[str, ...] = ()
    delivery_warnings: tuple[str, ...] = ()
    record_key: str | None = None
    record_keys: Mapping[int, str] = field(default_factory=dict)

    @property
    def rejected_share(self) -> float:
        return len(self.rejected_lines) / self.rows if self.rows else 0.0

    @property
    def warning_count(self) -> int:
        """The number of lines with at least one warning."""
        return len(self.warning_lines)

    def verdict(self, max_rejected_share: float | None = None) -> Verdict:
        limit = self.max_rejected_share if max_rejected_share is None else max_rejected_share
        if self.delivery_errors or self.rejected_share > limit:
            return QUARANTINED
        if self.rejected_lines or self.warning_lines or self.delivery_warnings:
            return ACCEPTED_WITH_WARNINGS
        return ACCEPTED

    def reason(self, max_rejected_share: float | None = None) -> str | None:
        """Why the delivery got its verdict, in Dutch for the source; None when all is well."""
        limit = self.max_rejected_share if max_rejected_share is None else max_rejected_share
        if self.delivery_errors:
            return " ".join(self.delivery_errors)
        rejected = len(self.rejected_lines)
        if self.rejected_share > limit:
            return (
                f"{thousands(rejected)} van de {thousands(self.rows)} regels "
                f"({percent(self.rejected_share)}) zijn afgekeurd; bij meer dan "
                f"{percent(limit)} gaat de hele levering in quarantaine."
            )
        parts = []
        if rejected:
            parts.append(
                f"{thousands(rejected)} van de {thousands(self.rows)} regels "
                f"({percent(self.rejected_share)}) zijn afgekeurd en niet verwerkt; de overige "
                "regels wel."
            )
        if self.warning_lines:
            parts.append(f"{thousands(self.warning_count)} regels hebben een waarschuwing.")
        parts += self.delivery_warnings
        return " ".join(parts) or None


def _raised(exception_info: Mapping[str, Any]) -> bool:
    # GX keeps one record per expectation, or one per metric when several metrics failed.
    if "raised_exception" in exception_info:
        return bool(exception_info["raised_exception"])
    return any(isinstance(v, Mapping) and _raised(v) for v in exception_info.values())


def _sorted_union(arrays: list[np.ndarray]) -> np.ndarray:
    """Sorted distinct line numbers of all ``arrays`` (a mask: linear, unlike sorting)."""
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return np.empty(0, dtype=np.int64)
    mask = np.zeros(max(int(a.max()) for a in arrays) + 1, dtype=bool)
    for lines in arrays:
        mask[lines] = True
    return np.flatnonzero(mask).astype(np.int64)


def _failed_index(result: Mapping[str, Any], index: str) -> np.ndarray:
    return _sorted_union(
        [
            np.asarray(entry[index], dtype=np.int64)
            for entry in result.get("unexpected_index_list") or []
        ]
    )


@dataclass(frozen=True)
class _Group:
    """Checks that run in one GX call on one frame."""

    columns: tuple[str, ...]
    distinct: bool
    specs: tuple[CheckSpec, ...]


def plan_groups(specs: list[CheckSpec]) -> list[_Group]:
    """Group checks by the delivered columns they read.

    Value checks join a group of row checks on the same columns (that group sees every row
    anyway); otherwise they form a group that runs on distinct values.
    """
    by_columns: dict[tuple[str, ...], list[CheckSpec]] = {}
    for spec in specs:
        by_columns.setdefault(spec.base_columns, []).append(spec)
    return [
        _Group(columns, all(s.scope == "value" for s in group), tuple(group))
        for columns, group in by_columns.items()
    ]


def _group_frames(
    frame: pl.DataFrame, contract: Contract, groups: list[_Group]
) -> list[tuple[pl.DataFrame, str]]:
    """Each group's frame and its index column, helper columns included."""
    # One polars query finds the distinct values of every value group, in parallel.
    distinct = iter(
        pl.collect_all(
            [
                frame.lazy().select(g.columns).unique().with_row_index(VALUE_ID)
                for g in groups
                if g.distinct
            ]
        )
    )
    frames = []
    for group in groups:
        helpers = {c for spec in group.specs for c in spec.columns} - set(group.columns)
        if group.distinct:
            frames.append((with_helper_columns(next(distinct), contract, helpers), VALUE_ID))
            continue
        # A table check reads no column, but GX wants one to count the rows of.
        columns = group.columns or (pl.lit(True).alias("__row"),)
        rows = with_helper_columns(frame.select(LINE_NUMBER, *columns), contract, helpers)
        frames.append((rows, LINE_NUMBER))
    return frames


def _lines_with(
    frame: pl.DataFrame, values: pl.DataFrame, ids: np.ndarray, columns: tuple[str, ...]
) -> np.ndarray:
    """The delivered lines holding any of the value combinations numbered ``ids``."""
    if ids.size == 0:
        return ids
    failing = values.filter(pl.col(VALUE_ID).is_in(pl.Series(ids).implode())).select(columns)
    found = frame.join(failing, on=list(columns), how="semi", nulls_equal=True)
    return np.sort(found[LINE_NUMBER].to_numpy().astype(np.int64))


def _check_results(
    frame: pl.DataFrame, contract: Contract, groups: list[_Group]
) -> tuple[list[CheckResult], list[str], list[ExpectationSuiteValidationResult]]:
    checks: list[CheckResult] = []
    errors: list[str] = []
    gx_results = []
    for group, (prepared, index) in zip(
        groups, _group_frames(frame, contract, groups), strict=True
    ):
        gx_result = _run_suite(prepared, index, contract, group.specs)
        gx_results.append(gx_result)
        specs = {spec.check_id: spec for spec in group.specs}
        for outcome in gx_result.results:
            spec = specs.pop(outcome.expectation_config.meta[META_KEY]["check_id"])
            if _raised(outcome.exception_info):
                # The GX message is not passed on: it may quote a delivered value.
                logger.error("check %s could not be evaluated", spec.check_id)
                errors.append(f"De controle {spec.check_id} kon niet worden uitgevoerd.")
                continue
            checks.append(_check_result(frame, prepared, group, spec, outcome, index))
        if specs:
            raise RuntimeError(f"GX returned no result for {sorted(specs)}")
    return checks, errors, gx_results


def _check_result(
    frame: pl.DataFrame,
    prepared: pl.DataFrame,
    group: _Group,
    spec: CheckSpec,
    outcome: Any,
    index: str,
) -> CheckResult:
    if not spec.row_level:
        return CheckResult(
            spec.check_id,
            spec.about,
            spec.severity,
            spec.description,
            0,
            (),
            row_level=False,
            passed=bool(outcome.success),
        )
    failed = _failed_index(outcome.result, index)
    expected_count = int(outcome.result.get("unexpected_count") or 0)
    if failed.size != expected_count:
        raise RuntimeError(
            f"check {spec.check_id}: GX reported {expected_count} failures but "
            f"{failed.size} index values"
        )
    lines = _lines_with(frame, prepared, failed, group.columns) if group.distinct else failed
    return CheckResult(
        spec.check_id,
        spec.about,
        spec.severity,
        spec.description,
        int(lines.size),
        tuple(lines.tolist()),
        passed=lines.size == 0,
    )


def _lines_of(checks: list[CheckResult], severity: Severity) -> np.ndarray:
    return _sorted_union(
        [np.asarray(c.failed_lines, dtype=np.int64) for c in checks if c.severity == severity]
    )


def _record_key(contract: Contract) -> str | None:
    """The contract's record key, unless it is a BSN (which never goes back in a report)."""
    key = contract.record_key
    if key is None or key == contract.bsn_column or contract.column(key).type == "bsn":
        return None
    return key


def _record_keys(frame: pl.DataFrame, key: str | None, lines: np.ndarray) -> dict[int, str]:
    if key is None or key not in frame.columns or lines.size == 0:
        return {}
    failed = pl.col(LINE_NUMBER).is_in(pl.Series(lines).implode())
    found = frame.filter(failed & pl.col(key).is_not_null())
    return dict(zip(found[LINE_NUMBER].to_list(), found[key].to_list(), strict=True))


def _to_pandas(frame: pl.DataFrame, index: str) -> pd.DataFrame:
    """A pandas copy indexed by ``index``, so GX lists failing rows straight from the index.

    Text stays in Arrow memory (GX's regex checks run in Arrow); numbers become numpy, which
    GX compares vectorised.
    """

    def pandas_type(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
        textual = pa.types.is_large_string(arrow_type) or pa.types.is_string(arrow_type)
        return pd.ArrowDtype(arrow_type) if textual else None

    return frame.to_pandas(types_mapper=pandas_type).set_index(index)


class _ThreadGx(threading.local):
    """One GX context per thread, with one whole-dataframe batch definition per contract.

    A fresh ephemeral context and data source per delivery cost some 25 ms (the context
    serialises its configuration to YAML on every change). GX state is not thread-safe and the
    flow validates deliveries in several threads at once, so each thread keeps its own; a batch
    validates through the context that owns its batch definition, not through GX's
    process-wide current context.
    """

    def __init__(self) -> None:
        self.context: Any = None
        self.batch_definitions: dict[str, BatchDefinition] = {}

    def batch_definition(self, contract: Contract) -> BatchDefinition:
        if contract.id not in self.batch_definitions:
            if self.context is None:
                self.context = gx.get_context(mode="ephemeral")
                self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self.batch_definitions[contract.id] = (
                self.context.data_sources.add_pandas(f"udc_{contract.id}")
                .add_dataframe_asset("delivery")
                .add_batch_definition_whole_dataframe("whole")
            )
        return self.batch_definitions[contract.id]


_THREAD_GX = _ThreadGx()


def _run_suite(
    prepared: pl.DataFrame, index: str, contract: Contract, specs: tuple[CheckSpec, ...]
) -> ExpectationSuiteValidationResult:
    batch = _THREAD_GX.batch_definition(contract).get_batch(
        batch_parameters={"dataframe": _to_pandas(prepared, index)}
    )
    try:
        with warnings.catch_warnings():
            # pandas warns when a contract pattern has groups; the check only asks whether it
            # matches.
            warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression")
            return batch.validate(
                suite_of(f"udc.{contract.id}", specs), result_format=result_format(index)
            )
    finally:
        # The reused execution engine would otherwise hold this frame until the thread
        # validates the next one.
        batches = batch.datasource.get_execution_engine().batch_manager
        batches.reset_batch_cache()
        batches.batch_data_cache.clear()


def run_validation(
    frame: pl.DataFrame,
    contract: Contract,
    today: date,
    previous: PreviousDelivery | None = None,
) -> tuple[ValidationReport, list[ExpectationSuiteValidationResult]]:
    """:func:`validate_delivery`, also returning GX's own result of each group."""
    if LINE_NUMBER not in frame.columns:
        raise ValueError(f"the frame has no {LINE_NUMBER!r} column")
    present = [c for c in contract.column_names if c in frame.columns]
    missing = [c for c in contract.required_columns if c not in frame.columns]
    delivery_errors = []
    if missing:
        delivery_errors.append(f"Verplichte kolom(men) ontbreken: {', '.join(missing)}.")
    checks: list[CheckResult] = []
    gx_results: list[ExpectationSuiteValidationResult] = []
    if frame.height == 0:
        delivery_errors.append(NO_ROWS)
    else:
        text = frame.select(
            pl.col(LINE_NUMBER).cast(pl.Int64), *[pl.col(c).cast(pl.String) for c in present]
        )
        specs = build_checks(contract, today, present, previous)
        checks, check_errors, gx_results = _check_results(text, contract, plan_groups(specs))
        order = {spec.check_id: position for position, spec in enumerate(specs)}
        checks.sort(key=lambda check: order[check.check_id])
        delivery_errors += check_errors
    failed_whole = [c for c in checks if not c.row_level and not c.passed]
    delivery_errors += [c.description for c in failed_whole if c.severity == ERROR]
    rejected = _lines_of(checks, ERROR)
    warned = _lines_of(checks, WARNING)
    report = ValidationReport(
        source=contract.id,
        rows=frame.height,
        checks=tuple(checks),
        rejected_lines=tuple(rejected.tolist()),
        warning_lines=tuple(warned.tolist()),
        max_rejected_share=contract.max_rejected_share,
        delivery_errors=tuple(delivery_errors),
        delivery_warnings=tuple(c.description for c in failed_whole if c.severity == WARNING),
        record_key=_record_key(contract),
        record_keys=_record_keys(frame, _record_key(contract), _sorted_union([rejected, warned])),
    )
    logger.info(
        "validated %s: %d rows, %d rejected, %d with warnings, verdict %s",
        contract.id,
        report.rows,
        len(report.rejected_lines),
        report.warning_count,
        report.verdict(),
    )
    return report, gx_results


def validate_delivery(
    frame: pl.DataFrame,
    contract: Contract,
    today: date,
    previous: PreviousDelivery | None = None,
) -> ValidationReport:
    """Validate a parsed delivery (text columns plus ``line_number``) against its contract.

    ``today`` is the processing date for ``not_in_future`` checks; ``previous`` the source's
    latest earlier delivery, whose row count this one's is compared with.
    """
    return run_validation(frame, contract, today, previous)[0]
