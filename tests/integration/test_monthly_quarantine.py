"""Issue 10: ``kodomo quarantine`` and the Prefect quarantine artifact name every quarantined line."""

from __future__ import annotations

import json

import anyio
import pytest
from sqlalchemy import select

MONTH = "2026-10"


@pytest.mark.integration
def test_quarantine_listing_and_artifact_name_each_line(prefect_harness, kodomo_env, tmp_path, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from cli.main import main
    from devtools.generate import generate_dataset
    from flows.monthly import monthly_run
    from store import privacy_models
    from store.db import engine_for

    generated = generate_dataset(tmp_path / "inbox", children=80, seed=21, as_of="2026-10-31", bad_row_share=0.02)
    monthly_run(month=MONTH, inbox=str(tmp_path / "inbox"), operator_id="demo-operator", sync_pmh=False)
    capsys.readouterr()

    assert main(["quarantine", "--month", MONTH, "--operator", "demo-viewer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t") == ["ファイル", "行", "項目", "検査", "値（マスク）", "理由"]
    listed = {(cells[0], int(cells[1])) for cells in (line.split("\t") for line in out[1:-1])}
    expected = {(f, r) for f, rows in generated["bad_source_rows"].items() for r in rows}
    assert listed == expected
    assert all(len(line.split("\t")) == 6 and line.split("\t")[5] for line in out[1:-1])

    assert main(["quarantine", "--month", MONTH, "--file", "tax.csv", "--operator", "demo-viewer"]) == 0
    tax = capsys.readouterr().out.splitlines()[1:-1]
    assert {int(line.split("\t")[1]) for line in tax} == set(generated["bad_source_rows"]["tax.csv"])

    with engine_for(kodomo_env.resolved_database_url).connect() as conn:
        purposes = conn.execute(select(privacy_models.AccessRecord.__table__.c.purpose).where(
            privacy_models.AccessRecord.__table__.c.actor_id == "demo-viewer")).scalars().all()
    assert purposes.count("quarantine-listing") == 2

    async def artifact():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["monthly-quarantine"])))
            return max(found, key=lambda a: a.created)



    table = anyio.run(artifact).data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {(r["file"], r["line"]) for r in rows} == expected
    my_number_rows = [r for r in rows if r["column"] == "my_number" and r["masked_value"]]
    assert my_number_rows and all(len(r["masked_value"].replace("*", "")) <= 2 for r in my_number_rows)


@pytest.mark.integration
def test_quarantine_listing_is_refused_without_a_registered_operator(kodomo_env, capsys):
    from cli.main import main

    assert main(["quarantine", "--month", MONTH, "--operator", "nobody-here"]) == 1
    assert "nobody-here" in capsys.readouterr().err


@pytest.mark.integration
def test_swapped_my_numbers_do_not_abort_the_monthly_flow(prefect_harness, kodomo_env, tmp_path, capsys):
    import pandas as pd

    from cli.main import main
    from devtools.generate import generate_dataset
    from flows.monthly import monthly_run

    inbox = tmp_path / "inbox"
    generate_dataset(inbox, children=40, seed=8, as_of="2026-10-31", bad_row_share=0.0)
    first = monthly_run(month=MONTH, inbox=str(inbox), operator_id="demo-operator", sync_pmh=False)
    assert first["quarantined_rows"] == 0

    # The sender's next extract swaps two My Numbers (and states control totals for the files as sent).
    residents = pd.read_csv(inbox / "residents.csv", dtype=str, keep_default_na=False)
    residents.loc[[3, 7], "my_number"] = residents.loc[[7, 3], "my_number"].to_numpy()
    residents.to_csv(inbox / "residents.csv", index=False, lineterminator="\n")
    manifest = json.loads((inbox / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]
    (inbox / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    second = monthly_run(month="2026-11", inbox=str(inbox), operator_id="demo-operator", sync_pmh=False)

    assert second["quarantined_rows"] == 2  # both residents rows (neither has an event with this seed)
    assert len(second["warnings"]) == 6  # no control totals for any file
    capsys.readouterr()
    assert main(["quarantine", "--month", "2026-11", "--file", "residents.csv", "--operator", "demo-viewer"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:-1]]
    assert sorted(int(r[1]) for r in rows) == [5, 9]
    assert all(r[3] == "my_number_collision" and "個人番号" in r[5] for r in rows)
