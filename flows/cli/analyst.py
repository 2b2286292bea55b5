"""The analyst's commands: which marts are published, one mart's metadata, and SQL over
them."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from udc.flows.cli.common import (
    ANALYST,
    EXIT_SETUP,
    WorkspaceOption,
    app,
    fail,
    friendly,
    marts_app,
    out,
)
from udc.workspace.layout import Workspace


@marts_app.command("list", rich_help_panel=ANALYST)
@friendly
def marts_list(workspace: WorkspaceOption = None) -> None:
    """The published marts: peildatum, when, cells and suppressed cells."""
    from udc.workspace.publish import published_marts

    ws = Workspace.resolve(workspace).require()
    table = Table()
    for column in ("mart", "purpose", "peildatum", "published", "cells", "suppressed"):
        table.add_column(column)
    for info in published_marts(ws):
        table.add_row(
            info["mart"],
            info["purpose"],
            info["peildatum"],
            info["published_at"],
            f"{info['cells']:,}",
            f"{info['suppressed']:,}",
        )
    out.print(table)


@marts_app.command("show", rich_help_panel=ANALYST)
@friendly
def marts_show(name: str, workspace: WorkspaceOption = None) -> None:
    """One mart: purpose, peildatum, source deliveries, dimensions, suppression, path."""
    from udc.workspace.publish import published_marts

    ws = Workspace.resolve(workspace).require()
    found = [info for info in published_marts(ws) if info["mart"] == name]
    if not found:
        fail(f"no published mart named {name!r}; see `udc marts list`")
        raise typer.Exit(EXIT_SETUP)
    out.print_json(json.dumps(found[0], default=str))


@app.command(rich_help_panel=ANALYST)
@friendly
def query(
    sql: Annotated[str, typer.Argument(help="SQL over one view per published mart.")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Query the published marts with DuckDB; each current mart is a view of its name."""
    import duckdb

    from udc.marts.publish import MartStore

    ws = Workspace.resolve(workspace).require()
    store = MartStore(ws.marts)
    connection = duckdb.connect()
    for name in store.names():
        path = store.current_path(name)
        if path is not None:
            escaped = str(path).replace("'", "''")
            connection.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{escaped}')")
    try:
        result = connection.sql(sql)
    except duckdb.Error as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_SETUP) from None
    if result is None:
        return
    arrow = result.to_arrow_table()
    if csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(arrow, sys.stdout.buffer)
        return
    table = Table()
    for column in arrow.column_names:
        table.add_column(column)
    for row in arrow.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)
