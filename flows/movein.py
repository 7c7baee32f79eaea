"""The ``move-in`` flow: one 転入 case from the Prefect UI form, to PMH."""

from __future__ import annotations

from prefect import flow

from flows.parameters import MoveInCase, move_in_name
from tasks import common
from tasks import movein as t


@flow(name="move-in", flow_run_name=move_in_name, log_prints=False, persist_result=False, validate_parameters=True)
def move_in(case: MoveInCase) -> dict:
    """Re-determine a household that moved in: inquiries, decision, 受給者証, PMH registration.

    Args:
        case: the case form — case id or 宛名番号, operator id, how income is known (certificate /
            inquiry with recorded consent / not yet), certificate path, consent id, insurer number.
    """
    operator = common.authorise_operator(case.operator_id, "run", case.operator_proof or None)
    policy = common.load_run_policy()
    request = t.case_request(case)
    with common.run_scope("move-in", operator, policy=policy, lock_scope=t.case_lock_scope(case)) as run:
        context = t.resolve_case(request, policy, run.run_id)
        answers = t.run_inquiries(context, request, policy, run.run_id)
        result = t.apply_case(answers, policy, run.run_id, operator)
        result["notices"] = t.issue_notices(result["month"], run.run_id, operator)
        if case.send_to_pmh:
            result["pmh"] = t.send_to_pmh(run.run_id, operator)
        run.counts = t.publish_case_summary(result)
    return run.counts
