"""The register of purposes from the command line, and what it allows the nightly flow to
build (no Prefect server needed)."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

from udc.catalog.models import PurposeVersion
from udc.catalog.register import PACKAGED_PURPOSES, packaged_purposes
from udc.flows.cli import app
from udc.marts.definitions import load_definitions
from udc.marts.publish import MartStore
from udc.workspace.publish import purpose_refusal

runner = CliRunner()
MARTS = load_definitions()


def udc(workspace, *args: str):
    return runner.invoke(app, [*args, "--workspace", str(workspace)])


def test_a_new_workspace_holds_the_default_purposes_approved(tmp_path):
    workspace = tmp_path / "ws"
    assert udc(workspace, "init").exit_code == 0
    listed = udc(workspace, "purposes", "list")
    assert listed.exit_code == 0, listed.output
    for purpose in ("kerncijfers_bevolking", "minimabeleid", "veiligheid", "datakwaliteit"):
        assert purpose in listed.output
    assert listed.output.count("yes (version 2)") == 6
    shown = udc(workspace, "purposes", "show", "minimabeleid")
    assert shown.exit_code == 0, shown.output
    assert '"legal_basis": "AVG art. 6 lid 1 sub e; Participatiewet' in shown.output
    assert "udc (standaardconfiguratie)" in shown.output


def test_a_change_is_a_draft_until_approved_and_a_withdrawal_can_unpublish(tmp_path):
    workspace = tmp_path / "ws"
    udc(workspace, "init")
    changed = tmp_path / "minimabeleid.toml"
    changed.write_text(
        (PACKAGED_PURPOSES / "minimabeleid.toml").read_text().replace(
            "retention_months = 24", "retention_months = 12"
        )
    )
    added = udc(workspace, "purposes", "add", str(changed), "--by", "data-engineer")
    assert added.exit_code == 0, added.output
    assert "version 3 registered as a draft" in added.output
    again = udc(workspace, "purposes", "add", str(changed))
    assert again.exit_code == 3 and "version 3 (draft) is the same" in again.output
    approved = udc(workspace, "purposes", "approve", "minimabeleid", "--by", "fg", "--note", "ok")
    assert approved.exit_code == 0 and "version 4 approved by fg" in approved.output
    old = udc(workspace, "purposes", "show", "minimabeleid", "--version", "2")
    assert '"retention_months": 24' in old.output
    # A published mart of the purpose: withdrawing offers to unpublish it.
    store = MartStore(workspace / "marts")
    store.publish("bijstand_buurt", _frame(), _metadata())
    withdrawn = udc(workspace, "purposes", "withdraw", "minimabeleid", "--reason", "einde project")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert "udc marts unpublish bijstand_buurt" in withdrawn.output
    assert store.current("bijstand_buurt") is not None
    unpublished = udc(workspace, "marts", "unpublish", "bijstand_buurt")
    assert unpublished.exit_code == 0 and store.current("bijstand_buurt") is None
    assert (workspace / "marts" / "bijstand_buurt" / "releases").is_dir()  # kept for the record
    twice = udc(workspace, "purposes", "withdraw", "minimabeleid", "--reason", "x")
    assert twice.exit_code == 3 and "withdrawn already" in twice.output
    assert "Traceback" not in twice.output


def test_withdraw_with_unpublish_takes_the_marts_out_at_once(tmp_path):
    workspace = tmp_path / "ws"
    udc(workspace, "init")
    store = MartStore(workspace / "marts")
    store.publish("incidenten_buurt_maand", _frame(), _metadata())
    result = udc(
        workspace, "purposes", "withdraw", "veiligheid", "--reason", "x", "--unpublish"
    )
    assert result.exit_code == 0, result.output
    assert "Taken out of publication: incidenten_buurt_maand" in result.output
    assert store.current("incidenten_buurt_maand") is None


def test_a_bad_purpose_file_gets_one_line(tmp_path):
    workspace = tmp_path / "ws"
    udc(workspace, "init")
    bad = tmp_path / "x.toml"
    bad.write_text('id = "x_doel"\nname = "X"\n')
    result = udc(workspace, "purposes", "add", str(bad))
    assert result.exit_code == 3
    assert "x_doel.controller must be a non-empty text" in result.output
    assert "Traceback" not in result.output


def _frame():
    import polars as pl

    return pl.DataFrame({"gebiedscode": ["GM9999"], "n": [1]})


def _metadata() -> dict:
    return {
        "udc.purpose": "minimabeleid", "udc.peildatum": "2026-11-01", "udc.min_cell_size": 10,
        "udc.dimensions": [], "udc.measures": ["n"], "udc.deliveries": [],
        "udc.key_fingerprint": "f",
    }  # fmt: skip


def in_force(*purposes):
    specs = {p.id: p for p in packaged_purposes()}
    return {p: (specs[p], PurposeVersion(purpose_id=p, version=2)) for p in purposes}


def test_a_mart_needs_its_purpose_in_force_naming_it_and_allowing_its_columns():
    bijstand = MARTS["bijstand_buurt"]
    assert purpose_refusal(bijstand, in_force("minimabeleid")) == ""
    assert "its purpose 'minimabeleid' is not approved and in force" in purpose_refusal(
        bijstand, in_force("veiligheid")
    )
    other = dataclasses.replace(bijstand, name="bijstand_wijk")
    assert "does not name this mart" in purpose_refusal(other, in_force("minimabeleid"))
    brp = (*bijstand.inputs["brp"], "geslachtsaanduiding")
    reads_more = dataclasses.replace(bijstand, inputs={**bijstand.inputs, "brp": brp})
    assert purpose_refusal(reads_more, in_force("minimabeleid")) == (
        "bijstand_buurt: refused: it reads brp.geslachtsaanduiding, which purpose minimabeleid "
        "(version 2) does not allow"
    )
