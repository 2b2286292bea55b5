"""Which package may import which (docs/developers.md): domain packages stay free of
Prefect and of one another where the table says so; nothing imports the wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "pseudonymize": set(),
    "catalog": set(),
    "marts": set(),
    "dashboards": {"marts"},
    "sources": {"pseudonymize"},
    "quality": {"sources", "pseudonymize"},
    "workspace": {"pseudonymize", "catalog", "marts", "sources", "quality", "dashboards"},
    "flows": {
        "pseudonymize", "catalog", "marts", "sources", "quality", "workspace", "dashboards"
    },
}


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found |= {name for name in names if name == "prefect" or name.startswith("prefect.")}
        found |= {name.split(".")[1] for name in names if name.startswith("udc.")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_table_allows(package):
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        imported = _imported(path) - {package}
        beyond = {
            name for name in imported
            if name not in ALLOWED[package] and not (package == "flows" and "prefect" in name)
        }  # fmt: skip
        if beyond:
            wrong[str(path.relative_to(ROOT))] = sorted(beyond)
    assert not wrong
