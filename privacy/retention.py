"""Retention rules and the purge job (PIA §3 (4), security.md SEC-09).

Rules are data (``retention_default.yaml``, overridden by ``KODOMO_RETENTION_FILE`` or
``kodomo purge --rules``): per table a cutoff in days on a date column (or on the date of a related row,
``via``, optionally only when that related row is the key's latest and carries one of ``last_event_in``
codes), and a method — ``delete`` rows, or ``erase`` listed columns (set them to NULL: the ciphertexts of
My Number and 基本4情報 are gone, the surrogate person_id stays). Each rule runs in one transaction that
also writes a ``deletion_record`` (date, operator, table, rule, count, method; the SHA-256 of the
affected person_ids, never a My Number) and one access record (action ``delete``).

Deleted rows cannot be restored from the live database; copies in older backups expire with the backup
generations (and can be crypto-shredded by retiring the data-key version).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import Engine, MetaData, Table, and_, delete, exists, func, inspect, select, update

from store.changes import ELIGIBILITY_INPUT_TABLES

DEFAULT_RULES = Path(__file__).with_name("retention_default.yaml")


@dataclass(frozen=True)
class RetentionRule:
    """One retention rule (see the module docstring)."""

    table: str
    days: int
    method: str = "delete"
    date_column: str | None = None
    via: dict | None = None
    columns: tuple[str, ...] = ()
    subject_column: str | None = None


@dataclass(frozen=True)
class RetentionPolicy:
    """All rules plus backup and export-file retention."""

    rules: tuple[RetentionRule, ...]
    backup_generations: int = 7
    export_file_days: int = 30
    source: str = ""


def load_retention(path: Path | str | None = None) -> RetentionPolicy:
    """Load the rules from ``path``, ``KODOMO_RETENTION_FILE`` or the packaged defaults."""
    target = Path(path or os.environ.get("KODOMO_RETENTION_FILE") or DEFAULT_RULES)
    raw = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    rules = []
    for number, entry in enumerate(raw.get("rules") or [], start=1):
        method = entry.get("method", "delete")
        if method not in ("delete", "erase"):
            raise ValueError(f"{target}: rule {number} has unknown method {method!r}")
        if not entry.get("date_column") and not entry.get("via"):
            raise ValueError(f"{target}: rule {number} needs date_column or via")
        if method == "erase" and not entry.get("columns"):
            raise ValueError(f"{target}: rule {number} erases but lists no columns")
        if int(entry["days"]) < 1:
            raise ValueError(f"{target}: rule {number} keeps less than a day")
        if (method == "delete" and entry["table"] in ELIGIBILITY_INPUT_TABLES
                and entry.get("subject_column") not in ("person_id", "household_id")):
            # The next monthly run re-decides the children a deleted input row reached: it must know whose.
            raise ValueError(f"{target}: rule {number} deletes eligibility inputs ({entry['table']}) and needs "
                             "subject_column person_id or household_id")
        rules.append(RetentionRule(
            table=entry["table"], days=int(entry["days"]), method=method, date_column=entry.get("date_column"),
            via=entry.get("via"), columns=tuple(entry.get("columns") or ()),
            subject_column=entry.get("subject_column"),
        ))
    return RetentionPolicy(tuple(rules), int(raw.get("backup_generations", 7)),
                           int(raw.get("export_file_days", 30)), str(target))


@dataclass
class PurgeOutcome:
    """Counts per rule (``table:method``) and what was skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _cutoff_value(column, cutoff: dt.date):
    from sqlalchemy import DateTime

    if isinstance(column.type, DateTime):
        return dt.datetime.combine(cutoff, dt.time(), tzinfo=dt.UTC)
    return cutoff


def _condition(rule: RetentionRule, table: Table, meta: MetaData, conn, cutoff: dt.date):
    if rule.via:
        other = Table(rule.via["table"], meta, autoload_with=conn)
        date_col = other.c[rule.via["date_column"]]
        key = rule.via["key"]
        old_keys = select(other.c[key]).where(date_col < _cutoff_value(date_col, cutoff))
        last_codes = rule.via.get("last_event_in")
        if last_codes:
            # the related row is the *latest* one of its key and has one of these codes (e.g. 転出/死亡)
            later = other.alias("later")
            old_keys = old_keys.where(
                other.c[rule.via["code_column"]].in_(list(last_codes)),
                ~exists().where(later.c[key] == other.c[key], later.c[rule.via["date_column"]] > date_col),
            )
        return table.c[key].in_(old_keys)
    date_col = table.c[rule.date_column]
    return and_(date_col.is_not(None), date_col < _cutoff_value(date_col, cutoff))


def purge(engine: Engine, policy: RetentionPolicy, *, operator_id: str, today: dt.date | None = None,
          dry_run: bool = False, run_id: str | None = None) -> PurgeOutcome:
    """Apply every rule; one transaction, deletion record and access record per rule with work to do."""
    from privacy.audit import pack_subjects, record_access
    from privacy.wipe import record_deletion
    from store.changes import record_changes
    from store.db import session_scope

    today = today or dt.datetime.now(dt.UTC).date()
    existing = set(inspect(engine).get_table_names())
    outcome = PurgeOutcome()
    for rule in policy.rules:
        label = f"{rule.table}:{rule.method}"
        if rule.table not in existing or (rule.via and rule.via["table"] not in existing):
            outcome.skipped.append(label)
            continue
        cutoff = today - dt.timedelta(days=rule.days)
        meta = MetaData()
        with session_scope(engine) as session:
            conn = session.connection()
            table = Table(rule.table, meta, autoload_with=conn)
            where = _condition(rule, table, meta, conn, cutoff)
            if rule.method == "erase":
                where = and_(where, *[table.c[c].is_not(None) for c in rule.columns[:1]])
            subject_col = table.c[rule.subject_column] if rule.subject_column else None
            if subject_col is not None:
                subjects = sorted({str(v) for v in conn.execute(select(subject_col).where(where)).scalars()})
                count = None
            else:
                subjects = []
                count = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
            if dry_run:
                outcome.counts[label] = len(subjects) if subject_col is not None else int(count)
                session.rollback()
                continue
            if rule.method == "delete":
                result = conn.execute(delete(table).where(where))
            else:
                result = conn.execute(update(table).where(where).values({c: None for c in rule.columns}))
            affected = int(result.rowcount)
            outcome.counts[label] = affected
            if affected == 0:
                continue
            if rule.method == "delete" and rule.table in ELIGIBILITY_INPUT_TABLES:
                # Deleted input rows (e.g. old 異動) can change a child's periods: the next month re-decides.
                reached = {"person_ids" if rule.subject_column == "person_id" else "household_ids": subjects}
                record_changes(conn, run_id or f"retention-{today.isoformat()}", **reached)
            what = (f"retention rule {rule.table} {rule.method}"
                    f"{' ' + ','.join(rule.columns) if rule.columns else ''}: rows dated before {cutoff.isoformat()}"
                    f" ({rule.days} days)")
            record_deletion(session, operator_id=operator_id, target=rule.table, content=what,
                            record_count=affected, method=f"sql-{rule.method}",
                            subject_digest=pack_subjects(subjects)[1] if subjects else None, run_id=run_id)
            record_access(session, actor_id=operator_id, action="delete", purpose=f"retention:{rule.table}",
                          subject_ids=subjects, record_count=affected, run_id=run_id)
    return outcome


def wipe_old_exports(engine: Engine, folder: Path, days: int, *, operator_id: str,
                     now: dt.datetime | None = None) -> list[str]:
    """Wipe export files in ``folder`` older than ``days`` (deletion record per file)."""
    from privacy.wipe import WIPE_METHOD, record_deletion, wipe_file
    from store.db import session_scope

    if not folder.exists():
        return []
    now = now or dt.datetime.now(dt.UTC)
    limit = (now - dt.timedelta(days=days)).timestamp()
    wiped = []
    with session_scope(engine) as session:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.stat().st_mtime < limit:
                lines = max(path.read_bytes().count(b"\n") - 1, 0)
                wipe_file(path)
                record_deletion(session, operator_id=operator_id, target="export-file",
                                content=f"export file {path.name} older than {days} days", record_count=lines,
                                method=WIPE_METHOD)
                wiped.append(path.name)
    return wiped
