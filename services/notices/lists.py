"""Staff outputs of a month: the 受給者証 issuance list and the 支給停止 / 喪失 notice lists.

CSV in CP932 with a header row so the lists open directly in Excel on the city's terminals. Characters
outside CP932 (外字) are printed as 〓 (ゲタ), the convention for characters a code page cannot show, so
staff see that the name needs manual care. No My Number is ever written. Files are written to a
temporary name and renamed when complete: a crash never leaves a half-written list.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import orjson
import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from privacy.audit import record_access
from privacy.crypto import KeyRing
from privacy.csv_cells import neutralise_frame
from privacy.files import write_private_file
from store import models
from store.bulk import read_frame


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


def write_csv_atomically(frame: pd.DataFrame, path: Path, encoding: str = "cp932") -> None:
    """Write ``frame`` as CSV (CRLF) for staff, atomically, 0600 (privacy.files).

    The one writer of CSV files for people: cells that a spreadsheet would run as a formula are neutralised
    (privacy.csv_cells, OWASP CSV injection).
    """
    data = neutralise_frame(frame).to_csv(index=False, lineterminator="\r\n").encode(encoding, errors="geta")
    write_private_file(path, data)


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
    """
    frame = month_decisions(session.connection(), month, ring if with_names else None)
    directory = Path(outbox_dir) / month / ("print" if with_names else "")
    counts: dict[str, int] = {}
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
        write_csv_atomically(out, directory / f"{title}_{month}.csv")
        counts[key] = len(out)
    if not frame.empty:
        record_access(session, actor_id=operator_id, action="print",
                      purpose="notice-lists-named" if with_names else "monthly-notice-lists",
                      subject_ids=frame["person_id"], record_count=int(sum(counts.values())), run_id=run_id)
    return counts
