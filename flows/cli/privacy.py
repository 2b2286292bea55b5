"""The privacy officer's commands: the register of purposes (doelbinding), the processing
log, the privacy report, and the disclosure audit and withdrawal of published marts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from udc.flows.cli.common import (
    EXIT_RUN_ERRORS,
    EXIT_SETUP,
    EXIT_USAGE,
    PRIVACY_OFFICER,
    WorkspaceOption,
    count_text,
    fail,
    friendly,
    log_app,
    marts_app,
    out,
    parse_peildatum,
    purposes_app,
    report_app,
)
from udc.workspace.layout import Workspace


@marts_app.command("unpublish", rich_help_panel=PRIVACY_OFFICER)
@friendly
def marts_unpublish(
    names: Annotated[list[str], typer.Argument(help="The marts to take out of publication.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Take marts out of publication.

    Analysts and `udc query` no longer see them; their releases stay on disk for the record.
    """
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


@marts_app.command("audit", rich_help_panel=PRIVACY_OFFICER)
@friendly
def marts_audit(
    names: Annotated[list[str] | None, typer.Argument(help="Only these marts.")] = None,
    release: Annotated[
        str | None,
        typer.Option("--release", help="The release of this peildatum (YYYYMMDD)."),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Audit the published marts for disclosure; exit 1 if a hidden cell is exposed.

    For every suppressed cell, the tightest interval an attacker derives from the published
    tables together (LP over their totals, area hierarchy and the cells marts share), and
    whether a cell is shown to hold its whole group; exit 1 if one is narrower than the
    mart's protection level or holds its whole group.
    """
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
            count_text(audit.cells),
            count_text(len(audit.intervals)),
            count_text(len(audit.exact)),
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
    """Every purpose: latest version, status, who changed it when, whether it holds today."""
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
    """Approve a purpose's pending draft.

    From the next run its sources load and its marts build.
    """
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
        since=parse_peildatum(since) if since else None,
        until=parse_peildatum(until) if until else None,
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
            count_text(e.rows),
            escape(", ".join(json.loads(e.outputs))),
        )
    out.print(table)
    out.print(f"{len(entries):,} entries.")


@log_app.command("subject")
@friendly
def log_subject(workspace: WorkspaceOption = None) -> None:
    """An access request (AVG Art. 15): which deliveries held a person, for what purposes.

    Asks for the BSN at the prompt (never as an argument, which would land in shell
    history). The BSN is not stored, logged or shown.
    """
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
    """Check the processing log against its signed checkpoints; exit 1 if it was altered.

    Recomputes the log's Merkle tree from its entries and checks every signed checkpoint:
    exit 1 if an entry was changed, removed, inserted or reordered, or a checkpoint does
    not extend the one before.
    """
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
    """Write the privacy officer's report (HTML and CSV in reports/) for a period.

    It holds the register, what ran for which purpose, what it read and published,
    refusals, quarantines, deletions, what falls due, the marts' disclosure audits and
    whether the processing log is intact.
    """
    from udc.workspace.privacy_report import write_report
    from udc.workspace.resources import open_resources

    res = open_resources(Workspace.resolve(workspace).require().root)
    last = parse_peildatum(until) if until else res.today()
    first = parse_peildatum(since) if since else last - dt.timedelta(days=30)
    if first > last:
        fail(f"--from {first:%Y%m%d} is after --to {last:%Y%m%d}")
        raise typer.Exit(EXIT_USAGE)
    page, table = write_report(res, first, last)
    out.print(f"Privacy report: {page}")
    out.print(f"As CSV:         {table}")
