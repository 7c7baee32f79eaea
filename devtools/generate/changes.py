"""A following month's inbox: the previous inbox with a small share of persons changed.

``generate_changes`` reads a generated inbox and writes the next month's: the same files, plus, for
``share`` of the persons (deterministic from ``seed``):

* 異動 events dated in the new month: 転居 (``M1``, the new address also in the extract) for adults and
  国内転出 (``D1``, the child leaves the extract) for children;
* 資格登録届 for children who had none yet (dated in the new month);
* 税額更正: a changed ``total_income_amount`` of the person's latest 課税年度.

Rows the previous inbox deliberately broke stay as they are (they are quarantined again). Synthetic data
only; the output is what a city would send one month later, so a monthly run over it must decide only
the changed children anew.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from devtools.generate.dataset import FILE_NAMES, _write_csv

PERSON_EVENT_COLUMNS = [
    "household_id", "relationship_code", "my_number", "name", "name_kana", "address", "birth_date", "sex_code",
    "dv_support_flag",
]


def _read(inbox: Path, name: str, encoding: str) -> pd.DataFrame:
    return pd.read_csv(inbox / name, dtype=str, keep_default_na=False, encoding=encoding)


def _valid_digits(series: pd.Series, width: int) -> np.ndarray:
    return series.str.fullmatch(rf"[0-9]{{{width}}}").fillna(False).to_numpy(dtype=bool)


def generate_changes(previous_inbox: str | Path, out_dir: str | Path, *, share: float, seed: int,
                     as_of: str) -> dict:
    """Write the next month's inbox to ``out_dir``; return counts of what changed (no personal data).

    Args:
        previous_inbox: a generated inbox (:func:`devtools.generate.generate_dataset` or this function).
        out_dir: the new inbox directory (created if needed).
        share: share of the persons of the extract that change (0.02 = 2 %).
        seed: random seed; the same arguments give byte-identical files.
        as_of: the new extract date (after the previous one); every new event and application is dated
            in the month ending on it.
    """
    previous = Path(previous_inbox)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
    encoding = manifest["encoding"]
    old_as_of = pd.Timestamp(manifest["extract_date"])
    new_as_of = pd.Timestamp(as_of)
    if new_as_of <= old_as_of:
        raise ValueError("the new extract date must be after the previous one")
    frames = {name: _read(previous, name, encoding) for name in FILE_NAMES}
    residents, events = frames["residents.csv"], frames["resident_events.csv"]
    tax, applications = frames["tax.csv"], frames["applications.csv"]
    rng = np.random.default_rng([seed, 13])

    month_start = max(old_as_of + pd.Timedelta(days=1), new_as_of.replace(day=1))
    span = (new_as_of - month_start).days + 1

    def dates(count: int) -> np.ndarray:
        offsets = rng.integers(0, span, count)
        return np.array([(month_start + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d") for d in offsets],
                        dtype=object)

    valid = _valid_digits(residents["person_id"], 10) & residents["birth_date"].str.fullmatch(
        r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    valid &= residents["person_id"].duplicated(keep=False).to_numpy() == False  # noqa: E712
    # A third of the changed persons each: an 異動, a first 資格登録届, a 税額更正.
    per_kind = int(round(share * len(residents) / 3))
    is_child = residents["relationship_code"].to_numpy() == "03"
    movers = rng.permutation(np.flatnonzero(valid))[:per_kind]
    # 異動: children move out (D1), adults move house (M1).
    leaving = movers[is_child[movers]]
    moving = movers[~is_child[movers]]
    moved = residents.iloc[moving].copy()
    moved["address"] = moved["address"].str.replace(r"(\d+)$", lambda m: str(int(m.group(1)) % 900 + 101), regex=True)
    residents.loc[residents.index[moving], "address"] = moved["address"].to_numpy()
    new_events = pd.concat([
        residents.iloc[leaving][["person_id", *PERSON_EVENT_COLUMNS]].assign(event_code="D1"),
        moved[["person_id", *PERSON_EVENT_COLUMNS]].assign(event_code="M1"),
    ], ignore_index=True)
    new_events["event_date"] = dates(len(new_events))
    new_events["notified_date"] = new_events["event_date"]
    tag = new_as_of.strftime("%Y%m")
    new_events.insert(0, "event_id", [f"EV{tag}{n:07d}" for n in range(1, len(new_events) + 1)])
    frames["resident_events.csv"] = pd.concat([events, new_events[events.columns]], ignore_index=True)
    frames["residents.csv"] = residents.drop(index=residents.index[leaving]).reset_index(drop=True)

    # 資格登録届 of children who had none (a child still in the extract).
    households = residents["household_id"].to_numpy()
    heads = residents.loc[residents["relationship_code"] == "01"].drop_duplicates("household_id")
    head_of = dict(zip(heads["household_id"], heads["person_id"], strict=True))
    # the applicant is the 世帯主 (a child without one is left out: an empty guardian is allowed by the
    # format for children of 15+, but the generated month keeps to the common case)
    without = valid & is_child & ~residents["person_id"].isin(applications["child_person_id"]).to_numpy()
    without &= residents["household_id"].isin(head_of.keys()).to_numpy()
    without[movers] = False
    applicants = np.sort(rng.permutation(np.flatnonzero(without))[:per_kind])
    new_applications = pd.DataFrame({
        "application_id": [f"AP{tag}{n:06d}" for n in range(1, len(applicants) + 1)],
        "child_person_id": residents["person_id"].iloc[applicants].to_numpy(),
        "guardian_person_id": [head_of[h] for h in households[applicants]],
        "application_date": dates(len(applicants)),
    })
    if "spouse_person_id" in applications.columns:  # the other parent stated on the 届: the 配偶者, if any
        spouses = residents.loc[residents["relationship_code"] == "02"].drop_duplicates("household_id")
        spouse_of = dict(zip(spouses["household_id"], spouses["person_id"], strict=True))
        new_applications["spouse_person_id"] = [spouse_of.get(h, "") for h in households[applicants]]
    frames["applications.csv"] = pd.concat([applications, new_applications[applications.columns]],
                                           ignore_index=True)

    # 税額更正: the latest 課税年度 of the chosen taxpayers.
    numeric = _valid_digits(tax["tax_year"], 4) & tax["total_income_amount"].str.fullmatch(r"\d+").fillna(
        False).to_numpy(dtype=bool)
    candidates = tax.loc[numeric & tax["person_id"].isin(residents["person_id"]).to_numpy()]
    latest = candidates.assign(_year=candidates["tax_year"].astype(int)).sort_values(
        ["_year", "person_id"], kind="stable").drop_duplicates("person_id", keep="last")
    latest = latest.loc[np.sort(rng.permutation(latest.index.to_numpy())[:per_kind])]
    if len(latest):
        amounts = latest["total_income_amount"].astype(np.int64).to_numpy()
        revised = (np.floor(amounts * rng.uniform(0.8, 1.2, len(amounts)) / 1000) * 1000).astype(np.int64) + 1000
        tax.loc[latest.index, "total_income_amount"] = [str(v) for v in revised]

    for name in FILE_NAMES:
        _write_csv(frames[name], out / name, encoding)
    from connectors.files import file_sha256

    # The sender's control totals of the new files (a stale copy would refuse the whole inbox).
    totals = {name: {"rows": int(len(frames[name])), "sha256": file_sha256(out / name)} for name in FILE_NAMES}
    new_manifest = {**manifest, "extract_date": str(new_as_of.date()), "files": totals}
    (out / "manifest.json").write_text(json.dumps(new_manifest, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return {
        "out_dir": str(out),
        "as_of": str(new_as_of.date()),
        "changed_persons": int(len(movers) + len(applicants) + len(latest)),
        "move_outs": int(len(leaving)),
        "address_changes": int(len(moving)),
        "new_applications": int(len(new_applications)),
        "tax_updates": int(len(latest)),
        "rows": {name: int(len(frames[name])) for name in FILE_NAMES},
    }
