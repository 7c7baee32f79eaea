"""Benchmark of the benefit stage: ``python -m benchmarks.benefits --claims N``.

Builds ~N/10 synthetic children with eligibility periods, draws N receipts spread over the twelve months
of FY2025 (kodomo.generate.claims), writes them as ``claims.csv`` and ``reimbursement_applications.csv``
(untimed), then times what a run does with them: read (encoding detection), validate (Pandera, lazy,
quarantine), build the stage frame, eligibility per receipt, amounts, prefecture summary and the 全銀 file
of the reimbursements. The last printed line is one JSON object (``claims``, ``total_s``, ``peak_rss_mb`` and
the time of each step).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _children(count: int, seed: int) -> pd.DataFrame:
    from rules.checkdigits import assign_recipient_numbers

    rng = np.random.default_rng(seed)
    birth = np.datetime64("2007-04-02") + rng.integers(0, 18 * 365, count)
    return pd.DataFrame({
        "person_id": np.char.zfill(np.arange(1, count + 1).astype(str), 10).astype(object),
        "birth_date": pd.to_datetime(birth),
        "recipient_no": assign_recipient_numbers(1, count),
    })


def run(claims: int, seed: int = 7, workdir: Path | None = None) -> dict:
    """Generate, then time the benefit stage on ``claims`` receipts; returns the figures."""
    from connectors import zengin
    from connectors.files import read_input_csv
    from kodomo.generate.claims import synthetic_receipts
    from policy import load_policy
    from rules import benefits
    from schemas.checks import using_reference_date
    from schemas.claims import (
        CLAIM_COLUMNS,
        PAYEE_COLUMNS,
        REIMBURSEMENT_COLUMNS,
        ClaimSchema,
        ReimbursementApplicationSchema,
        claims_stage_frame,
    )
    from schemas.validate import validate_frame

    directory = Path(workdir or tempfile.mkdtemp(prefix="bench-benefits-"))
    children = _children(max(claims // 10, 10), seed)
    months = pd.period_range("2025-04", "2026-03", freq="M").strftime("%Y-%m").tolist()
    per_month = np.full(len(months), claims // len(months))
    per_month[: claims % len(months)] += 1
    t0 = time.perf_counter()
    claim_parts, app_parts = [], []
    for i, (month, count) in enumerate(zip(months, per_month, strict=True)):
        frames = synthetic_receipts(children, month, seed + i, count=int(count))
        claim_parts.append(frames["claims"])
        app_parts.append(frames["applications"])
    pd.concat(claim_parts).to_csv(directory / "claims.csv", index=False)
    pd.concat(app_parts).to_csv(directory / "reimbursement_applications.csv", index=False)
    del claim_parts, app_parts
    generate_s = time.perf_counter() - t0

    policy = load_policy()
    recipients = children[["person_id", "recipient_no"]]
    persons = children[["person_id", "birth_date"]]
    # Most children eligible throughout; 2 % moved out mid-year; 1 % suspended (income) in an old period.
    rng = np.random.default_rng(seed + 99)
    valid_to = np.where(rng.random(len(children)) < 0.02, np.datetime64("2025-10-15"), np.datetime64("2030-03-31"))
    periods = pd.DataFrame({"person_id": children["person_id"], "valid_from": children["birth_date"],
                            "valid_to": pd.to_datetime(valid_to), "status": "ELIGIBLE",
                            "end_reason": np.where(valid_to < np.datetime64("2026-01-01"), "MOVE_OUT", "AGE")})

    steps: dict[str, float] = {}
    start = time.perf_counter()
    t = time.perf_counter()
    raw_claims = read_input_csv(directory / "claims.csv", CLAIM_COLUMNS, encoding="utf-8")
    raw_apps = read_input_csv(directory / "reimbursement_applications.csv", REIMBURSEMENT_COLUMNS)
    steps["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with using_reference_date("2026-06-30"):
        good_claims = validate_frame(raw_claims, ClaimSchema, "claims.csv", extract_date="2026-06-30")
        good_apps = validate_frame(raw_apps, ReimbursementApplicationSchema, "reimbursement_applications.csv",
                                   extract_date="2026-06-30")
    steps["validate_s"] = time.perf_counter() - t
    del raw_claims, raw_apps
    t = time.perf_counter()
    stage = claims_stage_frame(good_claims.good, good_apps.good)
    steps["stage_frame_s"] = time.perf_counter() - t
    t = time.perf_counter()
    checked = benefits.check_claim_eligibility(stage, recipients, persons, periods, policy)
    steps["eligibility_s"] = time.perf_counter() - t
    t = time.perf_counter()
    assessed = benefits.calculate_benefits(checked, policy)
    steps["amounts_s"] = time.perf_counter() - t
    t = time.perf_counter()
    prefecture = benefits.summarise_for_prefecture(assessed)
    rejections = benefits.summarise_rejections(assessed)
    steps["summaries_s"] = time.perf_counter() - t
    t = time.perf_counter()
    paid = assessed[(assessed["route"] == benefits.REIMBURSEMENT) & (assessed["subsidy_amount"] > 0)]
    payees = good_apps.good.assign(claim_id="R-" + good_apps.good["application_id"].astype(str))
    transfers = paid[["claim_id", "subsidy_amount"]].merge(payees[["claim_id", *PAYEE_COLUMNS]], on="claim_id")
    transfers = transfers.rename(columns={"subsidy_amount": "amount"})
    remitter = zengin.Remitter(code="0000000001", name="ｾﾝﾀﾞｲｼ", bank_code="0000", branch_code="000",
                               account_type="1", account_number="0000000")
    raw = zengin.build_transfer_file(transfers, remitter, dt.date(2026, 4, 25))
    parsed = zengin.parse_transfer_file(raw)
    steps["zengin_s"] = time.perf_counter() - t
    total_s = time.perf_counter() - start
    return {
        "claims": int(claims),
        "receipts_read": int(len(stage) + len(good_claims.quarantine["row_number"].unique())
                             + len(good_apps.quarantine["row_number"].unique())),
        "payable": int(assessed["is_payable"].sum()),
        "rejected": {str(r): int(n) for r, n in rejections.itertuples(index=False)},
        "subsidy_amount": int(assessed["subsidy_amount"].sum()),
        "prefecture_rows": int(len(prefecture)),
        "transfers": parsed.trailer["count"],
        "generate_s": round(generate_s, 2),
        **{k: round(v, 2) for k, v in steps.items()},
        "total_s": round(total_s, 2),
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.benefits")
    parser.add_argument("--claims", type=int, default=100_000, help="number of receipts (default 100,000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = run(args.claims, args.seed)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
