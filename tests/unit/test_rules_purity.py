"""Guard: the rules package stays pure (no orchestration, database or HTTP imports; vectorised code)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rules

RULES_DIR = Path(rules.__file__).resolve().parent
PROJECT_ROOT = RULES_DIR.parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(RULES_DIR)], prefix="rules."))
FORBIDDEN_IMPORTS = ("prefect", "sqlalchemy", "requests")


def test_every_rules_module_is_checked():
    assert {"rules.intervals", "rules.residence", "rules.eligibility", "rules.eligibility.periods", "rules.decisions",
            "rules.dates"} <= set(MODULES)


def test_importing_rules_loads_no_prefect_sqlalchemy_or_requests():
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IMPORTS!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted(RULES_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(RULES_DIR)))
def test_no_row_wise_pandas_in_rules(path):
    text = path.read_text(encoding="utf-8")
    assert "iterrows" not in text
    assert not re.search(r"apply\([^)]*axis\s*=\s*1", text)
    assert not re.search(r"^\s*(import|from)\s+(prefect|sqlalchemy|requests)\b", text, flags=re.MULTILINE)
