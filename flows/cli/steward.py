"""The data steward's commands: deliveries with their verdicts, and where a delivery's
feedback report (terugmelding) is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from udc.flows.cli.common import (
    EXIT_SETUP,
    WorkspaceOption,
    count_text,
    fail,
    friendly,
    out,
    parse_peildatum,
    quality_app,
)
from udc.workspace.layout import Workspace


@quality_app.command("show")
@friendly
def quality_show(
    source: Annotated[str | None, typer.Argument(help="Only this source.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Deliveries with their verdicts and rejected-row shares, oldest first."""
    from udc.workspace.resources import open_resources

    catalog = open_resources(Workspace.resolve(workspace).require().root).catalog
    table = Table()
    for column in (
        "source",
        "peildatum",
        "file",
        "verdict",
        "rows",
        "rejected",
        "share",
        "warnings",
        "failed checks (rows)",
        "received",
    ):
        table.add_column(column)
    for d in catalog.deliveries(source):
        share = f"{d.rows_rejected / d.rows:.2%}" if d.rows and d.rows_rejected is not None else "-"
        table.add_row(
            d.source,
            f"{d.peildatum:%Y%m%d}" if d.peildatum else "-",
            d.file_name,
            d.status,
            count_text(d.rows),
            count_text(d.rows_rejected),
            share,
            count_text(d.warnings),
            escape(_failed_checks(catalog.checks(d.id))),
            f"{d.received_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


def _failed_checks(checks: list) -> str:
    """Failed checks, most failures first: ``id (count)``, or just the id for delivery-wide ones."""
    failed = sorted((c for c in checks if not c.passed), key=lambda c: -c.failed_count)
    return (
        ", ".join(
            f"{c.check_id} ({c.failed_count:,})" if c.row_level else c.check_id for c in failed
        )
        or "-"
    )


@quality_app.command("report")
@friendly
def quality_report(
    source: str,
    peildatum: Annotated[str, typer.Argument(help="YYYYMMDD")],
    gemeente: Annotated[
        str | None, typer.Option(help="In a regional workspace: only this gemeente (GMnnnn).")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Where the feedback report (terugmelding) of a delivery is: the latest of each
    gemeente that delivered the source for that peildatum."""
    from udc.workspace.resources import open_resources

    day = parse_peildatum(peildatum)
    catalog = open_resources(Workspace.resolve(workspace).require().root).catalog
    latest = {
        d.gemeentecode: d
        for d in catalog.deliveries(source)
        if d.peildatum == day and d.feedback_path and gemeente in (None, d.gemeentecode)
    }
    if not latest:
        of = f" of {gemeente}" if gemeente else ""
        fail(f"no delivery of {source}{of} for peildatum {peildatum}; see `udc quality show`")
        raise typer.Exit(EXIT_SETUP)
    for _, delivery in sorted(latest.items(), key=lambda item: item[0] or ""):
        html_path = Path(delivery.feedback_path)
        out.print(f"{html_path}\n{html_path.with_suffix('.csv')}", soft_wrap=True)
