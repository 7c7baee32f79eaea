"""Synthetic receipts: ``claims.csv`` (現物給付) and ``reimbursement_applications.csv`` (償還払い).

Vectorised and deterministic (one seed, one output). Shape (docs/formats/claims.md "synthetic data"):

* about 10 receipts per child per year (Poisson per child and month): 外来 ~57 %, 調剤 ~28 %, 歯科 ~13 %,
  入院 ~1.5 % of receipts — admissions last 2–40 days, some start in the previous month (the receipt then
  carries the earlier ``admission_date``), so co-pay days cross month ends;
* 総点数 log-normal per care type; ~40 % of outpatient receipts carry a 初診; meals on inpatient receipts;
* ~2 % of visits are outside Miyagi and ~0.5 % without a 受給者証 → 償還払い applications, plus ~0.1 % 治療用
  装具; payee accounts are random (bank and branch codes, half-width kana names from a small list);
* ~1 % of inpatient receipts have 小児慢性 (法別 52) paying all but 2,200円; 高額療養費 stated on half
  the high-cost receipts, the 区分 always given; a few 付加給付 on 健保組合 receipts;
* 受給者番号: the children sorted by person_id get 000001, 000002 … with their check digit — the numbers
  ``services.eligibility.decide.assign_recipients`` gives when every child registers in the first run;
  children who never register produce NOT_REGISTERED receipts, as in real life;
* a small share of deliberately bad rows (wrong check digit, inpatient without admission, dates outside
  the 診療年月) listed in the returned summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rules.checkdigits import assign_recipient_numbers, with_modulus10_w21
from schemas.claims import CLAIM_COLUMNS, REIMBURSEMENT_COLUMNS, modulus10_w21

CARE_SHARES = {"OUTPATIENT": 0.57, "PHARMACY": 0.28, "DENTAL": 0.135, "INPATIENT": 0.015}
#: log-normal (median points, sigma) per care type; inpatient is per day.
POINTS = {"OUTPATIENT": (450, 0.6), "PHARMACY": (350, 0.7), "DENTAL": (600, 0.5), "INPATIENT": (3500, 0.5)}
MEAL_PER_DAY = 3 * 490  # 入院時食事療養 標準負担額 (3 meals × 490円, 2025-04)
KANA_NAMES = np.array(["ﾔﾏﾀﾞ ﾀﾛｳ", "ｻﾄｳ ﾊﾅｺ", "ｽｽﾞｷ ｲﾁﾛｳ", "ﾀｶﾊｼ ﾕｲ", "ﾀﾅｶ ｹﾝ", "ﾜﾀﾅﾍﾞ ﾐｵ", "ｲﾄｳ ｿｳﾀ",
                       "ﾅｶﾑﾗ ﾘﾝ", "ｺﾊﾞﾔｼ ﾊﾙﾄ", "ｶﾄｳ ﾒｲ"], dtype=object)
OTHER_PREFECTURES = np.array(["13", "07", "03", "11", "14", "27"], dtype=object)


def _institutions(rng: np.random.Generator, prefecture: str, count: int, table: str) -> np.ndarray:
    """``count`` distinct 10-digit 医療機関コード of ``prefecture`` (都道府県2 + 点数表1 + 郡市区2 + 番号4 + CD)."""
    numbers = rng.choice(10_000, size=count, replace=False)
    districts = rng.integers(1, 20, count)
    return np.array([with_modulus10_w21(f"{prefecture}{table}{d:02d}{n:04d}") for d, n in
                     zip(districts, numbers, strict=True)], dtype=object)


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def children_frame(residents: pd.DataFrame | str | Path, as_of: str | None = None) -> pd.DataFrame:
    """Children (続柄 03, under 19 on ``as_of``) with ``person_id, birth_date, recipient_no``.

    ``residents`` is the residents frame or an inbox directory holding residents.csv (UTF-8 or CP932).
    The 受給者番号 are the pipeline's first-run assignment (sorted person_id, sequence from 000001).
    """
    if not isinstance(residents, pd.DataFrame):
        from connectors.files import read_input_csv
        from schemas import INPUT_COLUMNS

        residents = read_input_csv(Path(residents) / "residents.csv", INPUT_COLUMNS["residents.csv"])
    frame = residents[residents["relationship_code"].astype(str) == "03"][["person_id", "birth_date"]].copy()
    frame["birth_date"] = pd.to_datetime(frame["birth_date"], errors="coerce")
    frame = frame.dropna(subset=["birth_date"]).drop_duplicates("person_id")
    if as_of is not None:
        frame = frame[frame["birth_date"] > pd.Timestamp(as_of) - pd.DateOffset(years=19)]
    frame = frame.sort_values("person_id", ignore_index=True)
    frame["recipient_no"] = assign_recipient_numbers(1, len(frame))
    return frame


def synthetic_receipts(children: pd.DataFrame, month: str, seed: int, *, receipts_per_year: float = 10.0,
                       insurers: pd.Series | None = None, count: int | None = None) -> dict[str, pd.DataFrame]:
    """Draw one service month of receipts for ``children`` (person_id, birth_date, recipient_no).

    ``count`` fixes the number of receipts (benchmarks); otherwise Poisson(receipts_per_year / 12) per child.
    Returns string frames ``claims`` and ``applications`` with the documented columns, in file order.
    """
    rng = np.random.default_rng([seed, 3])
    start = np.datetime64(f"{month}-01", "D")
    end = (start.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    month_days = int((end - start).astype(int)) + 1
    if count is None:
        per_child = rng.poisson(receipts_per_year / 12, len(children))
        who = np.repeat(np.arange(len(children)), per_child)
    else:
        who = rng.integers(0, len(children), count)
    n = len(who)
    care = rng.choice(list(CARE_SHARES), size=n, p=list(CARE_SHARES.values())).astype(object)
    is_in = care == "INPATIENT"
    day = rng.integers(0, month_days, n)
    first = start + day
    # Inpatient: a stay of 2–40 days, ~30 % admitted in the previous month.
    stay = np.clip(rng.gamma(1.6, 6.0, n).astype(np.int64) + 2, 2, 40)
    earlier = is_in & (rng.random(n) < 0.3)
    admission = np.where(earlier, start - rng.integers(1, 20, n), first)
    first = np.where(earlier, start, first)
    last = np.where(is_in, np.minimum(admission + stay - 1, end), first)
    last = np.maximum(last, first)
    days = np.where(is_in, (last - first).astype(np.int64) + 1, 1)
    median = pd.Series(care).map({k: v[0] for k, v in POINTS.items()}).to_numpy(dtype=float)
    sigma = pd.Series(care).map({k: v[1] for k, v in POINTS.items()}).to_numpy(dtype=float)
    points = np.maximum(1, rng.lognormal(np.log(median), sigma)).astype(np.int64) * np.where(is_in, days, 1)
    first_visit = np.where(is_in | (care == "PHARMACY"), "0", np.where(rng.random(n) < 0.4, "1", "0"))

    in_miyagi = _institutions(rng, "04", 1_200, "1")
    pharmacies = _institutions(rng, "04", 400, "4")
    dentists = _institutions(rng, "04", 300, "3")
    institution = np.where(care == "PHARMACY", pharmacies[rng.integers(0, len(pharmacies), n)],
                           np.where(care == "DENTAL", dentists[rng.integers(0, len(dentists), n)],
                                    in_miyagi[rng.integers(0, len(in_miyagi), n)]))
    if insurers is not None and len(insurers):
        insurer = insurers.reindex(children["person_id"]).fillna("01040013").to_numpy(dtype=object)[who]
    else:
        insurer = np.array(["01040013", "06130488", with_modulus10_w21("04010")], dtype=object)[rng.integers(0, 3, n)]

    self_pay_guess = points * 10 * 3 // 10
    chronic = is_in & (rng.random(n) < 0.01)
    other_amount = np.where(chronic, np.maximum(self_pay_guess - 2_200, 0), 0)
    high = is_in & (self_pay_guess > 35_400)
    category = np.where(is_in, rng.choice(np.array(["a", "i", "u", "e", "o"], dtype=object), n,
                                          p=[0.05, 0.1, 0.55, 0.2, 0.1]), None)
    stated = high & (rng.random(n) < 0.5)
    limit_guess = np.where(category == "o", 35_400, 80_100)
    high_cost = np.where(stated, np.maximum(self_pay_guess - other_amount - limit_guess, 0), -1)
    added = np.where(high & (rng.random(n) < 0.05), 10_000, 0)
    meal = np.where(is_in, days * MEAL_PER_DAY, 0)

    route = np.where(rng.random(n) < 0.02, "OUT", np.where(rng.random(n) < 0.005, "NOCERT", "IN_KIND"))
    route = np.where(is_in & (route == "NOCERT"), "IN_KIND", route)
    orthosis = rng.random(n) < 0.001
    route = np.where(orthosis, "ORTHOSIS", route)
    elsewhere = np.concatenate([_institutions(rng, p, 100, "1") for p in OTHER_PREFECTURES])
    institution = np.where(route == "OUT", elsewhere[rng.integers(0, len(elsewhere), n)], institution)
    care = np.where(orthosis, "ORTHOSIS", care)

    child = children.iloc[who].reset_index(drop=True)
    claim_no = np.arange(1, n + 1)
    base = pd.DataFrame({
        "service_month": month, "first_service_date": _dates(first), "last_service_date": _dates(last),
        "service_days": days.astype(str), "institution_code": institution, "care_type": care,
        "first_visit_flag": first_visit,
        # One id per child and admission day, so every monthly receipt of a stay carries the same id.
        "admission_id": np.where(is_in, np.char.add(child["recipient_no"].to_numpy(dtype=str), np.char.replace(
            _dates(admission).astype(str), "-", "")), None),
        "admission_date": np.where(is_in, _dates(admission), None),
        "insurer_number": insurer, "recipient_no": child["recipient_no"].to_numpy(dtype=object),
        "other_law_no_1": np.where(chronic, "52", None), "other_amount_1": np.where(chronic, other_amount.astype(
            str), None),
        "other_law_no_2": None, "other_amount_2": None, "other_law_no_3": None, "other_amount_3": None,
        "high_cost_amount": np.where(high_cost >= 0, high_cost.astype(str), None),
        "high_cost_category": category,
        "high_cost_many_times_flag": np.where(is_in, "0", None),
        "additional_benefit_amount": np.where(added > 0, added.astype(str), None),
        "meal_amount": np.where(meal > 0, meal.astype(str), None),
        # 診療日 list (UKE calendar records) for one-day receipts; empty = only first/last known
        "service_dates": np.where(days == 1, np.char.zfill(_day_of_month(first).astype(str), 2), None),
    })
    billing = (start.astype("datetime64[M]") + 1).astype(str)
    in_kind = route == "IN_KIND"
    claims = base[in_kind].copy()
    claims.insert(0, "claim_id", np.char.add(f"K{month.replace('-', '')}", np.char.zfill(
        claim_no[in_kind].astype(str), 8)))
    claims.insert(1, "billing_month", billing)
    claims["total_points"] = points[in_kind].astype(str)
    claims = claims[CLAIM_COLUMNS]

    apps = base[~in_kind].copy()
    m = int((~in_kind).sum())
    apps["application_id"] = np.char.add(f"S{month.replace('-', '')}", np.char.zfill(
        claim_no[~in_kind].astype(str), 8))
    applied = np.minimum(last[~in_kind] + rng.integers(5, 60, m), end + 60)
    apps["application_date"] = _dates(applied)
    apps["reason_code"] = np.select([route[~in_kind] == "OUT", route[~in_kind] == "ORTHOSIS"],
                                    ["OUT_OF_PREFECTURE", "ORTHOSIS"], default="CERTIFICATE_NOT_SHOWN")
    apps.loc[apps["reason_code"] == "ORTHOSIS", "institution_code"] = None
    total = points[~in_kind] * 10
    total = np.where(route[~in_kind] == "ORTHOSIS", rng.integers(2, 30, m) * 5_000, total)
    apps["total_cost_amount"] = total.astype(str)
    apps["receipt_amount"] = np.where(route[~in_kind] == "ORTHOSIS", total, total * 3 // 10).astype(str)
    apps["bank_code"] = np.char.zfill(rng.integers(1, 9_999, m).astype(str), 4)
    apps["branch_code"] = np.char.zfill(rng.integers(1, 999, m).astype(str), 3)
    apps["account_type"] = np.where(rng.random(m) < 0.95, "1", "2")
    apps["account_number"] = np.char.zfill(rng.integers(1, 9_999_999, m).astype(str), 7)
    apps["account_holder_kana"] = KANA_NAMES[rng.integers(0, len(KANA_NAMES), m)]
    apps = apps[REIMBURSEMENT_COLUMNS]
    return {"claims": claims.reset_index(drop=True), "applications": apps.reset_index(drop=True)}


def _day_of_month(days: np.ndarray) -> np.ndarray:
    """Day of the month of each date (datetime64 or days since the epoch)."""
    as_days = np.asarray(days).astype("datetime64[D]")
    return (as_days - as_days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


def _break_rows(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> list[int]:
    """Corrupt a few rows in place; return their source row numbers (header = 1)."""
    if frame.empty or share <= 0:
        return []
    count = max(1, int(len(frame) * share))
    rows = np.sort(rng.choice(len(frame), size=min(count, len(frame)), replace=False))
    kinds = rng.integers(0, 3, len(rows))
    for kind, column, value in ((0, "recipient_no", None), (1, "first_service_date", "1999-01-01"),
                                (2, "service_days", "0")):
        target = rows[kinds == kind]
        if column == "recipient_no":
            text = frame.loc[target, column].astype(str)
            wrong = (text.str[-1].astype(int) + 1) % 10
            frame.loc[target, column] = text.str[:-1] + wrong.astype(str)
        else:
            frame.loc[target, column] = value
    return (rows + 2).tolist()


def generate_claims(out_dir: str | Path, residents_frame_or_dir: pd.DataFrame | str | Path, seed: int,
                    encoding: str | None = None, month: str | None = None, bad_row_share: float = 0.002,
                    receipts_per_year: float = 10.0) -> dict:
    """Write ``claims.csv`` and ``reimbursement_applications.csv`` for one service month into ``out_dir``.

    Args:
        out_dir: the inbox directory (created if needed).
        residents_frame_or_dir: the residents frame, or an inbox directory with residents.csv (and
            optionally insurance.csv, whose 保険者番号 the receipts then carry).
        seed: random seed.
        encoding: ``utf-8`` or ``cp932``; default the encoding ``out_dir/manifest.json`` declares (one
            encoding per inbox), else UTF-8. A different explicit encoding is refused.
        month: the 診療年月 (YYYY-MM); default the month before the manifest's ``extract_date``.
        bad_row_share: share of deliberately broken rows per file.
        receipts_per_year: receipts per child and year (≈ 10, domain.md §7).

    Returns:
        Counts only: ``month, children, rows`` and ``bad_source_rows`` per file.
    """
    from connectors.files import normalise_encoding, read_manifest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    declared = read_manifest(out).get("encoding")
    encoding = normalise_encoding(encoding or declared or "utf-8")
    if declared and declared != encoding:
        raise ValueError(f"the inbox declares {declared}; claims must use the same encoding")
    manifest = read_manifest(residents_frame_or_dir) if not isinstance(residents_frame_or_dir, pd.DataFrame) else {}
    as_of = manifest.get("extract_date")
    if month is None:
        month = (pd.Timestamp(as_of or pd.Timestamp.today()).to_period("M") - 1).strftime("%Y-%m")
    children = children_frame(residents_frame_or_dir, as_of)
    insurers = None
    source = None if isinstance(residents_frame_or_dir, pd.DataFrame) else Path(residents_frame_or_dir)
    if source is not None and (source / "insurance.csv").exists():
        from connectors.files import read_input_csv
        from schemas import INPUT_COLUMNS

        insurance = read_input_csv(source / "insurance.csv", INPUT_COLUMNS["insurance.csv"])
        insurance = insurance[modulus10_w21(insurance["insurer_number"], (6, 8))]  # skip its deliberately bad rows
        insurers = insurance.drop_duplicates("person_id", keep="last").set_index("person_id")["insurer_number"]
    frames = synthetic_receipts(children, month, seed, receipts_per_year=receipts_per_year, insurers=insurers)
    rng = np.random.default_rng([seed, 4])
    bad = {"claims.csv": _break_rows(frames["claims"], rng, bad_row_share),
           "reimbursement_applications.csv": _break_rows(frames["applications"], rng, bad_row_share)}
    for name, frame in (("claims.csv", frames["claims"]), ("reimbursement_applications.csv", frames["applications"])):
        (out / name).write_bytes(frame.to_csv(index=False, lineterminator="\r\n").encode(encoding))
    manifest_path = out / "manifest.json"
    current = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    current.setdefault("encoding", encoding)
    manifest_path.write_text(json.dumps(current, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"month": month, "children": int(len(children)),
            "rows": {"claims.csv": int(len(frames["claims"])),
                     "reimbursement_applications.csv": int(len(frames["applications"]))},
            "bad_source_rows": bad}
