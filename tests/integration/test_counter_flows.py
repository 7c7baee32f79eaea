"""Counter actions from the command line and as Prefect flows (forms of ids, codes and dates)."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from sqlalchemy import select

from cli.main import main
from services.counter import cases
from store import models
from store.counter_models import CertificateIssue, ContactAddress, CounterAction, CounterCase, PayeeAccount
from store.db import session_scope
from tests.integration.counter_support import counter_env, decide_generated_month, reset
from tests.integration.form_schema import PERSON_NUMBERS, fields_accepting

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


def _open_case(engine, person_id: str, guardian_person_id: str | None = None) -> str:
    with session_scope(engine) as session:
        case, _ = cases.open_case(session, person_id=person_id, operator_id="demo-operator",
                                  guardian_person_id=guardian_person_id)
        return case.case_id


@pytest.mark.integration
def test_reissue_flow_from_the_ui_form_takes_a_case_id(prefect_harness, migrated):
    """SQLite and PostgreSQL: the form names the child by the counter case id only (issue 14)."""
    from prefect import get_client

    from flows.counter import counter_reissue

    engine = migrated
    child = _holder(engine)
    case_id = _open_case(engine, child.person_id)
    assert cases.CASE_ID.match(case_id) and _open_case(engine, child.person_id) == case_id  # the open case again
    state = counter_reissue(case_id=case_id, received_date="2026-10-20", reason="DAMAGED",
                            operator_id="demo-operator", send_to_pmh=False, return_state=True)
    summary = state.result()
    assert summary["outcome"] == "DONE" and summary["certificate_issue_no"] == 2
    assert child.person_id not in json.dumps(summary, ensure_ascii=False)  # ids of persons stay out of Prefect
    with get_client(sync_client=True) as client:
        parameters = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert parameters["case_id"] == case_id and child.person_id not in json.dumps(parameters, default=str)
    with engine.connect() as conn:
        assert conn.execute(select(CertificateIssue.void_reason).where(CertificateIssue.status == "VOID")
                            ).scalar_one() == "DAMAGED"
        assert conn.execute(select(CounterAction.person_id)).scalar_one() == child.person_id
        access = models.Base.metadata.tables["access_record"]
        assert conn.execute(select(access.c.approval_id).where(access.c.purpose == "counter:open-case")
                            ).scalars().all() == [case_id, case_id]
    for person_number in (child.person_id, "123456789012"):
        with pytest.raises(Exception, match="pattern|string_pattern_mismatch|validation"):
            counter_reissue(case_id=person_number, received_date="2026-10-20", reason="LOST",
                            operator_id="demo-operator", send_to_pmh=False)
    with pytest.raises(Exception, match="does not exist"):
        counter_reissue(case_id="CC-AAAAAAAAAA", received_date="2026-10-20", reason="LOST",
                        operator_id="demo-operator", send_to_pmh=False)


@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_guardian_forms_take_the_guardian_of_the_case(prefect_harness, migrated):
    from flows.counter import counter_retroactive

    engine = migrated
    child = _holder(engine)
    without_guardian = _open_case(engine, child.person_id)
    with pytest.raises(Exception, match="has no guardian"):
        counter_retroactive(case_id=without_guardian, received_date="2026-10-20", application_date="2026-04-01",
                            reason="APPEAL_GRANTED", operator_id="demo-operator", send_to_pmh=False)
    with engine.connect() as conn:
        guardian = conn.execute(select(models.Application.guardian_person_id)
                                .where(models.Application.child_person_id == child.person_id)).scalars().first()
    with_guardian = _open_case(engine, child.person_id, guardian)
    assert with_guardian != without_guardian
    with engine.connect() as conn:
        stored = conn.execute(select(CounterCase.person_id, CounterCase.guardian_person_id)
                              .where(CounterCase.case_id == with_guardian)).one()
    assert tuple(stored) == (child.person_id, guardian)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_counter_open_prints_the_case_id(decided, capsys):
    engine, _ = decided
    child = _holder(engine)
    assert main(["counter", "open", "--person-id", child.person_id, "--operator", "demo-operator"]) == 0
    opened = json.loads(capsys.readouterr().out)
    assert opened["created"] is True and cases.CASE_ID.match(opened["case_id"])
    assert main(["counter", "open", "--person-id", child.person_id, "--operator", "demo-operator"]) == 0
    assert json.loads(capsys.readouterr().out) == opened | {"created": False}
    assert main(["counter", "open", "--person-id", "12345", "--operator", "demo-operator"]) == 1
    assert main(["counter", "open", "--person-id", child.person_id, "--operator", "demo-viewer"]) == 1


@pytest.mark.parametrize("name", ["counter_change", "counter_loss_report", "counter_reissue", "counter_correction",
                                  "counter_retroactive"])
def test_counter_forms_have_no_field_for_a_person_number(name):
    """Issue 14: no field of the five counter forms accepts a 宛名番号 or a My Number."""
    from prefect.utilities.callables import parameter_schema

    from flows import counter

    schema = parameter_schema(getattr(counter, name).fn).model_dump()
    assert schema["properties"]["case_id"]["pattern"] == cases.CASE_ID_PATTERN == counter.CASE_ID_PATTERN
    assert not any("person" in field for field in schema["properties"])
    for number in PERSON_NUMBERS:
        assert fields_accepting(schema, number) == [], number
    assert fields_accepting(schema, cases.new_case_id()) != []  # the check can fail: a case id is accepted
