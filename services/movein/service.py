"""A move-in (転入) case: resolve → inquire → apply in one transaction (PIA §3 (1) ① ア–ウ).

1. **Resolve** (read-only): the case (by case id or 宛名番号) and, for ``income_source="inquiry"``, the
   recorded consent. A missing consent stops the case *here*, before any outside system is asked
   (:class:`connectors.inquiry.ConsentMissing`).
2. **Inquire** (no database writes): the household from the resident registry; the city's tax records
   of the current 課税年度 for the guardians; for guardians the city did not assess, the previous city's
   income — from the submitted 所得証明書 (``certificate``) or through the 中間サーバ with the consent
   (``inquiry``), the previous city being looked up in 住基ネット when the registry does not know it.
   Every answer is validated with the inbox schemas; a bad answer stops the case.
3. **Apply** (one transaction): persons (encrypted), tax records and where they came from, the 資格登録届
   of the children, the case state, the household re-determination (:mod:`services.movein.determine`:
   eligibility, decisions, 受給者番号, certificates, PMH outbox) and the access records.

An inquiry that fails (timeout, 5xx after the connector's retries) raises before step 3, so nothing of
the case is half-applied. Running the same case again changes nothing (idempotent upserts and keys).

Guardians (whose income is asked) are the members with 続柄 01 世帯主 or 02 配偶者 — an assumption
([I]) consistent with ``income_limit.judged_guardian`` = each_guardian; children are never asked about.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Literal

import pandas as pd
from sqlalchemy.orm import Session

from connectors import inquiry as iq
from privacy.audit import record_access
from privacy.crypto import KeyRing
from privacy.masking import mask_id
from rules.eligibility import GUARDIAN_RELATIONSHIP_CODES
from schemas.insurance import InsuranceSchema
from schemas.residents import ResidentSchema
from schemas.tax import TaxSchema
from schemas.validate import validate_frame
from services.intake import persist
from services.movein import cases
from services.movein.determine import redetermine
from store.bulk import insert_missing, read_frame
from store.models import InsuranceCoverage
from store.movein_models import IncomeSource, MoveInCase

#: persist_inputs reads person columns from the events frame even when it is empty.
_NO_EVENTS = pd.DataFrame(columns=["event_id", "person_id", *persist.PERSON_SOURCE_COLUMNS, "event_code",
                                   "event_date", "notified_date"])
IncomeRoute = Literal["certificate", "inquiry", "not_yet"]


@dataclasses.dataclass(frozen=True)
class MoveInRequest:
    """What the operator asked for (the flow's typed parameters, minus nothing personal)."""

    operator_id: str
    income_source: IncomeRoute
    case_id: str | None = None
    person_id: str | None = None
    certificate_path: str | None = None
    consent_id: str | None = None
    previous_municipality_code: str | None = None
    insurer_number: str | None = None
    insured_type_code: str = "2"
    insurance_valid_from: dt.date | None = None
    application_date: dt.date | None = None
    as_of: dt.date | None = None

    def processing_date(self) -> dt.date:
        """The date the case is processed on (default: today in Asia/Tokyo)."""
        return self.as_of or pd.Timestamp.now(tz="Asia/Tokyo").date()


@dataclasses.dataclass(frozen=True)
class CaseContext:
    """The resolved case (ids only) and the consent, if any."""

    case_id: str
    person_id: str
    is_new: bool
    application_date: dt.date
    as_of: dt.date
    tax_year: int
    consent: iq.Consent | None
    stored_household_id: str | None


@dataclasses.dataclass
class Gathered:
    """Everything the inquiries returned (in memory only; never a Prefect result that is persisted)."""

    context: CaseContext
    request: MoveInRequest
    household_id: str
    residents: pd.DataFrame
    tax: pd.DataFrame
    income_origin: pd.DataFrame  # person_id, tax_year, source, municipality_code, consent_id
    move_in_date: dt.date | None
    previous_municipality_code: str | None
    previous_municipality_source: str | None
    income_complete: bool
    insurance: pd.DataFrame
    accesses: list[dict] = dataclasses.field(default_factory=list)
    inquiries: dict[str, int] = dataclasses.field(default_factory=dict)


# -- helpers -----------------------------------------------------------------------------------------
def current_tax_year(on: dt.date, policy) -> int:
    """課税年度 whose income applies on ``on``.

    While the income test is in force, ``income_limit.income_year_switch_month`` decides (from that
    month the service year's 課税年度, before it the previous one; domain.md §1.5, [I]). After the test
    was abolished (2023-04-01, S5) the "current year" is the calendar year of ``on``.
    """
    switch = policy.at(pd.Timestamp(on)).get("income_limit.income_year_switch_month")
    if switch is None:
        return on.year
    return on.year if on.month >= int(switch) else on.year - 1


def income_test_applies(policy, dates: list[dt.date]) -> bool:
    """True when an income limit is in force on any of ``dates`` (policy ``income_limit.base_amount``)."""
    return any(policy.at(pd.Timestamp(d)).get("income_limit.base_amount") is not None for d in dates if d)


def derive_case_id(person_id: str, ring: KeyRing) -> str:
    """A stable case id for a 宛名番号 that reveals nothing of it (keyed blind index)."""
    digest = ring.blind_index(person_id, purpose="movein_case")
    return "MI-" + hashlib.sha256(digest.encode()).hexdigest()[:12].upper()


def _validated(frame: pd.DataFrame, model, name: str, as_of: dt.date) -> pd.DataFrame:
    """Validate an inquiry answer like an inbox file; any bad row stops the case (codes only)."""
    result = validate_frame(frame, model, name, extract_date=pd.Timestamp(as_of))
    if not result.quarantine.empty:
        checks = result.quarantine.groupby(["column_name", "check_name"]).size()
        listing = ", ".join(f"{c}:{k}={n}" for (c, k), n in checks.items())
        raise cases.CaseError(f"{name}: {result.quarantined_rows} row(s) failed validation ({listing})")
    return result.good.drop(columns=["source_row"], errors="ignore")


# -- 1. resolve --------------------------------------------------------------------------------------
def resolve_case(session: Session, request: MoveInRequest, ring: KeyRing, policy) -> CaseContext:
    """Find or name the case and load the consent; refuse an inquiry without a recorded consent."""
    as_of = request.processing_date()
    if request.income_source not in cases.INCOME_SOURCES:
        raise cases.CaseError(f"income_source must be one of {', '.join(cases.INCOME_SOURCES)}")
    if request.income_source == "certificate" and not request.certificate_path:
        raise cases.CaseError("income_source='certificate' needs certificate_path (the transcribed 所得証明書)")
    row: MoveInCase | None = None
    if request.case_id:
        if not cases.CASE_ID.match(request.case_id):
            raise cases.CaseError("a case id has 1-16 ASCII letters, digits or hyphens")
        row = cases.get_case(session, request.case_id)
    if request.person_id and not cases.PERSON_ID.match(request.person_id):
        raise cases.CaseError("a 宛名番号 has 10 ASCII digits")
    if row is None and request.person_id and not request.case_id:
        row = cases.find_open_case(session, request.person_id)
    if row is not None and request.person_id and row.person_id != request.person_id:
        raise cases.CaseError(f"case {row.case_id} was opened for another 宛名番号")
    if row is None and not request.person_id:
        raise cases.CaseError(f"case {request.case_id} does not exist; give the 宛名番号 to open it")
    person_id = row.person_id if row is not None else request.person_id
    case_id = row.case_id if row is not None else (request.case_id or derive_case_id(person_id, ring))
    application_date = (row.application_date if row is not None else None) or request.application_date or as_of
    tax_year = current_tax_year(as_of, policy)

    consent = None
    if request.income_source == "inquiry":
        consent = cases.load_consent(session, request.consent_id)
        household_hint = (consent.household_id if consent else None) or (row.household_id if row else None)
        iq.require_consent(consent, household_id=household_hint or "", tax_year=tax_year, on=as_of,
                           consent_id=request.consent_id)
    return CaseContext(case_id, person_id, row is None, application_date, as_of, tax_year, consent,
                       row.household_id if row is not None else None)


# -- 2. inquire --------------------------------------------------------------------------------------
def gather(ctx: CaseContext, request: MoveInRequest, connectors: iq.InquiryConnectors, policy) -> Gathered:
    """Ask the outside systems (no database writes); raise on any failure."""
    accesses: list[dict] = []
    inquiries: dict[str, int] = {}
    registry = connectors.registry.fetch_household(person_id=ctx.person_id, as_of=ctx.as_of)
    inquiries["registry"] = 1
    previous_codes = registry["previous_municipality_code"].dropna()
    residents = _validated(registry.drop(columns=["previous_municipality_code"]), ResidentSchema,
                           "registry-inquiry", ctx.as_of)
    household_ids = residents["household_id"].unique().tolist()
    if len(household_ids) != 1 or ctx.person_id not in set(residents["person_id"]):
        raise cases.CaseError("the registry answer is not exactly the household of the case's 宛名番号")
    household_id = household_ids[0]
    member_ids = sorted(residents["person_id"])
    accesses.append({"action": "read", "purpose": "move-in:registry-inquiry", "subjects": member_ids})
    if ctx.consent is not None:
        iq.require_consent(ctx.consent, household_id=household_id, tax_year=ctx.tax_year, on=ctx.as_of)

    starts = residents.loc[residents["person_id"] == ctx.person_id, "residence_start_date"]
    move_in_date = pd.Timestamp(starts.iloc[0]).date() if len(starts) and pd.notna(starts.iloc[0]) else None
    guardians = sorted(residents.loc[residents["relationship_code"].isin(GUARDIAN_RELATIONSHIP_CODES), "person_id"])

    tax_frames: list[pd.DataFrame] = []
    origin: list[pd.DataFrame] = []
    covered: set[str] = set()
    if request.income_source == "certificate":
        certificate = _validated(iq.read_income_certificate(request.certificate_path), TaxSchema,
                                 "income-certificate", ctx.as_of)
        if not set(certificate["person_id"]) <= set(member_ids):
            raise cases.CaseError("the income certificate names persons outside the household")
        tax_frames.append(certificate)
        origin.append(pd.DataFrame({"person_id": certificate["person_id"], "tax_year": certificate["tax_year"],
                                    "source": "certificate", "municipality_code": None, "consent_id": None}))
        covered |= set(certificate.loc[certificate["tax_year"] == ctx.tax_year, "person_id"])
        accesses.append({"action": "create", "purpose": "move-in:income-certificate",
                         "subjects": sorted(certificate["person_id"])})

    ask_city = [p for p in guardians if p not in covered]
    if ask_city:
        city = _validated(connectors.tax.fetch_tax(ask_city, ctx.tax_year), TaxSchema, "tax-inquiry", ctx.as_of)
        inquiries["tax"] = 1
        accesses.append({"action": "read", "purpose": "move-in:tax-inquiry", "subjects": ask_city})
        tax_frames.append(city)
        origin.append(pd.DataFrame({"person_id": city["person_id"], "tax_year": city["tax_year"],
                                    "source": "city_tax", "municipality_code": None, "consent_id": None}))
        covered |= set(city["person_id"])

    previous_code = request.previous_municipality_code or (previous_codes.iloc[0] if len(previous_codes) else None)
    previous_source = ("counter" if request.previous_municipality_code else "registry") if previous_code else None
    missing = [p for p in guardians if p not in covered]
    if request.income_source == "inquiry" and missing:
        if previous_code is None:
            previous_code = connectors.jukinet.lookup_previous_municipality(missing[0])
            previous_source = "jukinet"
            inquiries["jukinet"] = 1
            accesses.append({"action": "read", "purpose": "move-in:jukinet-lookup", "subjects": missing[:1]})
        income = _validated(
            connectors.intermediary.fetch_income(missing, tax_year=ctx.tax_year, municipality_code=previous_code,
                                                 consent=ctx.consent, household_id=household_id, on=ctx.as_of),
            TaxSchema, "intermediary-inquiry", ctx.as_of)
        inquiries["intermediary"] = 1
        accesses.append({"action": "read", "purpose": "move-in:intermediary-income", "subjects": missing,
                         "approval_id": ctx.consent.consent_id})
        tax_frames.append(income)
        origin.append(pd.DataFrame({"person_id": income["person_id"], "tax_year": income["tax_year"],
                                    "source": "intermediary", "municipality_code": previous_code,
                                    "consent_id": ctx.consent.consent_id}))
        covered |= set(income["person_id"])

    tax = pd.concat(tax_frames, ignore_index=True) if tax_frames else pd.DataFrame(columns=iq.TAX_COLUMNS)
    tax = tax.drop_duplicates(["person_id", "tax_year"], keep="first")
    income_origin = (pd.concat(origin, ignore_index=True).drop_duplicates(["person_id", "tax_year"])
                     if origin else pd.DataFrame(columns=["person_id", "tax_year", "source", "municipality_code",
                                                          "consent_id"]))
    income_complete = all(p in covered for p in guardians)
    return Gathered(ctx, request, household_id, residents, tax, income_origin, move_in_date, previous_code,
                    previous_source, income_complete, _insurance(request, residents, move_in_date, ctx.as_of),
                    accesses, inquiries)


def _insurance(request: MoveInRequest, residents: pd.DataFrame, move_in_date: dt.date | None,
               as_of: dt.date) -> pd.DataFrame:
    """The children's health insurance as presented at the counter (保険者番号 only; no 記号・番号)."""
    if not request.insurer_number:
        return pd.DataFrame(columns=["person_id", "insurer_number", "insured_type_code", "valid_from", "valid_to"])
    children = sorted(residents.loc[residents["relationship_code"] == "03", "person_id"])
    valid_from = request.insurance_valid_from or move_in_date or as_of
    raw = pd.DataFrame({"person_id": children, "insurer_number": request.insurer_number,
                        "insured_type_code": request.insured_type_code, "valid_from": valid_from.isoformat(),
                        "valid_to": None}, dtype="str")
    raw["source_row"] = pd.RangeIndex(2, len(raw) + 2, dtype="int64")
    return _validated(raw, InsuranceSchema, "counter-insurance", as_of)


# -- 3. apply ----------------------------------------------------------------------------------------
def _applications(g: Gathered) -> pd.DataFrame:
    """One 資格登録届 per child (続柄 03) of the household, received on the case's application date.

    Built from validated ids (case id ≤ 16 characters → application id ≤ 19, within the
    applications.csv format), so it is typed directly instead of going through Pandera again.
    """
    residents = g.residents.sort_values("person_id")
    children = residents.loc[residents["relationship_code"] == "03", "person_id"].tolist()
    heads = residents.loc[residents["relationship_code"] == "01", "person_id"].tolist()
    guardian = heads[0] if heads else residents["person_id"].iloc[0]
    return pd.DataFrame({
        "application_id": pd.Series([f"{g.context.case_id}-{i + 1:02d}" for i in range(len(children))], dtype="str"),
        "child_person_id": pd.Series(children, dtype="str"),
        "guardian_person_id": guardian,
        "application_date": pd.Timestamp(g.context.application_date),
    }).astype({"application_date": "datetime64[ns]"})


def _children_insured(conn, residents: pd.DataFrame) -> bool:
    """True when every child (続柄 03) of the household has a stored insurance coverage row."""
    children = sorted(residents.loc[residents["relationship_code"] == "03", "person_id"])
    if not children:
        return True
    table = InsuranceCoverage.__table__
    stored = read_frame(conn, table, ["person_id"], where=table.c.person_id.in_(children))
    return set(children) <= set(stored["person_id"])


def _upsert_case(session: Session, g: Gathered, status: str, run_id: str) -> bool:
    """Create or update the case row; returns True when anything changed."""
    row = session.get(MoveInCase, g.context.case_id)
    values = {
        "person_id": g.context.person_id, "household_id": g.household_id,
        "application_date": g.context.application_date, "income_source": g.request.income_source,
        "move_in_date": g.move_in_date, "previous_municipality_code": g.previous_municipality_code,
        "previous_municipality_source": g.previous_municipality_source, "status": status,
    }
    if row is None:
        session.add(MoveInCase(case_id=g.context.case_id, operator_id=g.request.operator_id,
                               determined_run_id=run_id, updated_at=dt.datetime.now(dt.UTC), **values))
        session.flush()
        return True
    changed = {k: v for k, v in values.items() if getattr(row, k) != v and not (k == "previous_municipality_code"
                                                                                 and v is None)}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(row, key, value)
    row.determined_run_id = run_id
    row.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    return True


def apply_case(session: Session, g: Gathered, *, ring: KeyRing, policy, run_id: str, operator_id: str) -> dict:
    """Store the answers, re-determine the household, queue PMH; one transaction (the caller's)."""
    conn = session.connection()
    frames = {"residents": g.residents, "applications": _applications(g), "resident_events": _NO_EVENTS}
    if not g.tax.empty:
        frames["tax"] = g.tax
    if not g.insurance.empty:
        frames["insurance"] = g.insurance
    stored = persist.persist_inputs(conn, frames, ring, run_id)
    if not g.income_origin.empty:
        insert_missing(conn, IncomeSource.__table__, g.income_origin.assign(
            case_id=g.context.case_id, run_id=run_id, tax_year=g.income_origin["tax_year"].astype("int64")),
            ["person_id", "tax_year"])
    for access in g.accesses:
        record_access(session, actor_id=operator_id, action=access["action"], purpose=access["purpose"],
                      subject_ids=access["subjects"], record_count=len(access["subjects"]), run_id=run_id,
                      approval_id=access.get("approval_id"))
    person_counts = stored.tables.get("person", {})
    if person_counts.get("inserted", 0) or person_counts.get("updated", 0):
        record_access(session, actor_id=operator_id, action="create", purpose="move-in:register",
                      subject_ids=g.residents["person_id"], record_count=int(len(g.residents)), run_id=run_id)

    needs_income = income_test_applies(policy, [g.move_in_date, g.context.as_of])
    determined = None
    if needs_income and not g.income_complete:
        status = "AWAITING_INCOME"
    elif not _children_insured(conn, g.residents):
        status = "AWAITING_INSURANCE"
    else:
        status = "DETERMINED"
        month = pd.Timestamp(g.context.as_of).strftime("%Y-%m")
        determined = redetermine(session, household_ids={g.household_id},
                                 person_ids=set(g.residents["person_id"]), month=month, policy=policy,
                                 run_id=run_id, operator_id=operator_id, purpose="move-in:determination")
    case_changed = _upsert_case(session, g, status, run_id)
    decided = determined.pop("decided_person_ids") if determined else []
    return {
        "case_id": g.context.case_id,
        "status": status,
        "household": mask_id(g.household_id),
        "members": [mask_id(p) for p in sorted(g.residents["person_id"])],
        "decided": [mask_id(p) for p in decided],
        "income_source": g.request.income_source,
        "income_test_applies": needs_income,
        "income_complete": g.income_complete,
        "previous_municipality": g.previous_municipality_source or "unknown",
        "inquiries": dict(g.inquiries),
        "stored": stored.tables,
        "case_changed": case_changed,
        "determination": determined or {},
    }


def record_failure(session: Session, *, ctx: CaseContext | None, request: MoveInRequest, operator_id: str,
                   run_id: str, outcome: str, purpose: str) -> None:
    """An access record of a refused or failed case (who tried what; nothing of the case is stored)."""
    subject = ctx.person_id if ctx is not None else request.person_id
    record_access(session, actor_id=operator_id, action="read", purpose=purpose,
                  subject_ids=[subject] if subject else [], record_count=0, run_id=run_id, outcome=outcome)


def summary_markdown(result: dict) -> str:
    """The run's artifact: masked ids and counts only."""
    d = result.get("determination") or {}
    lines = [
        f"# Move-in case {result['case_id']}", "",
        f"* household: `{result['household']}` — members: " + ", ".join(f"`{m}`" for m in result["members"]),
        f"* status: **{result['status']}**; income: {result['income_source']} "
        f"(test applies: {result['income_test_applies']}, complete: {result['income_complete']})",
        f"* previous municipality: {result['previous_municipality']}",
        "* inquiries: " + (", ".join(f"{k} {v}" for k, v in result["inquiries"].items()) or "none"),
        "", "| decision | count |", "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(d.get("by_type", {}).items())] or ["| (none) | 0 |"]
    lines += ["", f"受給者番号 assigned: {d.get('recipient_numbers_assigned', 0)}; certificates updated: "
              f"{d.get('certificates_updated', 0)}; PMH outbox rows: {d.get('pmh_outbox_rows', 0)}"]
    if result["decided"]:
        lines.append("Children decided: " + ", ".join(f"`{m}`" for m in result["decided"]))
    return "\n".join(lines)
