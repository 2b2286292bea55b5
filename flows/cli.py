"""The ``udc`` command line.

Exit codes: 0 success; 1 the run finished but a delivery was quarantined or a mart
could not be published; 2 wrong usage; 3 the workspace, configuration or keys are not
in order (the message says what to do).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from udc.catalog.register import RegisterError
from udc.catalog.store import CatalogError
from udc.pseudonymize.keys import KeyStoreError
from udc.sources.contracts import ContractError
from udc.workspace.layout import Workspace, WorkspaceError

app = typer.Typer(
    help="udc: a privacy-preserving data pipeline for an Urban Data Center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
marts_app = typer.Typer(
    help="What is published: list, show, audit, unpublish.", no_args_is_help=True
)
app.add_typer(marts_app, name="marts")
quality_app = typer.Typer(help="Deliveries and their verdicts: show, report.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")
purposes_app = typer.Typer(
    help="The register of processing purposes (doelbinding): list, show, add, approve, withdraw.",
    no_args_is_help=True,
)
app.add_typer(purposes_app, name="purposes")
log_app = typer.Typer(help="The processing log: show, verify, subject.", no_args_is_help=True)
app.add_typer(log_app, name="log")
report_app = typer.Typer(help="Reports: privacy.", no_args_is_help=True)
app.add_typer(report_app, name="report")

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


def _peildatum(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in the form YYYYMMDD") from None


@app.command()
@friendly
def init(workspace: WorkspaceOption = None) -> None:
    """Create a workspace: folders, udc.toml, a fresh 256-bit master key, the catalog."""
    from udc.workspace.resources import init_workspace

    ws = Workspace.resolve(workspace)
    init_workspace(ws)
    out.print(f"Created the udc workspace in [bold]{ws.root}[/bold]")
    out.print(f"  settings: {ws.settings_file}\n  keys:     {ws.keys} (mode 0600; back them up)")
    out.print(f"  inbox:    {ws.settings().inbox}")


@app.command()
@friendly
def generate(
    persons: Annotated[int, typer.Option(min=100, help="Residents of the synthetic city.")] = 20000,
    seed: Annotated[int, typer.Option(help="The same seed gives the same bytes.")] = 1,
    peildatum: Annotated[
        str, typer.Option(help="Reference date YYYYMMDD (default: the first of this month).")
    ] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Write one delivery of each of the six sources of a synthetic city into the inbox."""
    from udc.sources.synthetic import write_deliveries

    ws = Workspace.resolve(workspace).require()
    day = _peildatum(peildatum) if peildatum else dt.date.today().replace(day=1)
    started = time.perf_counter()
    paths = write_deliveries(ws.settings().inbox, persons, seed, day)
    out.print(
        f"Wrote {len(paths)} deliveries for {persons:,} residents, peildatum {day:%Y%m%d}, "
        f"in {time.perf_counter() - started:.1f} s:"
    )
    for path in paths:
        out.print(f"  {path}  ({path.stat().st_size:,} bytes)")


def prefect_environment(ws: Workspace) -> None:
    """Settings Prefect reads at import: its home in the workspace, nothing persisted."""
    os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _require_server(api_url: str) -> None:
    import httpx

    try:
        httpx.get(f"{api_url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectUnavailableError(
            f"the Prefect server at {api_url} does not answer ({type(exc).__name__}); start it "
            "with `prefect server start` or unset [prefect] api_url to use a temporary one"
        ) from None


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


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _print_summary(ws: Workspace, summary: dict) -> bool:
    if summary.get("busy"):
        fail(summary["busy"])
        return False
    deliveries, marts = summary["deliveries"], summary["marts"]
    table = Table(title="Deliveries", title_justify="left")
    for column in ("source", "peildatum", "status", "rows", "rejected", "warnings"):
        table.add_column(column)
    for d in deliveries:
        table.add_row(
            d["source"],
            d["peildatum"] or "-",
            d["status"],
            *(_count(d[k]) for k in ("rows", "rows_rejected", "warnings")),
        )
    if deliveries:
        out.print(table)
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
            _count(m["cells"]),
            _count(m["suppressed"]),
        )
    out.print(table)
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
    for message in problems:
        fail(message)
    return not problems


@app.command()
@friendly
def run(workspace: WorkspaceOption = None) -> None:
    """Process everything in the inbox once (one Prefect flow run) and publish changed marts."""
    ws = Workspace.resolve(workspace).require()
    summary, _ = run_nightly(ws)
    if not _print_summary(ws, summary):
        raise typer.Exit(EXIT_RUN_ERRORS)


@app.command()
@friendly
def demo(
    persons: Annotated[int, typer.Option(min=1000, help="Residents of the city.")] = 50000,
    seed: Annotated[int, typer.Option()] = 1,
    workspace: WorkspaceOption = None,
) -> None:
    """init + generate + run on embedded defaults (SQLite, a temporary Prefect server)."""
    from udc.sources.synthetic import write_deliveries
    from udc.workspace.resources import init_workspace

    ws = Workspace.resolve(workspace)
    init_workspace(ws)
    out.print(f"Workspace: {ws.root}")
    day = dt.date.today().replace(day=1)
    paths = write_deliveries(ws.settings().inbox, persons, seed, day)
    out.print(f"Generated {len(paths)} deliveries for a city of {persons:,} residents.")
    summary, _ = run_nightly(ws)
    ok = _print_summary(ws, summary)
    out.print(f'Try: udc query -w {ws.root} "select * from bevolking_buurt limit 10"')
    if not ok:
        raise typer.Exit(EXIT_RUN_ERRORS)


@marts_app.command("list")
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


@marts_app.command("show")
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


@marts_app.command("unpublish")
@friendly
def marts_unpublish(
    names: Annotated[list[str], typer.Argument(help="The marts to take out of publication.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Take marts out of publication (analysts and `udc query` no longer see them); their
    releases stay on disk for the record."""
    from udc.marts.publish import MartStore

    ws = Workspace.resolve(workspace).require()
    store = MartStore(ws.marts)
    missing = [name for name in names if store.current(name) is None]
    if missing:
        fail(f"not published: {', '.join(missing)}; see `udc marts list`")
        raise typer.Exit(EXIT_SETUP)
    for name in names:
        store.unpublish(name)
    out.print(f"Taken out of publication: {', '.join(names)}.")


@marts_app.command("audit")
@friendly
def marts_audit(
    names: Annotated[list[str] | None, typer.Argument(help="Only these marts.")] = None,
    release: Annotated[
        str | None,
        typer.Option("--release", help="The release of this peildatum (YYYYMMDD)."),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """For every suppressed cell, the tightest interval an attacker derives from the published
    tables together (LP over their totals, area hierarchy and the cells marts share), and
    whether a cell is shown to hold its whole group; exit 1 if one is narrower than the
    mart's protection level or holds its whole group."""
    from udc.marts.audit import audit_published, audit_records, declared_groups, declared_links
    from udc.workspace.resources import open_resources

    ws = Workspace.resolve(workspace).require()
    resources = open_resources(ws.root)
    store = resources.store
    unknown = sorted(set(names or ()) - set(store.names()))
    if unknown:
        fail(f"no published mart named {', '.join(unknown)}; see `udc marts list`")
        raise typer.Exit(EXIT_SETUP)
    peildatum = None
    if release is not None:
        try:
            peildatum = dt.datetime.strptime(release, "%Y%m%d").date()
        except ValueError:
            fail(f"--release {release!r} is not a peildatum YYYYMMDD")
            raise typer.Exit(EXIT_USAGE) from None
    audits, release_ids = audit_published(
        store, declared_links(resources.marts), declared_groups(resources.marts), names, peildatum
    )
    if not release_ids:
        fail(f"no published release of peildatum {release}; see `udc marts list`")
        raise typer.Exit(EXIT_SETUP)
    resources.catalog.add_audits(audit_records(audits, release_ids))
    table = Table(title="Disclosure audit of the published marts", title_justify="left")
    columns = ("mart", "measure", "cells", "suppressed", "exact", "too narrow", "min width",
               "whole group")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for audit in audits:
        width = audit.min_width
        table.add_row(
            audit.mart,
            audit.measure,
            _count(audit.cells),
            _count(len(audit.intervals)),
            _count(len(audit.exact)),
            f"{len(audit.too_narrow):,} (< {audit.required_width})",
            "-" if width is None else "unbounded" if width == float("inf") else f"{width:g}",
            f"{len(audit.whole_groups):,} of {len(audit.groups):,}" if audit.groups else "-",
        )
    out.print(table)
    narrow = sum(len(a.too_narrow) for a in audits)
    whole = sum(len(a.whole_groups) for a in audits)
    if narrow:
        fail(
            f"{narrow:,} suppressed cells can be narrowed down to less than their protection "
            "level from the published tables; do not share these releases further"
        )
    if whole:
        fail(
            f"{whole:,} cells are shown to hold their whole group (everyone in it shares the "
            "cell's value); do not share these releases further"
        )
    if narrow or whole:
        raise typer.Exit(EXIT_RUN_ERRORS)
    out.print(
        "Every suppressed cell keeps an interval of at least its protection level, and no cell "
        "is shown to hold its whole group."
    )


ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who makes the change (default: your login).", show_default=False),
]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Why: kept with the version.", show_default=False)
]


def _who(by: str | None) -> str:
    import getpass

    return by or getpass.getuser()


@purposes_app.command("list")
@friendly
def purposes_list(workspace: WorkspaceOption = None) -> None:
    """Every purpose: its latest version, its status, who changed it when, and whether it
    holds today."""
    from udc.catalog.register import PurposeSpec
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    in_force = res.catalog.purposes_in_force(res.today())
    table = Table(title="Register of processing purposes", title_justify="left")
    for column in ("purpose", "version", "status", "by", "at", "holds today", "marts"):
        table.add_column(column)
    for row in res.catalog.purposes():
        spec = PurposeSpec.from_json(row.spec)
        held = in_force.get(row.purpose_id)
        table.add_row(
            row.purpose_id,
            str(row.version),
            row.status,
            row.changed_by,
            f"{row.changed_at:%Y-%m-%d %H:%M}",
            f"yes (version {held[1].version})" if held else "no",
            ", ".join(spec.marts) or "-",
        )
    out.print(table)


@purposes_app.command("show")
@friendly
def purposes_show(
    purpose: str,
    version: Annotated[int | None, typer.Option(help="An earlier version.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """One purpose as the register holds it (GDPR Art. 30), and its history."""
    from udc.catalog.register import PurposeSpec
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    versions = res.catalog.purpose_versions(purpose)
    if not versions:
        fail(f"no purpose {purpose!r} in the register; see `udc purposes list`")
        raise typer.Exit(EXIT_SETUP)
    chosen = versions[-1] if version is None else next(
        (v for v in versions if v.version == version), None
    )  # fmt: skip
    if chosen is None:
        fail(f"{purpose} has versions 1 to {versions[-1].version}, not {version}")
        raise typer.Exit(EXIT_USAGE)
    spec = json.loads(PurposeSpec.from_json(chosen.spec).to_json())
    out.print_json(json.dumps({"version": chosen.version, "status": chosen.status} | spec))
    history = Table(title="History", title_justify="left")
    for column in ("version", "status", "by", "at", "note"):
        history.add_column(column)
    for v in versions:
        history.add_row(
            str(v.version), v.status, v.changed_by, f"{v.changed_at:%Y-%m-%d %H:%M}", v.note or ""
        )
    out.print(history)


@purposes_app.command("add")
@friendly
def purposes_add(
    file: Annotated[Path, typer.Argument(help="The purpose as TOML (see catalog/purposes/).")],
    by: ByOption = None,
    note: NoteOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Register a purpose, or a change to one, as a draft awaiting approval."""
    from udc.catalog.register import load_purpose
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    row = res.catalog.add_purpose(load_purpose(file), _who(by), note)
    out.print(
        f"{row.purpose_id}: version {row.version} registered as a draft; it holds once the "
        f"privacy officer runs `udc purposes approve {row.purpose_id}`."
    )


@purposes_app.command("approve")
@friendly
def purposes_approve(
    purpose: str, by: ByOption = None, note: NoteOption = None, workspace: WorkspaceOption = None
) -> None:
    """Approve a purpose's pending draft: from the next run its sources load and its marts
    build."""
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    row = res.catalog.approve_purpose(purpose, _who(by), note)
    out.print(f"{purpose}: version {row.version} approved by {row.changed_by}.")


@purposes_app.command("withdraw")
@friendly
def purposes_withdraw(
    purpose: str,
    reason: Annotated[str, typer.Option("--reason", help="Why: kept with the version.")],
    unpublish: Annotated[
        bool, typer.Option(help="Also take the purpose's published marts out of publication.")
    ] = False,
    by: ByOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Withdraw a purpose: its marts are no longer rebuilt, and nothing is loaded for it."""
    from udc.catalog.register import PurposeSpec
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    row = res.catalog.withdraw_purpose(purpose, _who(by), reason)
    out.print(f"{purpose}: withdrawn (version {row.version}); its marts are no longer rebuilt.")
    marts = sorted(
        set(PurposeSpec.from_json(row.spec).marts)
        | {d.name for d in res.marts.values() if d.purpose == purpose}
    )
    published = [name for name in marts if res.store.current(name) is not None]
    if not published:
        return
    if unpublish:
        for name in published:
            res.store.unpublish(name)
        out.print(f"Taken out of publication: {', '.join(published)}.")
    else:
        out.print(
            f"Still published: {', '.join(published)}. Take them out of publication with "
            f"`udc marts unpublish {' '.join(published)}`."
        )


@log_app.command("show")
@friendly
def log_show(
    run: Annotated[str | None, typer.Option("--run", help="One run (its trace id).")] = None,
    purpose: Annotated[str | None, typer.Option(help="Steps that served this purpose.")] = None,
    source: Annotated[str | None, typer.Option(help="Steps on this source.")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="From this day (YYYYMMDD).", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Up to this day (YYYYMMDD).", show_default=False)
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="ok, warning, refused or failed.", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The processing log's entries, oldest first, filtered."""
    from udc.catalog.processing_log import ProcessingLog
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    entries = ProcessingLog(res.catalog).entries(
        trace_id=run,
        purpose=purpose,
        source=source,
        since=_peildatum(since) if since else None,
        until=_peildatum(until) if until else None,
        status=status,
    )
    table = Table(title="Processing log", title_justify="left")
    for column in ("#", "run", "step", "started (UTC)", "seconds", "status", "purposes",
                   "source", "rows", "outputs"):  # fmt: skip
        table.add_column(column)
    for e in entries:
        took = (e.ended_at - e.started_at).total_seconds()
        table.add_row(
            str(e.seq),
            e.trace_id[:8],
            e.name,
            f"{e.started_at:%Y-%m-%d %H:%M:%S}",
            f"{took:.2f}",
            e.status,
            ", ".join(json.loads(e.purposes)),
            e.source or "",
            _count(e.rows),
            escape(", ".join(json.loads(e.outputs))),
        )
    out.print(table)
    out.print(f"{len(entries):,} entries.")


@log_app.command("subject")
@friendly
def log_subject(workspace: WorkspaceOption = None) -> None:
    """An access request (AVG Art. 15): asks for a BSN at the prompt (never as an argument,
    which would land in shell history) and lists the deliveries that held that person and
    the purposes that processed them. The BSN is not stored, logged or shown."""
    from udc.catalog.processing_log import ProcessingLog
    from udc.pseudonymize.bsn import is_valid_bsn
    from udc.pseudonymize.hashing import holds_subject, subject_digest
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    bsn = typer.prompt("BSN", hide_input=True).strip()
    if not is_valid_bsn(bsn):
        fail("that is not a valid BSN (9 digits passing the 11-check); nothing was looked up")
        raise typer.Exit(EXIT_USAGE)
    digest = subject_digest(bsn, res.log_subject_key())
    deliveries = res.catalog.deliveries_holding(lambda digests: holds_subject(digests, digest))
    if not deliveries:
        out.print("No loaded delivery holds this person.")
        return
    table = Table(title="Deliveries that held this person", title_justify="left")
    for column in ("source", "peildatum", "received", "status"):
        table.add_column(column)
    for d in deliveries:
        table.add_row(d.source, f"{d.peildatum:%Y%m%d}", f"{d.received_at:%Y-%m-%d}", d.status)
    out.print(table)
    hashes = {d.sha256 for d in deliveries}
    used = Table(title="What processed them", title_justify="left")
    for column in ("step", "when (UTC)", "purposes", "source", "outputs"):
        used.add_column(column)
    for e in ProcessingLog(res.catalog).entries():
        if e.name in ("receive", "load", "aggregate", "publish") and any(
            h in item for item in json.loads(e.inputs) for h in hashes
        ):
            used.add_row(
                e.name,
                f"{e.started_at:%Y-%m-%d %H:%M}",
                ", ".join(json.loads(e.purposes)),
                e.source or "",
                escape(", ".join(json.loads(e.outputs))),
            )
    out.print(used)


@log_app.command("verify")
@friendly
def log_verify(workspace: WorkspaceOption = None) -> None:
    """Recompute the log's Merkle tree from its entries and check every signed checkpoint:
    exit 1 if an entry was changed, removed, inserted or reordered, or a checkpoint does
    not extend the one before."""
    from udc.catalog.processing_log import ProcessingLog
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    result = ProcessingLog(res.catalog).verify(res.keys.log_signing_key().public_key())
    for problem in result.problems:
        fail(problem)
    if not result.intact:
        raise typer.Exit(EXIT_RUN_ERRORS)
    out.print(
        f"The processing log is intact: {result.entries:,} entries, {result.checkpoints} "
        f"signed checkpoints; {result.unsigned} entries after the last checkpoint."
    )


@report_app.command("privacy")
@friendly
def report_privacy(
    since: Annotated[
        str | None,
        typer.Option("--from", help="First day, YYYYMMDD (default: 30 days ago)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", help="Last day, YYYYMMDD (default: today)."),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The privacy officer's report, HTML and CSV in reports/: the register, what ran for
    which purpose, what it read and published, refusals, quarantines, deletions, what falls
    due, the marts' disclosure audits and whether the processing log is intact."""
    from udc.workspace.privacy_report import write_report
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    last = _peildatum(until) if until else res.today()
    first = _peildatum(since) if since else last - dt.timedelta(days=30)
    if first > last:
        fail(f"--from {first:%Y%m%d} is after --to {last:%Y%m%d}")
        raise typer.Exit(EXIT_USAGE)
    page, table = write_report(res, first, last)
    out.print(f"Privacy report: {page}")
    out.print(f"As CSV:         {table}")


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
            _count(d.rows),
            _count(d.rows_rejected),
            share,
            _count(d.warnings),
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
    workspace: WorkspaceOption = None,
) -> None:
    """Where the feedback report (terugmelding) of a delivery is."""
    from udc.workspace.resources import open_resources

    day = _peildatum(peildatum)
    catalog = open_resources(Workspace.resolve(workspace).require().root).catalog
    found = [d for d in catalog.deliveries(source) if d.peildatum == day and d.feedback_path]
    if not found:
        fail(f"no delivery of {source} for peildatum {peildatum}; see `udc quality show`")
        raise typer.Exit(EXIT_SETUP)
    html_path = Path(found[-1].feedback_path)
    out.print(f"{html_path}\n{html_path.with_suffix('.csv')}", soft_wrap=True)


@app.command()
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


@app.command()
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
