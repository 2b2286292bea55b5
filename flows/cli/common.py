"""What every audience's commands share: the Typer apps, the consoles, the options, the
exit codes and the one-line handling of expected failures.

Exit codes: 0 success; 1 the run finished but a delivery was quarantined or a mart
could not be published; 2 wrong usage; 3 the workspace, configuration or keys are not
in order (the message says what to do).
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from udc.catalog.register import RegisterError
from udc.catalog.store import CatalogError
from udc.flows.runners import SchedulerUnavailableError
from udc.pseudonymize.keys import KeyStoreError
from udc.sources.contracts import ContractError
from udc.workspace.layout import WorkspaceError

# `udc --help` groups the commands by who uses them, as docs/ does.
ENGINEER, STEWARD, PRIVACY_OFFICER, ANALYST = (
    "Data engineer",
    "Data steward",
    "Privacy officer",
    "Analyst",
)

app = typer.Typer(
    help="udc: a privacy-preserving data pipeline for an Urban Data Center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
marts_app = typer.Typer(
    help="What is published: list, show, audit, unpublish.", no_args_is_help=True
)
app.add_typer(marts_app, name="marts", rich_help_panel=ANALYST)
dashboard_app = typer.Typer(
    help="The dashboard site of the published marts: build, serve.", no_args_is_help=True
)
app.add_typer(dashboard_app, name="dashboard", rich_help_panel=ANALYST)
quality_app = typer.Typer(help="Deliveries and their verdicts: show, report.", no_args_is_help=True)
app.add_typer(quality_app, name="quality", rich_help_panel=STEWARD)
purposes_app = typer.Typer(
    help="The register of processing purposes (doelbinding): list, show, add, approve, withdraw.",
    no_args_is_help=True,
)
app.add_typer(purposes_app, name="purposes", rich_help_panel=PRIVACY_OFFICER)
log_app = typer.Typer(help="The processing log: show, verify, subject.", no_args_is_help=True)
app.add_typer(log_app, name="log", rich_help_panel=PRIVACY_OFFICER)
report_app = typer.Typer(help="Reports: privacy.", no_args_is_help=True)
app.add_typer(report_app, name="report", rich_help_panel=PRIVACY_OFFICER)

# Piped output is read by scripts and people alike: do not cut names to 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=250)
err = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=250)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="The workspace folder (default: $UDC_WORKSPACE, else the current folder).",
        show_default=False,
    ),
]

EXIT_RUN_ERRORS, EXIT_USAGE, EXIT_SETUP = 1, 2, 3


class PrefectUnavailableError(RuntimeError):
    """No Prefect server could be reached or started."""


EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    PrefectUnavailableError,
    SchedulerUnavailableError,
    WorkspaceError,
    KeyStoreError,
    CatalogError,
    ContractError,
    RegisterError,
)


def fail(message: str) -> None:
    """One line on stderr that a person can act on; sender-supplied text is not markup."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def friendly(command: Callable) -> Callable:
    """Expected failures end with one actionable line, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from udc.marts.definitions import MartError

        try:
            return command(*args, **kwargs)
        except (*EXPECTED_ERRORS, MartError) as exc:
            fail(str(exc))
            raise typer.Exit(EXIT_SETUP) from None

    return wrapper


def parse_peildatum(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in the form YYYYMMDD") from None


def count_text(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
