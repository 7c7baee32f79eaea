"""The documents of a month's decisions, and of one person (counter actions).

* 新規・変更 (NEW, CHANGE): 交付通知書 then the 受給者証, one after the other, so both go in one envelope.
* 更新 (RENEWAL): the new 受給者証 alone (the renewal continues the same 認定; the card is mailed before
  the renewal day).
* 支給停止 (SUSPEND_INCOME): 支給停止通知書. 喪失 (LOSS_*): 資格喪失通知書.

The addressee is the guardian of the child's latest 資格登録届 (application), at the child's address;
without a guardian on file the notice goes to the child's 保護者 by title. Names and addresses are
decrypted here, only to build the documents, and the print is recorded in the access log (action
``print``) in the same transaction. The co-pay printed on a card follows the policy in force on the first
day of validity and the child's age band (rules.copay.in_free_band).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.loader import Policy
from privacy.crypto import KeyRing
from rules.copay import in_free_band
from services.documents.batch import PrintBatch, print_directory, write_batch
from services.documents.model import (
    Addressee,
    Certificate,
    Document,
    GrantNotice,
    LossNotice,
    SuspensionNotice,
    appeal_instruction,
    issuer_title,
)
from services.documents.record import record_print
from store import models
from store.bulk import read_frame
from store.counter_models import ContactAddress

GRANT_LABELS = {"NEW": "新規", "CHANGE": "変更", "RENEWAL": "更新", "REISSUE": "再交付"}
SUSPENSION_REASONS = {"SUSPEND_INCOME": "保護者の所得が所得制限額を超えたため"}
LOSS_REASONS = {
    "LOSS_MOVE_OUT": "市外へ転出したため", "LOSS_DEATH": "死亡のため", "LOSS_AGE": "対象年齢に達したため",
    "LOSS_WELFARE": "生活保護の受給が始まったため", "LOSS_REPORT": "喪失届の提出があったため",
}
NOTICE_OF = {"NEW": "grant", "CHANGE": "grant", **dict.fromkeys(SUSPENSION_REASONS, "suspension"),
             **dict.fromkeys(LOSS_REASONS, "loss")}
CERTIFICATE_TYPES = ("NEW", "CHANGE", "RENEWAL")
CARE_NOTE = "要確認（支援措置）"
BATCH_TITLES = {"issuance": "受給者証・交付通知書", "suspension": "支給停止通知書", "loss": "資格喪失通知書"}


@dataclass(frozen=True)
class MonthPrint:
    """What the month's print wrote (paths and counts only)."""

    month: str
    batches: tuple[PrintBatch, ...]

    def as_dict(self) -> dict:
        return {"month": self.month, "pages": sum(b.pages for b in self.batches),
                "batches": [b.as_dict() for b in self.batches]}


def _profiles(ring: KeyRing, frame: pd.DataFrame) -> pd.DataFrame:
    """Decrypt ``profile_enc`` into name, name_kana, address columns (same index)."""
    plain = ring.decrypt_many(frame["profile_enc"].tolist(), table="person", column="profile",
                              row_keys=frame["person_id"].tolist())
    parsed = [orjson.loads(p) if p else {} for p in plain]
    return pd.DataFrame({key: [p.get(key, "") for p in parsed] for key in ("name", "name_kana", "address")},
                        index=frame.index)


def _with_contact_addresses(conn, ring: KeyRing, persons: pd.DataFrame) -> pd.DataFrame:
    """Replace the 住記 address by the latest 送付先 registered at the counter (変更届: 住所), if any."""
    table = ContactAddress.__table__
    found = read_frame(conn, table, ["action_id", "person_id", "valid_from", "address_enc"],
                       where=table.c.person_id.in_(persons["person_id"].tolist()))
    if found.empty:
        return persons
    found = found.sort_values(["person_id", "valid_from", "action_id"]).drop_duplicates("person_id", keep="last")
    found["contact"] = ring.decrypt_many(found["address_enc"].tolist(), table="contact_address", column="address",
                                         row_keys=found["action_id"].tolist())
    merged = persons.merge(found[["person_id", "contact"]], on="person_id", how="left")
    merged["address"] = merged["contact"].fillna(merged["address"])
    return merged.drop(columns=["contact"])


def copay_text(policy: Policy, birth: pd.Series, on: pd.Series) -> pd.Series:
    """The 一部負担金 printed on each card, from the policy on ``on`` and the child's age band."""
    def values(name: str) -> pd.Series:
        return policy.series(name, on)

    out_free = in_free_band(birth, on, values("copay.outpatient.free_age"), values("copay.outpatient.free_age_basis"))
    in_free = in_free_band(birth, on, values("copay.inpatient.free_age"), values("copay.inpatient.free_age_basis"))
    first = values("copay.outpatient.first_visit_amount").fillna(0).astype("int64")
    daily = values("copay.inpatient.daily_amount").fillna(0).astype("int64")
    pharmacy = values("copay.pharmacy_amount").fillna(0).astype("int64")
    texts = []
    for o_free, i_free, f, d, ph in zip(out_free, in_free, first, daily, pharmacy, strict=True):
        parts = ["通院 なし" if o_free or f == 0 else f"通院 初診時{f:,}円",
                 "入院 なし" if i_free or d == 0 else f"入院 1日{d:,}円",
                 *([] if ph == 0 else [f"調剤 {ph:,}円"])]
        texts.append("／".join(parts))
    return pd.Series(texts, index=birth.index)


def load_print_rows(session: Session, ring: KeyRing, policy: Policy, decisions: pd.DataFrame) -> pd.DataFrame:
    """Join each decision (person_id, decision_type, effective_date, valid_from, valid_to) to what is printed.

    Reads persons, guardians (latest application), 受給者番号, insurance and decrypts names and addresses.
    """
    conn = session.connection()
    ids = sorted(set(decisions["person_id"]))
    p, a = models.Person.__table__, models.Application.__table__
    apps = read_frame(conn, a, ["child_person_id", "guardian_person_id", "application_date"],
                      where=a.c.child_person_id.in_(ids))
    apps = (apps.sort_values(["child_person_id", "application_date"]).drop_duplicates("child_person_id", keep="last")
            .rename(columns={"child_person_id": "person_id"})[["person_id", "guardian_person_id"]])
    wanted = sorted(set(ids) | set(apps["guardian_person_id"].dropna()))
    persons = read_frame(conn, p, ["person_id", "birth_date", "dv_support_flag", "profile_enc"],
                         where=p.c.person_id.in_(wanted))
    persons = pd.concat([persons.drop(columns=["profile_enc"]), _profiles(ring, persons)], axis=1)
    persons = _with_contact_addresses(conn, ring, persons)
    guardians = persons[["person_id", "name"]].rename(columns={"person_id": "guardian_person_id",
                                                               "name": "guardian_name"})
    recipients = read_frame(conn, models.Recipient.__table__, ["person_id", "recipient_no", "public_payer_number"],
                            where=models.Recipient.__table__.c.person_id.in_(ids))
    cover = models.InsuranceCoverage.__table__
    insurance = read_frame(conn, cover, ["person_id", "insurer_number", "valid_from"],
                           where=cover.c.person_id.in_(ids))
    rows = (decisions.merge(persons, on="person_id", how="left").merge(apps, on="person_id", how="left")
            .merge(guardians, on="guardian_person_id", how="left").merge(recipients, on="person_id", how="left"))
    rows["guardian_name"] = rows["guardian_name"].fillna("")
    rows["card_from"] = pd.to_datetime(rows["valid_from"].fillna(rows["effective_date"]))
    # The insurance in force on the first day of validity: the latest coverage starting on or before it.
    insurance = insurance.assign(ins_from=pd.to_datetime(insurance["valid_from"])).drop(columns=["valid_from"])
    rows = rows.reset_index(drop=True)
    rows["_row"] = rows.index
    joined = rows[["_row", "person_id", "card_from"]].merge(insurance, on="person_id", how="inner")
    joined = joined[joined["ins_from"] <= joined["card_from"]].sort_values(["_row", "ins_from"])
    latest = joined.drop_duplicates("_row", keep="last").set_index("_row")["insurer_number"]
    # object before the fill: with no coverage on file the mapped column is float NaN, and pandas 4 refuses a
    # text fill on a float column (an empty 保険者番号 is printed as blank)
    rows["insurer_number"] = rows["_row"].map(latest).astype(object).fillna("")
    rows["copay"] = copay_text(policy, pd.to_datetime(rows["birth_date"]), rows["card_from"])
    return rows.drop(columns=["_row"])


def _date(value) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def build_documents(rows: pd.DataFrame, policy: Policy, issue_date: dt.date, *,
                    reissue_note: str = "") -> dict[str, list[Document]]:
    """The documents per batch (``issuance``, ``suspension``, ``loss``) for the joined decision rows."""
    appeal = appeal_instruction(policy, issue_date)
    issuer = issuer_title(policy, issue_date)
    certification_name = policy.at(issue_date).get("program.certification_name")
    batches: dict[str, list[Document]] = {"issuance": [], "suspension": [], "loss": []}
    ordered = rows.sort_values(["recipient_no", "person_id"], na_position="last")
    for row in ordered.itertuples(index=False):
        kind = row.decision_type
        recipient_no = row.recipient_no if isinstance(row.recipient_no, str) else ""
        addressee = Addressee(row.guardian_name or f"{row.name}の保護者", row.address or "",
                              care_note=CARE_NOTE if row.dv_support_flag else "")
        notice = NOTICE_OF.get(kind)
        if notice == "grant":
            batches["issuance"].append(GrantNotice(
                row.person_id, recipient_no, addressee, row.name, GRANT_LABELS[kind], _date(row.valid_from),
                _date(row.valid_to), _date(row.effective_date), issue_date, issuer, appeal))
        if kind in CERTIFICATE_TYPES or kind == "REISSUE":
            batches["issuance"].append(Certificate(
                row.person_id, recipient_no, row.public_payer_number or "", certification_name, row.name,
                row.name_kana, _date(row.birth_date), row.guardian_name, row.address or "", _date(row.valid_from),
                _date(row.valid_to), row.copay, row.insurer_number, issue_date, issuer, reissue_note))
        elif notice == "suspension":
            batches["suspension"].append(SuspensionNotice(
                row.person_id, recipient_no, addressee, row.name, _date(row.effective_date),
                SUSPENSION_REASONS[kind], issue_date, issuer, appeal))
        elif notice == "loss":
            batches["loss"].append(LossNotice(
                row.person_id, recipient_no, addressee, row.name, _date(row.effective_date), LOSS_REASONS[kind],
                issue_date, issuer, appeal))
    return batches


def month_decision_frame(session: Session, month: str) -> pd.DataFrame:
    """The month's decisions (no personal data)."""
    d = models.Decision.__table__
    return read_frame(session.connection(), d, ["person_id", "decision_type", "effective_date", "valid_from",
                                                "valid_to"], where=d.c.month == month)


def print_month(session: Session, *, month: str, ring: KeyRing, policy: Policy, home: Path, issue_date: dt.date,
                operator_id: str, run_id: str | None, workers: int = 1) -> MonthPrint:
    """Render the month's documents into ``<home>/print/<month>/`` and record the print.

    Re-running replaces the month's files with the same content (same names, reproducible PDFs).
    """
    decisions = month_decision_frame(session, month)
    if decisions.empty:
        return MonthPrint(month, ())
    rows = load_print_rows(session, ring, policy, decisions)
    documents = build_documents(rows, policy, issue_date)
    directory = print_directory(home, month)
    written = []
    for key, docs in documents.items():
        batch = write_batch(docs, directory, f"{BATCH_TITLES[key]}_{month}", workers=workers)
        if batch.pages:
            record_print(session, batch, docs, operator_id=operator_id, purpose=f"month-print-{key}", run_id=run_id)
            written.append(batch)
    return MonthPrint(month, tuple(written))


def print_person_documents(session: Session, *, person_id: str, decisions: Sequence[dict], ring: KeyRing,
                           policy: Policy, home: Path, issue_date: dt.date, operator_id: str, purpose: str,
                           batch_name: str, reissue_note: str = "") -> PrintBatch:
    """Documents of one counter action (e.g. 再交付, 喪失届) for one child, as one batch of the issue month."""
    if session.execute(select(models.Person.person_id).where(models.Person.person_id == person_id)).first() is None:
        raise LookupError("unknown 宛名番号")
    frame = pd.DataFrame(list(decisions), columns=["person_id", "decision_type", "effective_date", "valid_from",
                                                   "valid_to"])
    rows = load_print_rows(session, ring, policy, frame)
    documents = [d for docs in build_documents(rows, policy, issue_date, reissue_note=reissue_note).values()
                 for d in docs]
    month = issue_date.strftime("%Y-%m")
    batch = write_batch(documents, print_directory(home, month) / "counter", batch_name)
    record_print(session, batch, documents, operator_id=operator_id, purpose=purpose)
    return batch
