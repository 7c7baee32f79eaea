"""The project's results do not depend on what else is installed (issue 13, the pyarrow trap).

pandas 3 stores inferred text with pyarrow whenever pyarrow is installed; ``config`` pins the ``python``
storage instead. A month run in a process that can import pyarrow must use that storage and store the
same periods, decisions, certificates and tax rows. pyarrow is not a project dependency: that test runs
where pyarrow is importable, or with ``KODOMO_TEST_PYARROW_PATH`` naming a directory that holds it
(e.g. ``pip install --target DIR pyarrow``). ``scripts/test`` (the README's test command, and CI) installs it
there and sets the variable, so there the test must run: with the variable set and no pyarrow in that
directory it fails. A bare ``pytest`` without either skips it, saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import config
from policy import load_policy
from services import runs
from services.eligibility import decide, reason_sets
from services.intake import ingest, persist
from store import migrate, models
from store.bulk import read_frame
from store.db import make_engine, session_scope

MONTH = "2026-10"
COMPARED = {
    models.EligibilityPeriod.__table__: ["person_id", "valid_from", "valid_to", "status", "end_reason",
                                         "reason_codes"],
    models.Decision.__table__: ["month", "person_id", "decision_type", "effective_date", "valid_from", "valid_to",
                                "status", "reason_code"],
    models.Certificate.__table__: ["person_id", "recipient_no", "valid_from", "valid_to", "status"],
    models.TaxRecord.__table__: ["person_id", "tax_year", "total_income_amount", "dependents_count"],
}


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    from devtools.generate import generate_dataset

    directory = tmp_path_factory.mktemp("storage") / "inbox"
    generate_dataset(directory, children=250, seed=19, as_of="2026-10-31")
    return directory


def _read(conn, table, columns) -> pd.DataFrame:
    """The stored rows; a period's reason codes as their text (stored as an id, services.eligibility.reason_sets)."""
    if table is models.EligibilityPeriod.__table__:
        return reason_sets.read_periods(conn, columns)
    return read_frame(conn, table, columns)


def _month(url: str, inbox: Path, key_ring) -> dict[str, pd.DataFrame]:
    """Read, validate, persist and decide one month; return the compared tables, sorted."""
    migrate.upgrade(url)
    engine = make_engine(url)
    policy = load_policy()
    manifest = json.loads((inbox / "manifest.json").read_text())
    box = ingest.validate_inbox(ingest.read_inbox(inbox), manifest["extract_date"])
    with session_scope(engine) as session:
        conn = session.connection()
        runs.start_run(conn, run_id="storage", flow_name="test", month=MONTH, operator_id="demo-operator",
                       policy_version=policy.version)
        persist.persist_inputs(conn, box.frames, key_ring, "storage")
    with session_scope(engine) as session:
        decide.decide_month(session, month=MONTH, policy=policy, run_id="storage", operator_id="demo-operator")
    with engine.connect() as conn:
        tables = {table.name: _read(conn, table, columns).sort_values(columns, ignore_index=True)
                  for table, columns in COMPARED.items()}
    engine.dispose()
    return tables


def _pyarrow_path() -> str | None:
    """Where pyarrow can be imported from: this environment, or ``KODOMO_TEST_PYARROW_PATH`` (a site dir).

    A variable naming a directory without pyarrow is an error, not a skip (scripts/test always sets it).
    """
    if importlib.util.find_spec("pyarrow") is not None:
        return ""
    extra = os.environ.get("KODOMO_TEST_PYARROW_PATH")
    if not extra:
        return None
    if not (Path(extra) / "pyarrow").is_dir():
        pytest.fail(f"KODOMO_TEST_PYARROW_PATH={extra} holds no pyarrow: the pyarrow trap test must run")
    return extra


_CHILD = """
import json, sys
import pandas as pd
import pyarrow  # noqa: F401 - installed, as in the trap
from privacy.crypto import KeyRing
from tests.integration.test_string_storage import _month
assert pd.get_option("mode.string_storage") == "python", pd.get_option("mode.string_storage")
tables = _month(sys.argv[1], __import__("pathlib").Path(sys.argv[2]), KeyRing.generate())
for name, frame in tables.items():
    frame.to_pickle(f"{sys.argv[3]}/{name}.pkl")
print(pd.Series(["a"]).dtype.storage)
"""


def test_the_project_pins_the_python_string_storage():
    assert config.STRING_STORAGE == "python"
    assert pd.get_option("mode.string_storage") == "python"
    assert pd.Series(["a"]).dtype.storage == "python"


def test_results_do_not_change_when_pyarrow_is_installed(db_url, tmp_path, inbox, key_ring):
    """A process that can import pyarrow stores exactly what this one stores (and uses python storage)."""
    site = _pyarrow_path()
    if site is None:
        pytest.skip("pyarrow is not importable (set KODOMO_TEST_PYARROW_PATH to a site dir holding it)")
    reference = _month(db_url, inbox, key_ring)
    if db_url.startswith("sqlite"):
        child_url = f"sqlite:///{tmp_path / 'child.db'}"
    else:  # PostgreSQL: empty the fresh database again for the child
        engine = make_engine(db_url)
        with engine.begin() as conn:
            models.Base.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()
        child_url = db_url
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(root), site, os.environ.get("PYTHONPATH")]
                                                      if p)}
    done = subprocess.run([sys.executable, "-c", _CHILD, child_url, str(inbox), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "python"
    assert all(len(frame) for frame in reference.values())
    for name, frame in reference.items():
        pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / f"{name}.pkl"), frame, obj=name)
