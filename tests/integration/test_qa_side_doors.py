"""QA attack: a My Number typed into a free field of a CLI command must not be stored in clear.

Observed on the demo home: ``kodomo person show --purpose "照会 <My Number>"`` wrote the number into the
append-only access log (it can never be erased); ``kodomo counter reissue --receipt-no <My Number>`` stored
it in ``counter_action`` and in the name of the print index file; ``kodomo move-in consent --consent-id
<My Number>`` stored it in ``movein_consent`` and as the access record's approval id.
"""

import datetime as dt

import pytest

from privacy.audit import AuditError, record_access
from rules.checkdigits import with_my_number_check_digit
from services.counter.actions import CounterForm, CounterFormError, check_form
from services.movein.cases import CaseError, record_consent
from store.db import session_scope

MY_NUMBER = with_my_number_check_digit("98765432101")
FORMS = [MY_NUMBER, f"{MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}"]


@pytest.mark.parametrize("value", FORMS)
def test_the_access_log_refuses_a_purpose_or_approval_holding_a_my_number(engine, value):
    for fields in ({"purpose": f"person-show:照会 {value}"}, {"purpose": "move-in:consent", "approval_id": value}):
        with pytest.raises(AuditError), session_scope(engine) as session:
            record_access(session, actor_id="demo-viewer", action="read", subject_ids=["0100003385"],
                          record_count=1, key=b"k" * 32, **{"approval_id": None, **fields})
    with session_scope(engine) as session:  # an ordinary purpose is still recorded
        record_access(session, actor_id="demo-viewer", action="read", purpose="person-show:窓口照会 受付12",
                      subject_ids=["0100003385"], record_count=1, key=b"k" * 32)


@pytest.mark.parametrize("value", [MY_NUMBER, "../../../../tmp/x"])  # the 受付番号 names a print index file
@pytest.mark.parametrize("field", ["receipt_no", "application_id"])
def test_a_counter_form_refuses_a_my_number_as_a_reference(engine, field, value):
    form = CounterForm(action_type="REISSUE", person_id="0100003385", received_date=dt.date(2026, 10, 20),
                       reason_code="LOST", **{field: value})
    with pytest.raises(CounterFormError, match=field), session_scope(engine) as session:
        check_form(session, form, None)


def test_a_consent_id_cannot_be_a_my_number(engine):
    with pytest.raises(CaseError, match="consent id"), session_scope(engine) as session:
        record_consent(session, consent_id=MY_NUMBER, household_id="2000001271", person_id="0100003385",
                       consent_date=dt.date(2026, 10, 1), scope="income_inquiry", recorded_by="demo-operator")


def test_a_refusal_is_still_recorded_with_the_number_masked(engine, db_url):
    from sqlalchemy import select

    from privacy.audit import record_refusal
    from store.privacy_models import AccessRecord

    assert record_refusal("demo-viewer", f"person-show:照会 {MY_NUMBER}:no proof", database_url=db_url)
    with session_scope(engine) as session:
        purposes = session.scalars(select(AccessRecord.purpose)).all()
    assert len(purposes) == 1 and MY_NUMBER not in purposes[0]
