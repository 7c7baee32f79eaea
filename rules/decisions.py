"""Monthly certificate decisions (受給者証 交付・更新・変更・支給停止・喪失) from eligibility periods.

Legal and administrative rules (domain.md §1.6; S12, S13, S49, S50):

* **NEW** (受給者証 交付): a registered child eligible in the month with no certificate for this spell of
  eligibility. Validity starts at the period start; when that lies before the current certificate
  cycle (history older than the last renewal date) it starts on the first day of the month instead.
* Validity ends on the earlier of the period end and the day before the next renewal date
  ``certificate.renewal_month_day`` (10-01: every 10月1日, as in Miyagi peers S49, S50 — [I] assumption).
* **RENEWAL** (更新): the held certificate expires by the end of the month (or the month is the renewal
  month) and the child stays eligible the next day: a certificate for the next cycle is issued ahead.
* **CHANGE** (変更): a held certificate whose validity end or status changes, e.g. the 2026-04-01 age
  extension to 18 (S1) lengthening validity, or a suspension lifted.
* **SUSPEND_INCOME** (支給停止通知): the status becomes ``SUSPENDED_INCOME`` (income over the limit or
  unknown, 2012-01-01 → 2023-03-31; S9, S7, S5). A suspended child is never renewed or changed: at the
  renewal date (a new income cycle) a suspension that goes on gets another SUSPEND_INCOME notice.
* **LOSS_MOVE_OUT / LOSS_DEATH / LOSS_AGE / LOSS_WELFARE / LOSS_INSURANCE / LOSS_PLACEMENT** (資格喪失): a
  period whose ``end_reason`` is ``MOVE_OUT``/``DEATH``/``AGE``/``WELFARE``/``INSURANCE``/``PLACEMENT`` (措置)
  ends within the month;
  effective the day after ``valid_to``. A loss reported late (the end lies in an earlier month while the
  certificate is still held beyond it) is decided retroactively in the month it becomes known, with the
  true end date — e.g. insurance ending 2026-01-14 reported in the 2026-02 file: 喪失 effective 2026-01-15.

The decision reference date is the last eligible day of the month; if the certificate for it expires on
the month's last day and eligibility continues, the first day of the next month (renewals are issued
ahead of the renewal date).

State: ``previous_certificates`` holds the latest certificate per child (``person_id, valid_from,
valid_to, status``); :func:`apply_decisions` produces the next state, with ``status`` = ``LOST`` after a
loss. Feeding that state back for the same month yields no NEW/RENEWAL/CHANGE/SUSPEND_INCOME and no
second loss, so re-running a month is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from rules import intervals as iv
from rules.dates import month_bounds, policy_snapshot_date
from rules.eligibility.codes import ELIGIBLE, RENEWAL_PARAMETER, SUSPENDED_INCOME, source_ids
from rules.eligibility.eras import cached_policy, lookup_parameter

LOST = "LOST"
DECISION_TYPES = (
    "NEW",
    "RENEWAL",
    "CHANGE",
    "SUSPEND_INCOME",
    "LOSS_MOVE_OUT",
    "LOSS_DEATH",
    "LOSS_AGE",
    "LOSS_WELFARE",
    "LOSS_INSURANCE",
    "LOSS_PLACEMENT",
)
LOSS_TYPES = {"MOVE_OUT": "LOSS_MOVE_OUT", "DEATH": "LOSS_DEATH", "AGE": "LOSS_AGE", "WELFARE": "LOSS_WELFARE",
              "INSURANCE": "LOSS_INSURANCE", "PLACEMENT": "LOSS_PLACEMENT"}
DECISION_COLUMNS = [
    "person_id",
    "decision_type",
    "effective_date",
    "valid_from",
    "valid_to",
    "reason_code",
    "rule",
    "parameter",
    "source",
    "status",
]
CERTIFICATE_COLUMNS = ["person_id", "valid_from", "valid_to", "status"]
RESIDENCE_SOURCES = "S12,S56"


def _dates(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.Series(values).astype("datetime64[ns]").to_numpy()


def certificate_cycle(policy: Any, dates: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The renewal cycle containing each date: (first day, last day, parameter lookup).

    A cycle runs from a renewal date ``certificate.renewal_month_day`` to the day before the next one.
    Where the parameter is not in force there is no cycle (first day :data:`rules.intervals.OPEN_START`,
    last day :data:`rules.intervals.OPEN_END`).
    """
    d = pd.Series(_dates(dates))
    found = lookup_parameter(policy, RENEWAL_PARAMETER, d)
    # month and day per era (a handful of values), then taken per row
    era_values = pd.Series(policy.eras(RENEWAL_PARAMETER)["value"].to_numpy(dtype=object)).astype("string")
    era_month = pd.to_numeric(era_values.str[:2], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    era_day = pd.to_numeric(era_values.str[3:5], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    era = found["era"].to_numpy()
    month = np.where(era >= 0, era_month[np.maximum(era, 0)], 0)
    day = np.where(era >= 0, era_day[np.maximum(era, 0)], 0)
    has = month > 0
    month, day = np.where(has, month, 1), np.where(has, day, 1)
    year = d.dt.year.fillna(2000).to_numpy(dtype=np.int64)
    this_year = _ymd(year, month, day)
    on_or_before = this_year <= d.to_numpy()
    first = np.where(on_or_before, this_year, _ymd(year - 1, month, day))
    following = np.where(on_or_before, _ymd(year + 1, month, day), this_year)
    first = np.where(has, first, np.datetime64(iv.OPEN_START, "ns"))
    last = np.where(has, following - np.timedelta64(1, "D"), np.datetime64(iv.OPEN_END, "ns"))
    return first.astype("datetime64[ns]"), last.astype("datetime64[ns]"), found


def _ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates from integer year, month and day arrays (numpy calendar arithmetic, no Python loop)."""
    months = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
    return (months.astype("datetime64[D]") + (day - 1)).astype("datetime64[ns]")


def _pick_code(reason_codes: pd.Series, prefixes: tuple[str, ...]) -> pd.Series:
    """The last code starting with one of ``prefixes`` in each ``;``-joined list (NA when none)."""
    alternatives = "|".join(prefixes)
    pattern = rf"(?:^|.*;)((?:{alternatives})[^;]*)"
    lists = reason_codes.astype("string")
    distinct = pd.Series(lists.dropna().unique(), dtype="string")  # few distinct code lists
    picked = dict(zip(distinct, distinct.str.extract(pattern, expand=False), strict=True))
    return lists.map(picked).astype("string")


def _code_sources(codes: pd.Series, policy: Any) -> pd.Series:
    """domain.md source ids of each code, from the reference of the parameter era the code names."""
    mapping: dict[str, str] = {}
    for code in codes.dropna().unique():  # one per distinct code (a handful), not per record
        parsed = re.match(r"^[A-Z_]+:([a-z0-9_.]+)=[^@]*@(\d{4}-\d{2}-\d{2})$", str(code))
        if parsed is None:
            mapping[code] = ""
            continue
        found = lookup_parameter(policy, parsed.group(1), pd.Series([pd.Timestamp(parsed.group(2))]))
        mapping[code] = source_ids(found["reference"].iloc[0])
    return codes.map(mapping).astype("string")


def _prepare_periods(periods: pd.DataFrame) -> pd.DataFrame:
    p = periods.reset_index(drop=True).copy()
    p["valid_from"] = _dates(p["valid_from"])
    p["valid_to"] = _dates(p["valid_to"])
    is_open = (p["end_reason"].astype("string") == "OPEN").fillna(False).to_numpy(bool)
    p["to_eff"] = np.where(is_open, np.datetime64(iv.OPEN_END, "ns"), p["valid_to"].to_numpy())
    p["to_eff"] = p["to_eff"].fillna(iv.OPEN_END)
    spells = iv.normalise(p.rename(columns={"valid_from": "start", "to_eff": "end"})[["person_id", "start", "end"]])
    spells = spells.rename(columns={"start": "spell_start", "end": "spell_end"})
    p = pd.merge_asof(
        p.sort_values("valid_from", kind="stable"),
        spells.sort_values("spell_start", kind="stable"),
        left_on="valid_from",
        right_on="spell_start",
        by="person_id",
        direction="backward",
    )
    return p.sort_values(["person_id", "valid_from"], kind="stable").reset_index(drop=True)


def _prepare_previous(previous: pd.DataFrame) -> pd.DataFrame:
    columns = {"valid_from": "prev_from", "valid_to": "prev_to", "status": "prev_status"}
    if previous is None or previous.empty:
        return pd.DataFrame(
            {
                "person_id": pd.Series(dtype="string"),
                "prev_from": pd.Series(dtype="datetime64[ns]"),
                "prev_to": pd.Series(dtype="datetime64[ns]"),
                "prev_status": pd.Series(dtype="string"),
            }
        )
    prev = previous[CERTIFICATE_COLUMNS].rename(columns=columns)
    prev["prev_from"] = _dates(prev["prev_from"])
    prev["prev_to"] = pd.Series(_dates(prev["prev_to"])).fillna(iv.OPEN_END).to_numpy()
    # a store that keeps "ACTIVE" for an eligible certificate means ELIGIBLE
    prev["prev_status"] = prev["prev_status"].astype("string").replace({"ACTIVE": ELIGIBLE})
    prev = prev.sort_values(["person_id", "prev_from"], kind="stable").drop_duplicates("person_id", keep="last")
    return prev


def _covering(p: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The period of each child that contains ``day``."""
    return p.loc[(p["valid_from"] <= day) & (p["to_eff"] >= day)].drop_duplicates("person_id", keep="last")


def decide_month(
    periods: pd.DataFrame, previous_certificates: pd.DataFrame | None, month: str, policy: Any
) -> pd.DataFrame:
    """Certificate decisions for one processing month (see the module docstring for the rules).

    Args:
        periods: eligibility periods (:func:`rules.eligibility.determine_eligibility`): ``person_id,
            valid_from, valid_to, status, end_reason, reason_codes, sources``. Use a horizon that reaches
            at least the end of the month after ``month``; periods with ``end_reason`` ``OPEN`` are
            taken to continue.
        previous_certificates: latest stored certificate per child: ``person_id, valid_from, valid_to,
            status`` (``ELIGIBLE``, ``SUSPENDED_INCOME`` or ``LOST``); None or empty on the first run.
        month: ``YYYY-MM``.
        policy: the loaded policy (``certificate.renewal_month_day``).

    Returns:
        ``person_id, decision_type, effective_date, valid_from, valid_to, reason_code, rule, parameter,
        source, status`` sorted by person, effective date and decision type. ``status`` is the
        certificate status after the decision (``LOST`` for a loss).
    """
    m_start, m_end = month_bounds(month)
    policy = cached_policy(policy)
    previous = previous_certificates if previous_certificates is not None else pd.DataFrame(
        columns=CERTIFICATE_COLUMNS)
    # int codes in sorted id order: fast joins, and sorting by code sorts by person_id
    codes, ids = pd.factorize(
        np.concatenate([periods["person_id"].to_numpy(dtype=object), previous["person_id"].to_numpy(dtype=object)]),
        sort=True,
    )
    p = _prepare_periods(periods.assign(person_id=codes[: len(periods)]))
    previous = previous.assign(person_id=codes[len(periods):])
    prev = _prepare_previous(previous)
    issued = _issue(p, prev, m_start, m_end, policy)
    # A certificate issued now that expires on the month's last day while eligibility goes on (e.g. a NEW
    # in September) is followed at once by the next one, as a held certificate would be (look-ahead).
    expiring = issued.loc[issued["valid_to"].to_numpy() == np.datetime64(m_end, "ns"), "person_id"]
    if len(expiring):
        held = apply_decisions(previous.loc[previous["person_id"].isin(expiring)],
                               issued.loc[issued["person_id"].isin(expiring)])
        follow = _issue(p.loc[p["person_id"].isin(expiring)], _prepare_previous(held), m_start, m_end, policy)
        issued = pd.concat([issued, follow], ignore_index=True) if len(follow) else issued
    frames = [issued, _losses(p, prev, m_start, m_end, policy)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_decisions()
    decisions = pd.concat(frames, ignore_index=True)
    decisions["_order"] = decisions["decision_type"].map({t: i for i, t in enumerate(DECISION_TYPES)})
    decisions = decisions.sort_values(["person_id", "effective_date", "_order"], kind="stable")
    decisions["person_id"] = pd.Series(np.asarray(ids, dtype=object)[decisions["person_id"].to_numpy(dtype=np.int64)],
                                       index=decisions.index).astype("str")
    return decisions[DECISION_COLUMNS].reset_index(drop=True)


def _issue(p: pd.DataFrame, prev: pd.DataFrame, m_start: pd.Timestamp, m_end: pd.Timestamp, policy: Any
           ) -> pd.DataFrame:
    """NEW, RENEWAL, CHANGE and SUSPEND_INCOME decisions."""
    overlapping = p.loc[(p["valid_from"] <= m_end) & (p["to_eff"] >= m_start)]
    current = overlapping.drop_duplicates("person_id", keep="last").reset_index(drop=True)
    if current.empty:
        return _empty_decisions()
    r0 = np.minimum(current["to_eff"].to_numpy(), np.datetime64(m_end, "ns"))
    _, cycle_end0, _ = certificate_cycle(policy, pd.Series(r0))
    to0 = np.minimum(current["to_eff"].to_numpy(), cycle_end0)
    next_day = m_end + iv.ONE_DAY
    ahead = _covering(p, next_day).set_index("person_id")
    held = current[["person_id"]].merge(prev, on="person_id", how="left")
    holds_month_end = (held["prev_to"].to_numpy() >= r0) & (
        held["prev_status"].astype("string").fillna(LOST).to_numpy() != LOST)
    look_ahead = (
        (r0 == np.datetime64(m_end, "ns"))
        & (to0 == np.datetime64(m_end, "ns"))
        & holds_month_end
        & current["person_id"].isin(ahead.index).to_numpy()
    )
    chosen = pd.concat(
        [
            current.loc[~look_ahead].assign(ref_date=r0[~look_ahead]),
            ahead.loc[current.loc[look_ahead, "person_id"]].reset_index().assign(ref_date=next_day),
        ],
        ignore_index=True,
    )
    chosen["ref_date"] = _dates(chosen["ref_date"])
    c = chosen.merge(prev, on="person_id", how="left")
    cycle_start, cycle_end, _ = certificate_cycle(policy, c["ref_date"])
    vf, to_eff = c["valid_from"].to_numpy(), c["to_eff"].to_numpy()
    m0 = np.datetime64(m_start, "ns")
    to = np.minimum(to_eff, cycle_end)
    natural_from = np.where(vf >= cycle_start, vf, np.maximum(m0, cycle_start))

    status = c["status"].astype("string").to_numpy()
    prev_status = c["prev_status"].astype("string").fillna("").to_numpy()
    prev_from = c["prev_from"].to_numpy()
    prev_to = c["prev_to"].to_numpy()
    has_prev = ~np.isnat(prev_from)
    related = has_prev & (prev_to >= c["spell_start"].to_numpy()) & (prev_from <= c["spell_end"].to_numpy())
    lost = related & (prev_status == LOST)
    active = related & ~lost
    ref = c["ref_date"].to_numpy()
    expired = active & (prev_to < ref)
    covering = active & (prev_to >= ref)
    suspended = status == SUSPENDED_INCOME
    renewal_month = _renewal_month(policy, m_start)

    # certificates after an expiry: from the day after, or from the month/cycle start for old history
    after = np.maximum(prev_to + np.timedelta64(1, "D"), c["spell_start"].to_numpy())
    after = np.where(after < cycle_start, np.maximum(m0, cycle_start), after)
    status_changed = covering & (status != prev_status)
    # a period that ends this month for a loss reason is announced by the LOSS_* decision instead
    ends_in_loss = (
        c["end_reason"].astype("string").isin(list(LOSS_TYPES)).fillna(False).to_numpy(bool)
        & (to == c["valid_to"].to_numpy())
        & (to < prev_to)
    )
    to_changed = covering & ~status_changed & (to != prev_to) & ~ends_in_loss
    older_cycle = prev_from < cycle_start
    change_from = np.maximum(vf, prev_from)

    kind = np.select(
        [
            ~related & ~suspended,
            ~related & suspended,
            expired & suspended & (prev_status == ELIGIBLE),
            expired & ((prev_to + np.timedelta64(1, "D") <= cycle_start) | renewal_month),
            expired,
            status_changed & suspended,
            status_changed,
            to_changed & older_cycle,
            to_changed,
        ],
        ["NEW", "SUSPEND_INCOME", "SUSPEND_INCOME", "RENEWAL", "CHANGE", "SUSPEND_INCOME", "CHANGE", "RENEWAL",
         "CHANGE"],
        "",
    )
    valid_from = np.select(
        [~related, expired, status_changed, to_changed & older_cycle],
        [natural_from, after, change_from, np.maximum(cycle_start, c["spell_start"].to_numpy())],
        prev_from,
    )
    effective = np.select(
        [to_changed & ~older_cycle],
        [np.minimum(prev_to, to) + np.timedelta64(1, "D")],
        valid_from,
    )
    # A suspended child (支給停止) holds no 受給者証: what would renew or change a certificate is a
    # (continued) 支給停止通知 instead — no 更新, no 交付一覧 row, no valid PMH record (issue 12 §7).
    kind = np.where(suspended & np.isin(kind, ["RENEWAL", "CHANGE"]), "SUSPEND_INCOME", kind)
    out = pd.DataFrame(
        {
            "person_id": c["person_id"].to_numpy(),
            "decision_type": kind,
            "effective_date": _dates(effective),
            "valid_from": _dates(valid_from),
            "valid_to": _dates(np.where(to >= np.datetime64(iv.OPEN_END, "ns"), np.datetime64("NaT"), to)),
            "status": status,
            "_codes": c["reason_codes"].astype("string").to_numpy(),
            "_status_changed": active & (status != prev_status),
        }
    )
    out = out.loc[out["decision_type"] != ""].reset_index(drop=True)
    return _explain(out, policy)


def _renewal_month(policy: Any, m_start: pd.Timestamp) -> bool:
    """True when the month contains the renewal date in force at the month's snapshot date (its last day)."""
    value = policy.at(policy_snapshot_date(m_start.strftime("%Y-%m"))).get(RENEWAL_PARAMETER)
    return value is not None and int(str(value)[:2]) == m_start.month


def _explain(out: pd.DataFrame, policy: Any) -> pd.DataFrame:
    """Reason code, rule, parameter and source of each decision (vectorised over rows)."""
    codes = out["_codes"]
    when = out["valid_from"].dt.strftime("%Y-%m-%d")
    renewal = lookup_parameter(policy, RENEWAL_PARAMETER, pd.Series(out["valid_from"].to_numpy(), index=out.index))
    renewal_from = pd.Series(pd.to_datetime(renewal["effective_from"]), index=out.index).dt.strftime("%Y-%m-%d")
    renewal_code = ("CERTIFICATE_RENEWAL:" + RENEWAL_PARAMETER + "=" + renewal["value"].astype("string").fillna("None")
                    + "@" + renewal_from.fillna(when))
    kind = out["decision_type"]
    status_changed = out["_status_changed"].to_numpy(bool)
    conditions = [
        kind.eq("NEW").to_numpy(),
        kind.eq("SUSPEND_INCOME").to_numpy(),
        kind.eq("RENEWAL").to_numpy(),
        (kind.eq("CHANGE") & status_changed).to_numpy(),
        kind.eq("CHANGE").to_numpy(),
    ]
    choices = [
        _pick_code(codes, ("REGISTRATION_",)),
        _pick_code(codes, ("INCOME_OVER_LIMIT", "INCOME_UNKNOWN")),
        renewal_code,
        _pick_code(codes, ("INCOME_WITHIN_LIMIT", "NO_INCOME_TEST")),
        _pick_code(codes, ("AGE_LIMIT",)),
    ]
    code = pd.Series(np.select(conditions, [c.to_numpy(dtype=object) for c in choices], None), index=out.index)
    return _finish(out.drop(columns=["_codes", "_status_changed"]), code, _code_sources(code, policy))


def _finish(out: pd.DataFrame, code: pd.Series, source: pd.Series) -> pd.DataFrame:
    out = out.copy()
    out["reason_code"] = pd.Series(code.to_numpy(dtype=object), index=out.index).astype("string")
    # parsed once per distinct code (a handful), then mapped onto the rows
    distinct = pd.Series(out["reason_code"].dropna().unique(), dtype="string")
    rules = dict(zip(distinct, distinct.str.split(":").str[0], strict=True))
    parameters = dict(zip(distinct, distinct.str.extract(r":([^=]+)=", expand=False), strict=True))
    out["rule"] = out["reason_code"].map(rules).astype("string")
    out["parameter"] = out["reason_code"].map(parameters).astype("string")
    out["source"] = pd.Series(source.to_numpy(dtype=object), index=out.index).astype("string")
    return out


def _losses(
    p: pd.DataFrame, prev: pd.DataFrame, m_start: pd.Timestamp, m_end: pd.Timestamp, policy: Any
) -> pd.DataFrame:
    """LOSS_* decisions (資格喪失).

    For periods that end in the month for a loss reason, and — catching up a loss reported late (e.g. a
    転出 notified after the month it happened in) — for earlier such periods whose certificate is still
    held beyond the loss date.
    """
    reason = p["end_reason"].astype("string")
    is_loss = reason.isin(list(LOSS_TYPES)).fillna(False).to_numpy(bool)
    ending = p.loc[is_loss & (p["valid_to"] <= m_end).to_numpy()]
    if ending.empty:
        return _empty_decisions()
    c = ending.merge(prev, on="person_id", how="left")
    prev_from, prev_to = c["prev_from"].to_numpy(), c["prev_to"].to_numpy()
    prev_status = c["prev_status"].astype("string").fillna("").to_numpy()
    valid_to = c["valid_to"].to_numpy()
    related = ~np.isnat(prev_from) & (prev_to >= c["spell_start"].to_numpy()) & (prev_from <= valid_to)
    in_month = valid_to >= np.datetime64(m_start, "ns")
    late = ~in_month & related & (prev_status != LOST) & (prev_to > valid_to)
    already = related & (prev_status == LOST) & (prev_to == valid_to)
    keep = (in_month | late) & ~already
    c = c.loc[keep].reset_index(drop=True)
    related = related[keep]
    if c.empty:
        return _empty_decisions()
    cycle_start, _, _ = certificate_cycle(policy, c["valid_to"])
    valid_from = np.where(related, c["prev_from"].to_numpy(), np.maximum(c["valid_from"].to_numpy(), cycle_start))
    out = pd.DataFrame(
        {
            "person_id": c["person_id"].to_numpy(),
            "decision_type": c["end_reason"].astype("string").map(LOSS_TYPES).to_numpy(),
            "effective_date": _dates(c["valid_to"] + iv.ONE_DAY),
            "valid_from": _dates(valid_from),
            "valid_to": _dates(c["valid_to"]),
            "status": LOST,
        }
    )
    kind = out["decision_type"]
    code = pd.Series(
        np.select(
            [kind.eq("LOSS_AGE").to_numpy(), kind.eq("LOSS_WELFARE").to_numpy(), kind.eq("LOSS_MOVE_OUT").to_numpy(),
             kind.eq("LOSS_INSURANCE").to_numpy(), kind.eq("LOSS_PLACEMENT").to_numpy()],
            [
                _pick_code(c["reason_codes"], ("AGE_LIMIT",)).to_numpy(dtype=object),
                _pick_code(c["reason_codes"], ("WELFARE_EXCLUSION",)).to_numpy(dtype=object),
                "RESIDENCE_END:MOVE_OUT",
                _pick_code(c["reason_codes"], ("INSURANCE_REQUIRED",)).to_numpy(dtype=object),
                _pick_code(c["reason_codes"], ("PLACEMENT_EXCLUSION",)).to_numpy(dtype=object),
            ],
            "RESIDENCE_END:DEATH",
        ),
        index=out.index,
    )
    source = _code_sources(code, policy).where(~kind.isin(["LOSS_MOVE_OUT", "LOSS_DEATH"]), RESIDENCE_SOURCES)
    return _finish(out, code, source)


def apply_decisions(previous_certificates: pd.DataFrame | None, decisions: pd.DataFrame) -> pd.DataFrame:
    """The certificate state after a month's decisions (what the store keeps per child).

    The last decision of a child (by effective date, then decision type) sets ``valid_from, valid_to``
    and ``status`` (``LOST`` after a loss); children without decisions keep their state.
    """
    prev = (
        pd.DataFrame(columns=CERTIFICATE_COLUMNS)
        if previous_certificates is None or previous_certificates.empty
        else previous_certificates[CERTIFICATE_COLUMNS]
    )
    if decisions.empty:
        return prev.reset_index(drop=True)
    ordered = decisions.assign(_order=decisions["decision_type"].map({t: i for i, t in enumerate(DECISION_TYPES)}))
    ordered = ordered.sort_values(["person_id", "effective_date", "_order"], kind="stable")
    latest = ordered.drop_duplicates("person_id", keep="last")[CERTIFICATE_COLUMNS]
    kept = prev.loc[~prev["person_id"].isin(latest["person_id"])]
    if kept.empty:
        # Nobody keeps a certificate (a first load): concatenating the empty frame, whose columns are
        # objects, would box every date only for the lines below to unbox it. The ids get the dtype
        # the concatenation gives them; the other columns are normalised below either way.
        state = latest.reset_index(drop=True)
        state["person_id"] = pd.concat([kept["person_id"], latest["person_id"]], ignore_index=True)
    else:
        state = pd.concat([kept, latest], ignore_index=True)
    state["valid_from"] = _dates(state["valid_from"])
    state["valid_to"] = _dates(state["valid_to"])
    state["status"] = state["status"].astype("string")
    return state.sort_values("person_id", kind="stable").reset_index(drop=True)


def _empty_decisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": pd.Series(dtype="string"),
            "decision_type": pd.Series(dtype="string"),
            "effective_date": pd.Series(dtype="datetime64[ns]"),
            "valid_from": pd.Series(dtype="datetime64[ns]"),
            "valid_to": pd.Series(dtype="datetime64[ns]"),
            "reason_code": pd.Series(dtype="string"),
            "rule": pd.Series(dtype="string"),
            "parameter": pd.Series(dtype="string"),
            "source": pd.Series(dtype="string"),
            "status": pd.Series(dtype="string"),
        }
    )
