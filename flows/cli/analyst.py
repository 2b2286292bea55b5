"""The analyst's commands: which marts are published, one mart's metadata, and SQL over
them."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from udc.flows.cli.common import (
    ANALYST,
    EXIT_SETUP,
    WorkspaceOption,
    app,
    dashboard_app,
    err,
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


def _print_site(outcome) -> None:
    out.print(f"Dashboards: {outcome.site.index}")
    for page in outcome.site.pages:
        maps = ", ".join(page.mapped_levels) or "no map"
        out.print(f"  {page.mart}: {page.page.name} ({maps}), {page.csv.name} for Excel")
    for warning in outcome.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")


@dashboard_app.command("build", rich_help_panel=ANALYST)
@friendly
def dashboard_build(workspace: WorkspaceOption = None) -> None:
    """Rebuild the dashboard site (dashboards/current/) from the published marts."""
    from udc.workspace.dashboards import build_dashboards

    ws = Workspace.resolve(workspace).require()
    _print_site(build_dashboards(ws))


@dashboard_app.command("serve", rich_help_panel=ANALYST)
@friendly
def dashboard_serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 8050,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the dashboard site on http://127.0.0.1:<port>/ for a local look (Ctrl-C stops)."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    ws = Workspace.resolve(workspace).require()
    current = ws.dashboards / "current"
    if not (current / "index.html").is_file():
        fail(f"no dashboard site in {ws.dashboards}; run `udc dashboard build` (or `udc run`)")
        raise typer.Exit(EXIT_SETUP)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # a local look needs no access log on the terminal

    # Through the `current` link, so that a rebuild shows up on the next page load.
    handler = functools.partial(Quiet, directory=str(current))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port")
        raise typer.Exit(EXIT_SETUP) from None
    out.print(f"Dashboards on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
