"""Everything udc ships loads: every module imports, every packaged contract, mart
definition, purpose and p-table is read, and every command answers ``--help``."""

from __future__ import annotations

import importlib
import pkgutil

import click
import typer
from typer.testing import CliRunner

from udc.catalog.register import PACKAGED_PURPOSES, packaged_purposes
from udc.flows.cli import app
from udc.marts.cellkey import PACKAGED_PTABLES, load_ptable
from udc.marts.definitions import PACKAGED_DEFINITIONS, load_definitions
from udc.sources.contracts import load_contracts

PACKAGES = (
    "catalog", "dashboards", "flows", "marts", "pseudonymize", "quality", "sources", "workspace"
)


def test_every_module_imports():
    found = set()
    for package in PACKAGES:
        # Walked per package: an editable install's namespace path cannot be listed.
        imported = importlib.import_module(f"udc.{package}")
        found |= {m.name for m in pkgutil.walk_packages(imported.__path__, f"udc.{package}.")}
    # Alembic's env.py runs only inside alembic, which the catalog tests exercise.
    for name in sorted(found - {"udc.catalog.migrations.env"}):
        importlib.import_module(name)
    assert {"udc.flows.nightly", "udc.catalog.migrations.versions"} <= found


def test_every_packaged_contract_mart_purpose_and_ptable_loads():
    contracts = load_contracts()
    assert len(contracts) == 6
    marts = load_definitions()
    assert {p.stem for p in PACKAGED_DEFINITIONS.glob("*.toml")} == set(marts)
    for definition in marts.values():
        assert set(definition.inputs) <= set(contracts), definition.name
    purposes = packaged_purposes()
    assert {p.id for p in purposes} == {p.stem for p in PACKAGED_PURPOSES.glob("*.toml")}
    assert {d.purpose for d in marts.values()} <= {p.id for p in purposes}
    ptables = sorted(PACKAGED_PTABLES.glob("*.toml"))
    assert ptables
    for path in ptables:
        assert load_ptable(path).rows, path.name


def _commands(group: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_answers_help():
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, command
