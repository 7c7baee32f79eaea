"""Counter actions from the command line and as Prefect flows (forms of ids, codes and dates)."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from sqlalchemy import select

from cli.main import main
from store import models
from store.counter_models import CertificateIssue, ContactAddress, CounterAction, PayeeAccount
from tests.integration.counter_support import counter_env, decide_generated_month, reset

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed (.ci/run)")


@pytest.fixture
def decided(engine, db_url, tmp_path, monkeypatch):
    _, ring = counter_env(monkeypatch, tmp_path, db_url)
    residents = decide_generated_month(engine, ring, tmp_path)
    yield engine, residents
    reset()


@pytest.fixture
def migrated(db_url, tmp_path, monkeypatch):
    """A database created by the migrations (as begin_run expects), decided for the month."""
    from store.db import make_engine
    from store.migrate import upgrade

    _, ring = counter_env(monkeypatch, tmp_path, db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    decide_generated_month(engine, ring, tmp_path)
    yield engine
    engine.dispose()
    reset()


def _holder(engine):
    with engine.connect() as conn:
        return conn.execute(select(models.Certificate.person_id, models.Certificate.recipient_no)
                            .where(models.Certificate.status == "ELIGIBLE")
                            .order_by(models.Certificate.recipient_no)).first()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_address_and_account_are_read_from_stdin_never_arguments(decided, capsys, monkeypatch):
    engine, _ = decided
    child = _holder(engine)
    monkeypatch.setattr("sys.stdin", io.StringIO("宮城県名取市増田一丁目1番1号\n"))
    assert main(["counter", "change-address", "--person-id", child.person_id, "--received", "2026-10-20",
                 "--issue-date", "2026-10-21", "--operator", "demo-operator"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "DONE" and result["print"]["kinds"] == {"certificate": 1}
    monkeypatch.setattr("sys.stdin", io.StringIO("0001\n123\n1\n1234567\nｱｵﾊﾞ ﾊﾅｺ\n"))
    assert main(["counter", "change-account", "--person-id", child.person_id, "--received", "2026-10-20",
                 "--operator", "demo-operator"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "DONE"
    with engine.connect() as conn:
        assert conn.execute(select(ContactAddress.person_id)).scalar_one() == child.person_id
        assert conn.execute(select(PayeeAccount.person_id)).scalar_one() == child.person_id
        details = conn.execute(select(CounterAction.details_json)).scalars().all()
    assert not any("名取" in d or "1234567" in d for d in details)
    # A viewer may look but not act.
    assert main(["counter", "reissue", "--person-id", child.person_id, "--received", "2026-10-20", "--reason", "LOST",
                 "--operator", "demo-viewer"]) == 1


@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_reissue_flow_from_the_ui_form(prefect_harness, migrated):
    from flows.counter import counter_reissue

    engine = migrated
    child = _holder(engine)
    summary = counter_reissue(person_id=child.person_id, received_date="2026-10-20", reason="DAMAGED",
                              operator_id="demo-operator", send_to_pmh=False)
    assert summary["outcome"] == "DONE" and summary["certificate_issue_no"] == 2
    assert child.person_id not in json.dumps(summary, ensure_ascii=False)  # ids of persons stay out of Prefect
    with engine.connect() as conn:
        assert conn.execute(select(CertificateIssue.void_reason).where(CertificateIssue.status == "VOID")
                            ).scalar_one() == "DAMAGED"
    with pytest.raises(Exception, match="pattern|string_pattern_mismatch|validation"):
        counter_reissue(person_id="123456789012", received_date="2026-10-20", reason="LOST",
                        operator_id="demo-operator", send_to_pmh=False)
