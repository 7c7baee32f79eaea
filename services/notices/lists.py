"""Staff outputs of a month: the 受給者証 issuance list and the 支給停止 / 喪失 notice lists.

CSV in CP932 with a header row so the lists open directly in Excel on the city's terminals. Characters
outside CP932 (外字) are printed as 〓 (ゲタ), the convention for characters a code page cannot show, so
staff see that the name needs manual care. No My Number is ever written. Files are written to a
temporary name and renamed when complete: a crash never leaves a half-written list.

A re-run keeps the month's routine lists when they cannot differ (:func:`kept_lists`): reading 150k decisions
to write the same bytes again was most of a quiet re-run (issue 13).
"""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import Connection, delete, exists, func, select
from sqlalchemy.orm import Session

from privacy.audit import record_access
from privacy.crypto import KeyRing
from privacy.csv_cells import neutralise_frame
from privacy.files import write_private_file
from services.intake.unchanged import INGEST_PURPOSE, WRITE_ACTIONS, writes_since
from store import models
from store.bulk import insert_frame, read_frame
from store.privacy_models import AccessRecord


def _geta(error: UnicodeEncodeError) -> tuple[str, int]:
    return "〓" * (error.end - error.start), error.end


codecs.register_error("geta", _geta)

ISSUANCE_TYPES = {"NEW": "新規", "RENEWAL": "更新", "CHANGE": "変更"}
SUSPENSION_TYPES = {"SUSPEND_INCOME": "支給停止（所得）"}
LOSS_TYPES = {"LOSS_MOVE_OUT": "喪失（転出）", "LOSS_DEATH": "喪失（死亡）", "LOSS_AGE": "喪失（年齢到達）",
              "LOSS_WELFARE": "喪失（生活保護）",
    "LOSS_INSURANCE": "喪失（保険資格喪失）", "LOSS_PLACEMENT": "喪失（措置）"}

_DV_NOTE = {True: "要確認", False: ""}

LISTS = {
    "issuance": ("受給者証交付一覧", ISSUANCE_TYPES),
    "suspension": ("支給停止通知一覧", SUSPENSION_TYPES),
    "loss": ("資格喪失通知一覧", LOSS_TYPES),
}


#: The access purpose of the routine (nameless) lists; the named print has its own.
ROUTINE_PURPOSE = "monthly-notice-lists"


def write_csv_atomically(frame: pd.DataFrame, path: Path, encoding: str = "cp932") -> str:
    """Write ``frame`` as CSV (CRLF) for staff, atomically, 0600 (privacy.files); return the bytes' SHA-256.

    The one writer of CSV files for people: cells that a spreadsheet would run as a formula are neutralised
    (privacy.csv_cells, OWASP CSV injection).
    """
    data = neutralise_frame(frame).to_csv(index=False, lineterminator="\r\n").encode(encoding, errors="geta")
    write_private_file(path, data)
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def kept_lists(conn: Connection, month: str, directory: Path, run_id: str) -> dict[str, int] | None:
    """The rows per list of the month's routine lists when a re-export would write the same bytes, else None.

    The lists are a function of the month's decisions, the children's birth date and 支援措置 flag and their
    受給者番号. They cannot differ from the files the last routine export wrote when:

    1. every file it recorded (``notice_list``) is on disk with the recorded SHA-256 (nobody deleted or
       edited one), and
    2. nobody wrote personal data after that export's access record: every writer of decisions, persons or
       受給者番号 leaves a writing access record (privacy.audit; the premise of services.intake.unchanged
       too). Flows that never write them (``READ_ONLY_FLOWS``) do not count, nor does this run's own ingest
       record when it stored no person row (``person.updated_run_id``): a re-run over the same inbox.
    Otherwise (and for the named print, which is always written) the lists are written again.
    """
    table = models.NoticeList.__table__
    state = conn.execute(select(table.c.list_key, table.c.file_name, table.c.sha256, table.c.row_count,
                                table.c.access_seq).where(table.c.month == month)).all()
    if {row.list_key for row in state} != set(LISTS):
        return None
    if any(_file_sha256(directory / row.file_name) != row.sha256 for row in state):
        return None
    seq = min(row.access_seq for row in state)
    allowed = set()
    person = models.Person.__table__
    if not conn.execute(select(exists().where(person.c.updated_run_id == run_id))).scalar():
        ar = AccessRecord.__table__
        own = conn.execute(select(func.count()).select_from(ar).where(
            ar.c.seq > seq, ar.c.run_id == run_id, ar.c.action.in_(WRITE_ACTIONS),
            ar.c.purpose != INGEST_PURPOSE)).scalar()
        if own:
            return None
        allowed.add(run_id)
    if writes_since(conn, seq, allowed):
        return None
    return {row.list_key: int(row.row_count) for row in state}


def _record_lists(conn: Connection, month: str, written: dict[str, tuple[str, str, int]], run_id: str) -> None:
    """Remember the routine lists as written (``written``: list key → file name, SHA-256, rows)."""
    ar = AccessRecord.__table__
    seq = conn.execute(select(func.max(ar.c.seq)).where(ar.c.run_id == run_id, ar.c.purpose == ROUTINE_PURPOSE)
                       ).scalar() if run_id else None
    table = models.NoticeList.__table__
    conn.execute(delete(table).where(table.c.month == month))
    if seq is None:  # no access record (an empty month): nothing a re-run could rely on
        return
    insert_frame(conn, table, pd.DataFrame(
        [{"month": month, "list_key": key, "file_name": name, "sha256": sha, "row_count": rows,
          "access_seq": int(seq), "run_id": run_id} for key, (name, sha, rows) in written.items()]))


def month_decisions(conn: Connection, month: str, ring: KeyRing | None = None) -> pd.DataFrame:
    """Decisions of ``month`` with 受給者番号, birth date and 支援措置 flag of each child.

    With ``ring`` the decrypted name, kana and address are joined too (the named print only).
    """
    decision = models.Decision.__table__
    decisions = read_frame(conn, decision, ["person_id", "decision_type", "effective_date", "valid_from",
                                            "valid_to"], where=decision.c.month == month)
    if decisions.empty:
        return decisions
    person = models.Person.__table__
    columns = ["person_id", "birth_date", "dv_support_flag", *(["profile_enc"] if ring else [])]
    # One statement with a sub-select: no bound list of ids, however many children were decided.
    persons = read_frame(conn, person, columns,
                         where=person.c.person_id.in_(select(decision.c.person_id).where(decision.c.month == month)))
    if ring is not None:
        profiles = ring.decrypt_many(persons["profile_enc"].tolist(), table="person", column="profile",
                                     row_keys=persons["person_id"].tolist())
        parsed = pd.DataFrame([orjson.loads(p) if p else {} for p in profiles], index=persons.index)
        persons = pd.concat([persons.drop(columns=["profile_enc"]), parsed], axis=1)
    recipients = read_frame(conn, models.Recipient.__table__, ["person_id", "recipient_no"])
    return decisions.merge(persons, on="person_id", how="left").merge(recipients, on="person_id", how="left")


def _date(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.strftime("%Y-%m-%d").fillna("")


def _column(rows: pd.DataFrame, name: str, dtype: str = "str") -> pd.Series:
    return rows[name] if name in rows else pd.Series(dtype=dtype)


def export_month_lists(session: Session, month: str, ring: KeyRing | None, outbox_dir: Path, *, operator_id: str,
                       run_id: str, with_names: bool = False) -> dict[str, int]:
    """Write the month's three lists; record the output; return rows per list.

    The lists of the monthly run identify children by 受給者番号 and 宛名番号 only (written to
    ``<outbox>/<month>/``): the PIA's "only what is needed" and no name leaves the database by routine.
    ``with_names`` adds 氏名, カナ and 住所 for the mailing of 受給者証 and notices; those lists go to
    ``<outbox>/<month>/print/`` and are an explicit, recorded print by a named operator.
    The routine lists are kept, not rewritten, when they cannot have changed (:func:`kept_lists`).
    """
    directory = Path(outbox_dir) / month / ("print" if with_names else "")
    if not with_names:
        kept = kept_lists(session.connection(), month, directory, run_id)
        if kept is not None:
            return kept
    frame = month_decisions(session.connection(), month, ring if with_names else None)
    counts: dict[str, int] = {}
    written: dict[str, tuple[str, str, int]] = {}
    for key, (title, types) in LISTS.items():
        rows = frame[frame["decision_type"].isin(list(types))] if not frame.empty else frame
        rows = rows.sort_values(["decision_type", "person_id"]) if not rows.empty else rows
        columns = {
            "受給者番号": _column(rows, "recipient_no").fillna(""),
            "宛名番号": _column(rows, "person_id"),
            "生年月日": _date(_column(rows, "birth_date", "datetime64[ns]")),
            "区分": _column(rows, "decision_type").map(types),
            "効力発生日": _date(_column(rows, "effective_date", "datetime64[ns]")),
            "有効期間開始": _date(_column(rows, "valid_from", "datetime64[ns]")),
            "有効期間終了": _date(_column(rows, "valid_to", "datetime64[ns]")),
            "送付先注意（支援措置）": _column(rows, "dv_support_flag", "bool").map(_DV_NOTE),
        }
        if with_names:
            columns = {**dict(list(columns.items())[:2]), "氏名": _column(rows, "name"),
                       "氏名カナ": _column(rows, "name_kana"), "住所": _column(rows, "address"),
                       **dict(list(columns.items())[2:])}
        out = pd.DataFrame(columns)
        file_name = f"{title}_{month}.csv"
        written[key] = (file_name, write_csv_atomically(out, directory / file_name), len(out))
        counts[key] = len(out)
    if not frame.empty:
        record_access(session, actor_id=operator_id, action="print",
                      purpose="notice-lists-named" if with_names else ROUTINE_PURPOSE,
                      subject_ids=frame["person_id"], record_count=int(sum(counts.values())), run_id=run_id)
    if not with_names:
        session.flush()
        _record_lists(session.connection(), month, written, run_id)
    return counts
