"""The print-run flow under the Prefect harness, chained by the monthly run."""

from __future__ import annotations

import shutil

import pytest

MONTH = "2026-10"

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (.ci/run)")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_monthly_run_chains_the_print_run(prefect_harness, kodomo_env, tmp_path, db_url):
    from devtools.generate import generate_dataset
    from flows.monthly import monthly_run
    from flows.print import print_run

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=120, seed=3, as_of="2026-10-31")
    summary = monthly_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", sync_pmh=False)
    printed = summary["print"]
    assert printed["month"] == MONTH and printed["pages"] >= 2 * summary["decisions"]["NEW"]
    directory = kodomo_env.home / "print" / MONTH
    assert {p.name for p in directory.glob("*.pdf")} == {
        f"{b['name']}.pdf" for b in printed["batches"]}
    assert all(b["index"].endswith("_index.csv") for b in printed["batches"])
    # The summary tells this run's story: its own decisions, and every output file with its path.
    assert summary["decisions_this_run"] == summary["decisions"]
    for batch in printed["batches"]:
        assert set(batch["files"]) <= set(summary["outputs"])
    assert any(p.endswith(f"受給者証交付一覧_{MONTH}.csv") for p in summary["outputs"])
    rerun = monthly_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", sync_pmh=False)
    assert sum(rerun["decisions_this_run"].values()) == 0 and rerun["decisions"] == summary["decisions"]

    # Printing again from the UI with a fixed 交付日 replaces the files; a viewer may not print.
    again = print_run(month=MONTH, operator_id="demo-operator", issue_date="2026-10-05")
    assert again["pages"] == printed["pages"]
    with pytest.raises(Exception, match="not authorised|refused|viewer|OperatorNotAuthorised"):
        print_run(month=MONTH, operator_id="demo-viewer")
