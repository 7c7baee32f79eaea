"""The ``move-in`` flow: one 転入 case from the Prefect UI form, to PMH."""

from __future__ import annotations

from prefect import flow

from services.movein.params import MoveInCase
from tasks import common
from tasks import movein as t


@flow(name="move-in", log_prints=False, persist_result=False, validate_parameters=True)
def move_in(case: MoveInCase) -> dict:
    """Re-determine a household that moved in: inquiries, decision, 受給者証, PMH registration.

    Args:
        case: the case form — case id or 宛名番号, operator id, how income is known (certificate /
            inquiry with recorded consent / not yet), certificate path, consent id, insurer number.
    """
    operator = common.authorise_operator(case.operator_id, "run", case.operator_proof or None)
    run_id = common.begin_run("move-in", operator)
    try:
        context = t.resolve_case(case, run_id)
        answers = t.run_inquiries(context, case, run_id)
        result = t.apply_case(answers, run_id, operator)
        result["notices"] = t.issue_notices(result["month"], run_id, operator)
        if case.send_to_pmh:
            result["pmh"] = t.send_to_pmh(run_id, operator)
        summary = t.publish_case_summary(result)
    except BaseException:
        common.finish_run(run_id, "FAILED", {})
        raise
    common.finish_run(run_id, "COMPLETED", summary)
    return summary
