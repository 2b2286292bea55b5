"""The data engineer's commands: set up a workspace, generate a city, run the flow once
(on a temporary Prefect server or your own), the demo, and serving on a schedule."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import tomllib
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from udc.flows.cli.common import (
    ENGINEER,
    EXIT_RUN_ERRORS,
    PrefectUnavailableError,
    WorkspaceOption,
    app,
    count_text,
    err,
    fail,
    friendly,
    out,
    parse_peildatum,
)
from udc.workspace.layout import Settings, Workspace, WorkspaceError

if TYPE_CHECKING:  # Prefect reads its settings at import: it is imported late.
    from prefect.task_runners import TaskRunner


@app.command(rich_help_panel=ENGINEER)
@friendly
def init(workspace: WorkspaceOption = None) -> None:
    """Create a workspace: folders, udc.toml, a fresh 256-bit master key, the catalog."""
    from udc.workspace.resources import init_workspace

    ws = Workspace.resolve(workspace)
    init_workspace(ws)
    out.print(f"Created the udc workspace in [bold]{ws.root}[/bold]")
    out.print(f"  settings: {ws.settings_file}\n  keys:     {ws.keys} (mode 0600; back them up)")
    out.print(f"  inbox:    {ws.settings().inbox}")


@app.command(rich_help_panel=ENGINEER)
@friendly
def generate(
    persons: Annotated[
        int | None,
        typer.Option(
            min=100,
            help="Residents: of the city (stad: 20,000), or of all municipalities together "
            "(regio: 200,000; land: 1,000,000, and --persons 18000000 is the national size).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="The same seed gives the same bytes.")] = 1,
    peildatum: Annotated[
        str, typer.Option(help="Reference date YYYYMMDD (default: the first of this month).")
    ] = "",
    scope: Annotated[
        Literal["stad", "regio", "land"],
        typer.Option(
            help="stad: one city (GM9999); regio: a datalab's municipalities in one province; "
            "land: the country's municipalities in its 12 provinces.",
        ),
    ] = "stad",
    gemeenten: Annotated[
        int | None,
        typer.Option(
            "--gemeenten", min=1, help="Municipalities (regio: 8; land: 342, the real number)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write one delivery of each of the six sources of a synthetic city, region or country
    into the inbox, with outlines for the dashboards' maps."""
    ws = Workspace.resolve(workspace).require()
    day = parse_peildatum(peildatum) if peildatum else dt.date.today().replace(day=1)
    if scope == "stad":
        if gemeenten is not None:
            raise typer.BadParameter("takes --scope regio or land", param_hint="--gemeenten")
        from udc.sources.synthetic import write_deliveries
        from udc.sources.synthetic.shapes import write_shapes

        persons = 20000 if persons is None else persons
        started = time.perf_counter()
        paths = write_deliveries(ws.settings().inbox, persons, seed, day)
        # The city's buurten and wijken for the dashboards' maps, where udc.toml looks first.
        outlines = write_shapes(ws.geometries_default, seed)
        out.print(
            f"Wrote {len(paths)} deliveries for {persons:,} residents, peildatum {day:%Y%m%d}, "
            f"in {time.perf_counter() - started:.1f} s:"
        )
        for path in paths:
            out.print(f"  {path}  ({path.stat().st_size:,} bytes)")
        out.print(f"Outlines of its buurten and wijken for the dashboards: {outlines}")
        return

    from rich.progress import Progress

    from udc.sources.synthetic.country import municipalities, regios_toml, write_region
    from udc.sources.synthetic.shapes import write_region_shapes

    total = persons if persons is not None else {"regio": 200_000, "land": 1_000_000}[scope]
    try:
        members = municipalities(scope, total, seed, gemeenten)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--persons / --gemeenten") from None
    settings = ws.settings()
    started = time.perf_counter()
    # Hundreds of municipalities take a while: a bar on a terminal, nothing in a log.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("Generating", total=len(members))
        paths = write_region(
            settings.inbox,
            members,
            seed,
            day,
            progress=lambda municipality, _: bar.update(
                task, advance=1, description=escape(municipality.name)
            ),
        )
    outlines = write_region_shapes(ws.geometries_default, members, seed)
    out.print(
        f"Wrote {len(paths):,} deliveries of {len(members)} municipalities "
        f"({total:,} residents), peildatum {day:%Y%m%d}, in "
        f"{time.perf_counter() - started:.1f} s, into {settings.inbox}, named "
        f"<source>/<source>_<GMcode>_{day:%Y%m%d}.csv"
    )
    if len(members) <= 12:
        for m in members:
            out.print(f"  {m.code} {escape(m.name)}: {m.residents:,} residents")
    out.print(f"Outlines of their gemeenten, wijken and buurten for the dashboards: {outlines}")
    text = ws.settings_file.read_text(encoding="utf-8")
    declared = tomllib.loads(text).get("regios")
    if declared is None:
        tables = regios_toml(members, scope)
        ws.settings_file.write_text(
            text + ("" if text.endswith("\n") else "\n") + "\n" + tables, encoding="utf-8"
        )
        regios = tables.count("[regios.")
        kind = "regio" if scope == "regio" else "regios (the provinces)"
        out.print(f"Declared {regios} {kind} in {ws.settings_file}")
    else:
        listed = {g for regio in declared.values() for g in regio.get("gemeenten", [])}
        outside = [m.code for m in members if m.code not in listed]
        out.print(escape(f"{ws.settings_file} already declares [regios]; left as it is."))
        if outside:
            err.print(
                f"[yellow]warning:[/yellow] {len(outside)} generated gemeenten are in no "
                f"regio there (e.g. {outside[0]})"
            )


def prefect_environment(ws: Workspace) -> None:
    """Settings Prefect reads at import: its home in the workspace, nothing persisted."""
    os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # A local Dask cluster's start-up lines would fill the console between the tables.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def _require_server(api_url: str) -> None:
    import httpx

    try:
        httpx.get(f"{api_url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectUnavailableError(
            f"the Prefect server at {api_url} does not answer ({type(exc).__name__}); start it "
            "with `prefect server start` or unset [prefect] api_url to use a temporary one"
        ) from None


def _task_runner(settings: Settings, ws: Workspace) -> TaskRunner:
    """The flow's task runner; a named Dask scheduler must answer first (one line, exit 3)."""
    from udc.flows.runners import require_scheduler, task_runner

    if settings.runner == "dask" and settings.dask_address:
        require_scheduler(settings.dask_address)
    return task_runner(settings, ws)


def run_nightly(ws: Workspace) -> tuple[dict, float | None]:
    """Run the flow once; returns its summary and the temporary server's start-up seconds."""
    from udc.workspace.resources import open_resources

    resources = open_resources(ws.root)
    resources.check_key()
    prefect_environment(ws)
    resources.check_contracts()
    api_url = ws.settings().prefect_api_url
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from udc.flows.nightly import nightly

    nightly = nightly.with_options(task_runner=_task_runner(ws.settings(), ws))
    # The run's log lines still go to the Prefect API; on the terminal the summary and the
    # error lines below say the same without timestamps and task names.
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).propagate = False
    if api_url:
        _require_server(api_url)
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            return nightly(str(ws.root)), None
    from udc.flows.server import ServerStartError, temporary_server

    err.print(
        escape("Starting a temporary Prefect server (set [prefect] api_url to use your own)...")
    )
    started = time.perf_counter()
    try:
        with temporary_server(ws.prefect_home / "server.log") as api:
            startup = time.perf_counter() - started
            with temporary_settings(updates={PREFECT_API_URL: api}):
                return nightly(str(ws.root)), startup
    except ServerStartError as exc:
        raise PrefectUnavailableError(
            f"the temporary Prefect server did not start: {exc}; configure [prefect] api_url "
            "to use a running server"
        ) from None


# More deliveries than this (a region of many municipalities) are summed per source,
# peildatum and status; `udc quality show` lists each.
LISTED_DELIVERIES = 40


def _deliveries_table(deliveries: list[dict]) -> Table:
    counted = ("rows", "rows_rejected", "warnings")
    table = Table(title="Deliveries", title_justify="left")
    if len(deliveries) > LISTED_DELIVERIES:
        for column in ("source", "peildatum", "status", "files", "rows", "rejected", "warnings"):
            table.add_column(column)
        groups: dict[tuple[str, str, str], list[dict]] = {}
        for d in deliveries:
            groups.setdefault((d["source"], d["peildatum"] or "-", d["status"]), []).append(d)
        for (source, peildatum, status), found in sorted(groups.items()):
            sums = [sum(d[k] or 0 for d in found) if any(d[k] is not None for d in found)
                    else None for k in counted]  # fmt: skip
            table.add_row(source, peildatum, status, f"{len(found):,}", *map(count_text, sums))
        return table
    named = any(d.get("gemeente") for d in deliveries)
    for column in ("source", *(["gemeente"] if named else []), "peildatum", "status"):
        table.add_column(column)
    for column in ("rows", "rejected", "warnings"):
        table.add_column(column)
    for d in deliveries:
        table.add_row(
            d["source"],
            *([d.get("gemeente") or "-"] if named else []),
            d["peildatum"] or "-",
            d["status"],
            *(count_text(d[k]) for k in counted),
        )
    return table


def _print_summary(ws: Workspace, summary: dict, site_line: bool = True) -> bool:
    if summary.get("busy"):
        fail(summary["busy"])
        return False
    deliveries, marts = summary["deliveries"], summary["marts"]
    if deliveries:
        out.print(_deliveries_table(deliveries))
    else:
        out.print("The inbox was empty.")
    table = Table(title="Marts", title_justify="left")
    for column in ("mart", "peildatum", "status", "cells", "suppressed"):
        table.add_column(column)
    for m in marts:
        table.add_row(
            m["mart"],
            m["peildatum"] or "-",
            m["status"],
            count_text(m["cells"]),
            count_text(m["suppressed"]),
        )
    out.print(table)
    for m in marts:
        if m["status"] in ("published", "unchanged") and "waits for" in (m["message"] or ""):
            err.print(f"[yellow]note:[/yellow] {escape(m['message'])}")
    rows = sum(d["rows"] or 0 for d in deliveries)
    suppressed = sum(m["suppressed"] or 0 for m in marts if m["status"] == "published")
    published = sum(m["status"] == "published" for m in marts)
    out.print(
        f"{len(deliveries)} deliveries, {rows:,} rows; {published} marts published, "
        f"{suppressed:,} cells suppressed."
    )
    cross_checks = summary.get("cross_checks") or {"checks": [], "reports": [], "status": ""}
    findings = [c for c in cross_checks["checks"] if c["status"] == "findings"]
    if cross_checks["checks"]:
        out.print(
            f"Cross-checks (internal, for the data steward): {len(cross_checks['checks'])} run, "
            f"{len(findings)} with findings."
        )
    out.print(f"Marts:    {ws.marts}")
    site = summary.get("dashboards") or {"status": "", "index": None, "warnings": []}
    if site["index"] and site_line:
        out.print(f"Dashboards: {site['index']}  (`udc dashboard serve` shows them on localhost)")
    for warning in site["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    out.print(f"Feedback: {ws.feedback}")
    for report in cross_checks["reports"]:
        out.print(f"Internal: {report}")
    out.print(f"Catalog:  {ws.settings().database_url}")
    logged = summary.get("processing_log") or {"status": "", "message": ""}
    if logged["status"] == "written":
        out.print(
            f"Processing log: {logged['entries']} entries added, {logged['size']} in all, "
            "signed (`udc log verify`)."
        )
    problems = [d["message"] for d in deliveries if d["status"] in ("quarantined", "failed")]
    problems += [m["message"] for m in marts if m["status"] in ("failed", "refused")]
    if cross_checks["status"] == "failed":
        problems.append(cross_checks["message"])
    if logged["status"] == "failed":
        problems.append(logged["message"])
    retention = summary.get("retention") or {"status": "", "deleted": 0, "message": ""}
    if retention["deleted"]:
        out.print(f"Retention: {retention['deleted']} expired item(s) deleted and logged.")
    if retention["status"] == "failed":
        problems.append(retention["message"])
    if site["status"] == "failed":
        problems.append(site["message"])
    for message in problems:
        fail(message)
    return not problems


@app.command(rich_help_panel=ENGINEER)
@friendly
def run(workspace: WorkspaceOption = None) -> None:
    """Process everything in the inbox once (one Prefect flow run) and publish changed marts."""
    ws = Workspace.resolve(workspace).require()
    summary, _ = run_nightly(ws)
    if not _print_summary(ws, summary):
        raise typer.Exit(EXIT_RUN_ERRORS)


@app.command(rich_help_panel=ENGINEER)
@friendly
def demo(
    persons: Annotated[int, typer.Option(min=1000, help="Residents of the city.")] = 50000,
    seed: Annotated[int, typer.Option()] = 1,
    workspace: WorkspaceOption = None,
) -> None:
    """init + generate + run on embedded defaults (SQLite, a temporary Prefect server)."""
    from udc.sources.synthetic import write_deliveries
    from udc.sources.synthetic.shapes import write_shapes
    from udc.workspace.resources import init_workspace

    ws = Workspace.resolve(workspace)
    init_workspace(ws)
    out.print(f"Workspace: {ws.root}")
    day = dt.date.today().replace(day=1)
    paths = write_deliveries(ws.settings().inbox, persons, seed, day)
    write_shapes(ws.geometries_default, seed)
    out.print(f"Generated {len(paths)} deliveries for a city of {persons:,} residents.")
    summary, _ = run_nightly(ws)
    ok = _print_summary(ws, summary, site_line=False)
    out.print(f'Try: udc query -w {ws.root} "select * from bevolking_buurt limit 10"')
    site = summary.get("dashboards") or {}
    if site.get("index"):
        out.print(f"Dashboards: {site['index']}  (open it in a browser, or "
                  f"`udc dashboard serve -w {ws.root}`)")
    if not ok:
        raise typer.Exit(EXIT_RUN_ERRORS)


@app.command(rich_help_panel=ENGINEER)
@friendly
def serve(workspace: WorkspaceOption = None) -> None:
    """Serve the nightly flow on its cron schedule (udc.toml) against a Prefect server."""
    ws = Workspace.resolve(workspace).require()
    settings = ws.settings()
    if settings.prefect_api_url:
        _require_server(settings.prefect_api_url)
    else:
        raise WorkspaceError(
            "udc serve needs a running Prefect server: start one with `prefect server start` "
            "and set PREFECT_API_URL (or [prefect] api_url in udc.toml), e.g. "
            "http://127.0.0.1:4200/api"
        )
    prefect_environment(ws)
    from udc.workspace.resources import open_resources

    open_resources(ws.root).check_contracts()
    from prefect.schedules import Cron
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from udc.flows.nightly import nightly

    nightly = nightly.with_options(task_runner=_task_runner(settings, ws))
    out.print(
        f"Serving udc-nightly for {ws.root} at '{settings.cron}' ({settings.timezone}) "
        f"against {settings.prefect_api_url}; stop with Ctrl-C."
    )
    with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
        nightly.serve(
            name=f"udc-nightly-{ws.root.name}",
            schedules=[Cron(settings.cron, timezone=settings.timezone)],
            parameters={"workspace": str(ws.root)},
        )
