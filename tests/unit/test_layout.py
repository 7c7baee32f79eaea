"""Guard: the import rules of docs/architecture.md ("Packages and what they may import").

Each top-level package may import only the project packages listed for it, and the shipped packages never
import the development tools, pytest, or (below the task layer) Prefect. The table is the same one the
architecture page shows; change both together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: project package -> the project packages it may import (itself is always allowed)
ALLOWED_PROJECT_IMPORTS: dict[str, set[str]] = {
    "config": set(),
    "rules": {"policy"},
    "policy": {"rules"},
    "schemas": {"rules", "policy"},
    "store": {"config"},
    "privacy": {"config", "store", "rules", "schemas"},
    "connectors": {"config", "privacy", "schemas", "rules", "policy"},
    "services": {"config", "connectors", "policy", "privacy", "rules", "schemas", "store"},
    "tasks": {"config", "connectors", "policy", "privacy", "rules", "schemas", "services", "store"},
    "flows": {"config", "schemas", "tasks"},
    "cli": {"config", "connectors", "flows", "policy", "privacy", "rules", "schemas", "services", "store", "tasks"},
}
DEVELOPMENT_PACKAGES = {"devtools", "benchmarks", "tests"}
PROJECT_PACKAGES = set(ALLOWED_PROJECT_IMPORTS) | DEVELOPMENT_PACKAGES
#: third-party packages that a layer must not load: orchestration stays in tasks/flows (and the CLI that
#: starts them), the database in store/services/privacy, HTTP in connectors.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "rules": {"prefect", "sqlalchemy", "requests", "pandera"},
    "policy": {"prefect", "sqlalchemy", "requests"},
    "schemas": {"prefect", "sqlalchemy", "requests"},
    "store": {"prefect", "requests"},
    "services": {"prefect"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _shipped_modules() -> list[Path]:
    return sorted(p for package in ALLOWED_PROJECT_IMPORTS for p in (PROJECT_ROOT / package).rglob("*.py"))


def test_every_top_level_package_is_classified():
    packages = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")}
    assert packages <= PROJECT_PACKAGES, f"classify {sorted(packages - PROJECT_PACKAGES)} in ALLOWED_PROJECT_IMPORTS"


@pytest.mark.parametrize("path", _shipped_modules(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_module_imports_only_what_its_layer_allows(path):
    package = path.relative_to(PROJECT_ROOT).parts[0]
    allowed = ALLOWED_PROJECT_IMPORTS[package] | {package}
    forbidden = FORBIDDEN_THIRD_PARTY.get(package, set()) | {"pytest"} | DEVELOPMENT_PACKAGES
    problems = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top in forbidden or (top in PROJECT_PACKAGES and top not in allowed):
            problems.append(f"line {line}: {package} may not import {module}")
    assert not problems, "\n".join(problems)


def test_no_package_holds_more_than_a_third_of_the_shipped_lines():
    lines: dict[str, int] = {}
    for path in _shipped_modules():
        package = path.relative_to(PROJECT_ROOT).parts[0]
        lines[package] = lines.get(package, 0) + len(path.read_text(encoding="utf-8").splitlines())
    total = sum(lines.values())
    largest = max(lines, key=lines.get)
    assert lines[largest] <= total / 3, f"{largest} holds {lines[largest]} of {total} lines"
