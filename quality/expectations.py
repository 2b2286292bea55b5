"""Great Expectations, imported offline, plus the custom BSN expectation.

Every module of ``udc.quality`` imports GX through this one, so analytics are off before GX
is first imported (the pipeline runs without network access).

The BSN expectation classifies values with :func:`udc.pseudonymize.bsn.bsn_status_of`, the one
definition of a valid BSN in this project, vectorised in polars on the pandas column.
"""

from __future__ import annotations

import logging
import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"

import great_expectations as gx
import pandas as pd
import polars as pl
from great_expectations.execution_engine import PandasExecutionEngine, pandas_execution_engine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from udc.pseudonymize.bsn import bsn_status_of

# GX fingerprints every pandas batch below this many bytes (an md5 over a hash of every
# value) as an informational batch marker that nothing reads. On a million-row delivery that
# costs as much as all checks together, so no batch is small enough to be fingerprinted.
pandas_execution_engine.HASH_THRESHOLD = 0

# Every ephemeral context announces its empty docs folder at INFO: noise in a nightly log.
# GX pins some of its module loggers to INFO at import, so those must let go of their level.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
for _name in list(logging.root.manager.loggerDict):
    if _name.startswith("great_expectations."):
        logging.getLogger(_name).setLevel(logging.NOTSET)

__all__ = [
    "ExpectColumnValuesToBeValidBsn",
    "gx",
]


def _bsn_status_in(column: pd.Series, statuses: list[str]) -> pd.Series:
    status = bsn_status_of(pl.from_pandas(column)).is_in(statuses)
    return pd.Series(status.to_numpy(), index=column.index)


class ColumnValuesValidBsn(ColumnMapMetricProvider):
    """True where a value is a 9-digit BSN that passes the 11-check."""

    condition_metric_name = "column_values.valid_bsn"
    condition_value_keys = ("eight_digits_reported_separately",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, eight_digits_reported_separately: bool = False, **kwargs):
        accepted = ["valid", "eight_digits"] if eight_digits_reported_separately else ["valid"]
        return _bsn_status_in(column, accepted)


class ExpectColumnValuesToBeValidBsn(ColumnMapExpectation):
    """Expect the column values to be valid BSNs: 9 digits that pass the 11-check.

    With ``eight_digits_reported_separately`` an 8-digit value passes here because another
    check reports it, so one wrong value is reported once, with the description that tells the
    source what went wrong.
    """

    map_metric = "column_values.valid_bsn"
    success_keys = ("mostly", "eight_digits_reported_separately")

    eight_digits_reported_separately: bool = False
