"""Cross-source checks after pseudonymisation: do a source's keys occur in a reference source?

For instance: is every client of the bijstand registered in the BRP (by pseudonym), or does
every address of a source occur in the buurtindeling? The answer is for the data steward only,
never for the source: a partner must not learn who is registered in the BRP. A result
therefore holds counts, never a key value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from udc.sources.contracts import PSEUDONYM, CrossCheck

OK = "ok"
FINDINGS = "findings"
NOT_CHECKED = "not_checked"

_DIGITS = r"^[0-9]+$"


@dataclass(frozen=True)
class CrossCheckResult:
    """How many of a source's keys were not found in the reference: counts only."""

    source: str
    peildatum: date
    check_id: str
    reference: str
    reference_peildatum: date | None
    columns: tuple[str, ...]
    rows: int
    missing: int
    description: str
    note: str | None = None
    gemeente: str | None = None  # of the checked delivery, in a regional workspace

    @property
    def label(self) -> str:
        """The source as the report names it: with its gemeente where the file named one."""
        return f"{self.source} ({self.gemeente})" if self.gemeente else self.source

    @property
    def checked(self) -> bool:
        return self.note is None

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def status(self) -> str:
        if not self.checked:
            return NOT_CHECKED
        return FINDINGS if self.missing else OK


def pick_reference_peildatum(available: Iterable[date], peildatum: date) -> date | None:
    """The reference delivery to compare with: the latest on or before ``peildatum``."""
    earlier = [day for day in available if day <= peildatum]
    return max(earlier) if earlier else None


def _key_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A key column as comparable text, the same way on both sides; empty becomes null.

    A pseudonym is compared as is (apart from surrounding blanks): it is a fixed-length hash.
    Anything else is compared without blanks and case, a number without leading zeros, so
    "1234 ab" matches "1234AB" and "07" matches 7; a date is compared as YYYYMMDD, the form
    in which sources deliver it.
    """
    column = pl.col(name)
    if dtype == pl.Date:
        text = column.dt.strftime("%Y%m%d")
    else:
        text = column.cast(pl.String, strict=False)
    if name == PSEUDONYM:
        text = text.str.strip_chars()
    else:
        text = text.str.replace_all(r"\s+", "").str.to_uppercase()
        text = (
            pl.when(text.str.contains(_DIGITS))
            .then(text.str.replace(r"^0+([0-9])", "${1}"))
            .otherwise(text)
        )
    return pl.when(text.str.len_bytes() > 0).then(text)


def _keys(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
    """The normalised keys of every row whose key columns are all filled, as k0, k1, ..."""
    names = [f"k{i}" for i in range(len(columns))]
    return (
        frame.lazy()
        .select(
            _key_text(name, frame.schema[name]).alias(key)
            for name, key in zip(columns, names, strict=True)
        )
        .drop_nulls()
    )


def _absent_columns(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[str]:
    return [name for name in columns if name not in frame.columns]


def _column_note(names: list[str], of_reference: str | None) -> str:
    listed = ", ".join(names)
    subject = f"kolom {listed}" if len(names) == 1 else f"kolommen {listed}"
    if of_reference:
        subject += f" van {of_reference}"
    verb = "is" if len(names) == 1 else "zijn"
    return f"{subject} {verb} niet bewaard in het lake"


def run_cross_check(
    frame: pl.DataFrame,
    check: CrossCheck,
    reference: pl.DataFrame | None,
    source: str,
    peildatum: date,
    reference_peildatum: date | None,
) -> CrossCheckResult:
    """Count the rows of ``frame`` whose key does not occur in ``reference``.

    ``frame`` is the lake dataset of ``source`` on ``peildatum``; ``reference`` the lake
    dataset of ``check.reference`` on ``reference_peildatum`` (None when there is none).
    Rows with an empty key column are not counted at all: their absence is the built-in
    checks' business, not a linking problem.
    """

    checked = CrossCheckResult(
        source=source,
        peildatum=peildatum,
        check_id=check.id,
        reference=check.reference,
        reference_peildatum=reference_peildatum,
        columns=check.columns,
        rows=0,
        missing=0,
        description=check.description,
    )

    def not_checked(note: str) -> CrossCheckResult:
        return replace(checked, reference_peildatum=None, note=note)

    if reference is None:
        return not_checked(f"geen levering van {check.reference} op of voor de peildatum")
    absent = _absent_columns(frame, check.columns)
    if absent:
        return not_checked(_column_note(absent, None))
    absent = _absent_columns(reference, check.reference_columns)
    if absent:
        return not_checked(_column_note(absent, check.reference))

    keys = _keys(frame, check.columns)
    known = _keys(reference, check.reference_columns).unique()
    names = [f"k{i}" for i in range(len(check.columns))]
    counts = pl.concat(
        [
            keys.select(pl.len().alias("n")),
            keys.join(known, on=names, how="anti").select(pl.len().alias("n")),
        ]
    ).collect()
    rows, missing = (int(n) for n in counts["n"])
    return replace(checked, rows=rows, missing=missing)
