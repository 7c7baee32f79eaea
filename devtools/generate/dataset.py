"""Write a synthetic inbox: the six input files of docs/formats/ plus ``manifest.json``.

``generate_dataset`` is deterministic: the same arguments give byte-identical files. A small,
controlled share of rows is deliberately broken (bad check digits, impossible dates, unknown
codes, negative amounts, duplicate keys ...); the summary lists them per file so that tests can
assert the exact quarantine. Only synthetic data: names and addresses are random combinations of
common words (devtools.generate.names), My Numbers are random numbers with a valid check digit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from devtools.generate.population import NO_DAY, YEAR, Population, between, build_population, day, day_strings
from schemas import PERSON_COLUMNS

FILE_NAMES = [
    "residents.csv", "resident_events.csv", "tax.csv", "welfare.csv", "insurance.csv", "applications.csv",
]
FIRST_TAX_YEAR = 2020
#: The 2026-04 extension to 18 years (domain.md §1.2, S3): the cohort re-registers from 2025-11.
EXTENSION_COHORT = ("2007-04-02", "2011-04-01")
EXTENSION_MAILING = ("2025-11-04", "2026-03-31")


def _strings(values: np.ndarray) -> np.ndarray:
    return np.array(list(map(str, np.asarray(values).astype(np.int64).tolist())), dtype=object)


# -- the six files ------------------------------------------------------------------------------------


def _person_columns(persons: pd.DataFrame, index: np.ndarray) -> dict[str, np.ndarray]:
    rows = persons.iloc[index]
    columns = {c: rows[c].to_numpy(dtype=object) for c in PERSON_COLUMNS if c != "birth_date"}
    columns["birth_date"] = day_strings(rows["birth"].to_numpy())
    return {c: columns[c] for c in PERSON_COLUMNS}


def _residents(pop: Population) -> pd.DataFrame:
    persons = pop.persons
    index = np.lexsort((persons["relationship_code"].to_numpy(dtype=str), persons["household_id"].to_numpy(dtype=str)))
    frame = pd.DataFrame({"person_id": persons["person_id"].to_numpy(dtype=object)[index],
                          **_person_columns(persons, index)})
    frame["residence_start_date"] = day_strings(persons["start"].to_numpy()[index])
    return frame


def _events(pop: Population) -> pd.DataFrame:
    events = pop.events
    person = events["person"].to_numpy()
    frame = pd.DataFrame({
        "event_id": [f"EV{n:010d}" for n in range(1, len(events) + 1)],
        "person_id": events["person_id"].to_numpy(dtype=object),
        **_person_columns(pop.persons, person),
        "event_code": events["event_code"].to_numpy(dtype=object),
        "event_date": day_strings(events["event_day"].to_numpy()),
        "notified_date": day_strings(events["notified_day"].to_numpy()),
    })
    return frame


def _tax(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """個人住民税 rows of every guardian resident on January 1 of each 課税年度 (地方税法 294条)."""
    persons = pop.persons
    as_of = pd.Timestamp(np.datetime64(pop.as_of, "D"))
    last_year = as_of.year if as_of.month >= 6 else as_of.year - 1  # 税額決定 in June
    years = np.arange(FIRST_TAX_YEAR, last_year + 1)
    guardians = np.flatnonzero(~persons["is_child"].to_numpy())
    n = len(guardians)
    household = persons["household"].to_numpy()[guardians]
    head = persons["relationship_code"].to_numpy()[guardians] == "01"
    n_households = len(pop.households)
    single = pop.households["single_parent"].to_numpy()[household]

    # Yearly 総所得金額等: log-normal person level (median ~4.6M for a 世帯主 of two, lower for single
    # parents), many spouses with no or part-time income, yearly noise and slow growth.
    base = np.where(single, rng.lognormal(np.log(2_600_000), 0.6, n), rng.lognormal(np.log(4_600_000), 0.55, n))
    spouse_kind = rng.random(n)
    spouse_base = np.where(spouse_kind < 0.30, 0.0, np.where(
        spouse_kind < 0.65, rng.uniform(50_000, 1_000_000, n), rng.lognormal(np.log(3_000_000), 0.5, n)))
    base = np.where(head, base, spouse_base)
    noise = rng.lognormal(0.0, 0.10, (n, len(years)))
    growth = 1.015 ** (years - last_year)
    income = base[:, None] * noise * growth[None, :]
    income = np.where(rng.random((n, len(years))) < 0.02, 0.0, income)
    income = (np.floor(income / 1000) * 1000).astype(np.int64)

    jan1 = np.array([day(f"{y}-01-01") for y in years])
    birth = persons["birth"].to_numpy()[guardians]
    start = persons["start"].to_numpy()[guardians]
    end = persons["end"].to_numpy()[guardians]
    resident = (start[:, None] <= jan1[None, :]) & (end[:, None] > jan1[None, :])
    adult = (jan1[None, :] - birth[:, None]) >= 18 * YEAR
    exists = resident & adult

    # 扶養親族等: children born by December 31 of the income year, the spouse when 合計所得 ≤ 48万円
    # (控除対象配偶者), claimed by the 世帯主; a few taxpayers also support an elderly parent (70+).
    child_mask = persons["is_child"].to_numpy()
    child_household = persons["household"].to_numpy()[child_mask]
    child_birth = persons["birth"].to_numpy()[child_mask]
    children = np.stack([np.bincount(child_household[child_birth < j], minlength=n_households) for j in jan1], axis=1)
    spouse_income = np.full((n_households, len(years)), -1, dtype=np.int64)
    spouse_income[household[~head]] = income[~head]
    dependent_spouse = (spouse_income >= 0) & (spouse_income <= 480_000)
    elderly = (rng.random(n) < 0.01).astype(np.int64)
    dependents = np.where(
        head[:, None], children[household] + dependent_spouse[household], 0
    ) + elderly[:, None]

    rows, cols = np.nonzero(exists)
    count = len(rows)
    medical = np.where(rng.random(count) < 0.08, np.minimum(rng.lognormal(np.log(120_000), 0.8, count), 2e6), 0)
    casualty = np.where(rng.random(count) < 0.001, rng.uniform(50_000, 2_000_000, count), 0)
    small_business = np.where(rng.random(n) < 0.12, rng.choice([144_000, 240_000, 276_000, 816_000], n), 0)
    disability = np.where(rng.random(n) < 0.015, np.where(rng.random(n) < 0.1, 400_000, 270_000), 0)
    return pd.DataFrame({
        "person_id": persons["person_id"].to_numpy(dtype=object)[guardians][rows],
        "tax_year": _strings(years[cols]),
        "total_income_amount": _strings(income[rows, cols]),
        "casualty_loss_deduction_amount": _strings(casualty),
        "medical_deduction_amount": _strings(medical),
        "small_business_deduction_amount": _strings(small_business[rows]),
        "disability_deduction_amount": _strings(disability[rows]),
        "dependents_count": _strings(dependents[rows, cols]),
        "elderly_dependents_count": _strings(elderly[rows]),
    })


def _welfare(pop: Population) -> pd.DataFrame:
    end = pop.welfare["end"].to_numpy()
    end_text = np.where(end == NO_DAY, None, day_strings(np.where(end == NO_DAY, 0, end)))
    return pd.DataFrame({
        "case_id": pop.welfare["case_id"].to_numpy(dtype=object),
        "household_id": pop.welfare["household_id"].to_numpy(dtype=object),
        "start_date": day_strings(pop.welfare["start"].to_numpy()),
        "end_date": end_text,
    })


def _insurance(pop: Population) -> pd.DataFrame:
    to = pop.insurance["to"].to_numpy()
    return pd.DataFrame({
        "person_id": pop.insurance["person_id"].to_numpy(dtype=object),
        "insurer_number": pop.insurance["insurer_number"].to_numpy(dtype=object),
        "insured_type_code": pop.insurance["insured_type_code"].to_numpy(dtype=object),
        "valid_from": day_strings(pop.insurance["from"].to_numpy()),
        "valid_to": np.where(to == NO_DAY, None, day_strings(np.where(to == NO_DAY, 0, to))),
    })


def _applications(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """資格登録届: ~97 % of children, mostly within 30 days of birth or move-in (domain.md §1.6)."""
    persons = pop.persons
    today = pop.as_of
    child = np.flatnonzero(persons["is_child"].to_numpy())
    household = persons["household"].to_numpy()
    start = persons["start"].to_numpy()[child]
    end = persons["end"].to_numpy()[child]
    birth = persons["birth"].to_numpy()[child]
    late = rng.random(len(child)) < 0.12
    delay = np.where(late, rng.integers(31, 240, len(child)), rng.integers(0, 31, len(child)))
    first = start + delay
    applies = (rng.random(len(child)) < 0.98) & (first <= today) & (first < end)  # ~97 % have applied

    cohort = (birth >= day(EXTENSION_COHORT[0])) & (birth <= day(EXTENSION_COHORT[1]))
    mailing_from, mailing_to = day(EXTENSION_MAILING[0]), day(EXTENSION_MAILING[1])
    again = between(rng, np.full(len(child), mailing_from), np.full(len(child), mailing_to))
    again = np.where(rng.random(len(child)) < 0.1, again + rng.integers(1, 180, len(child)), again)
    reapplies = applies & cohort & (rng.random(len(child)) < 0.9) & (start <= mailing_from) & (again <= today) & (
        again < end) & (again > first)

    # The applicant: the 世帯主, sometimes the 配偶者.
    relationship = persons["relationship_code"].to_numpy()
    person_id = persons["person_id"].to_numpy(dtype=object)
    n_households = len(pop.households)
    head_of = np.empty(n_households, dtype=object)
    spouse_of = np.full(n_households, None, dtype=object)
    heads = np.flatnonzero(relationship == "01")
    head_of[household[heads]] = person_id[heads]
    spouses = np.flatnonzero(relationship == "02")
    spouse_of[household[spouses]] = person_id[spouses]
    child_household = household[child]
    use_spouse = (rng.random(len(child)) < 0.3) & (spouse_of[child_household] != None)  # noqa: E711
    guardian = np.where(use_spouse, spouse_of[child_household], head_of[child_household])
    # the applicant's spouse as stated on the 資格登録届: the other parent of the household (none if single)
    other = np.where(use_spouse, head_of[child_household], spouse_of[child_household])

    frame = pd.DataFrame({
        "child_person_id": np.concatenate([person_id[child][applies], person_id[child][reapplies]]),
        "guardian_person_id": np.concatenate([guardian[applies], guardian[reapplies]]),
        "spouse_person_id": np.concatenate([other[applies], other[reapplies]]),
        "day": np.concatenate([first[applies], again[reapplies]]),
    })
    frame = frame.sort_values(["day", "child_person_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "application_id", [f"AP{n:08d}" for n in range(1, len(frame) + 1)])
    frame["application_date"] = day_strings(frame.pop("day").to_numpy())
    return frame[["application_id", "child_person_id", "guardian_person_id", "spouse_person_id", "application_date"]]


# -- deliberately bad rows ------------------------------------------------------------------------------

Corruption = Callable[[pd.DataFrame, np.ndarray, np.random.Generator], None]


def _set(frame: pd.DataFrame, rows: np.ndarray, column: str, values) -> None:
    position = frame.columns.get_loc(column)
    frame.iloc[rows, position] = values


def _bad_check_digit(column: str) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        values = frame[column].to_numpy(dtype=object)[rows].astype(str)
        last = (np.array([int(v[-1]) for v in values]) + rng.integers(1, 10, len(rows))) % 10
        _set(frame, rows, column, [v[:-1] + str(d) for v, d in zip(values, last, strict=True)])
    return corrupt


def _impossible_date(column: str) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        years = frame[column].to_numpy(dtype=object)[rows]
        kinds = rng.integers(0, 3, len(rows))
        _set(frame, rows, column, [
            f"{str(y)[:4]}-{['02-30', '04-31', '13-01'][k]}" for y, k in zip(years, kinds, strict=True)])
    return corrupt


def _constant(column: str, value: str) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        _set(frame, rows, column, value)
    return corrupt


def _future_date(column: str, as_of: int) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        _set(frame, rows, column, day_strings(as_of + rng.integers(30, 400, len(rows))))
    return corrupt


def _date_shift(column: str, reference: str, days: int) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        base = pd.to_datetime(frame[reference].to_numpy(dtype=object)[rows]).to_numpy().astype("datetime64[D]")
        _set(frame, rows, column, day_strings((base - np.datetime64("1970-01-01", "D")).astype(np.int64) + days))
    return corrupt


def _negative(column: str) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        values = frame[column].to_numpy(dtype=object)[rows].astype(np.int64)
        _set(frame, rows, column, _strings(-np.maximum(values, 1000)))
    return corrupt


def _elderly_over_dependents(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
    dependents = frame["dependents_count"].to_numpy(dtype=object)[rows].astype(np.int64)
    _set(frame, rows, "elderly_dependents_count", _strings(dependents + 1))


def _not_integer(column: str) -> Corruption:
    def corrupt(frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
        values = frame[column].to_numpy(dtype=object)[rows].astype(str)
        _set(frame, rows, column, [f"{v[:-1]}a{v[-1:]}" if len(v) > 1 else "1a" for v in values])
    return corrupt


#: Kinds of bad rows per file: name → corruption (``"duplicate:<cols>"`` copies the key of a good row).
def _bad_kinds(as_of: int) -> dict[str, dict[str, Corruption | tuple[str, ...]]]:
    return {
        "residents.csv": {
            "my_number_check_digit": _bad_check_digit("my_number"),
            "impossible_birth_date": _impossible_date("birth_date"),
            "future_birth_date": _future_date("birth_date", as_of),
            "unknown_relationship_code": _constant("relationship_code", "07"),
            "unknown_sex_code": _constant("sex_code", "3"),
            "missing_name": _constant("name", None),
            "duplicate_person_id": ("person_id",),
        },
        "resident_events.csv": {
            "my_number_check_digit": _bad_check_digit("my_number"),
            "impossible_event_date": _impossible_date("event_date"),
            "unknown_event_code": _constant("event_code", "Z1"),
            "event_before_birth": _date_shift("event_date", "birth_date", -10),
            "duplicate_event_id": ("event_id",),
        },
        "tax.csv": {
            "negative_income": _negative("total_income_amount"),
            "non_integer_amount": _not_integer("medical_deduction_amount"),
            "elderly_over_dependents": _elderly_over_dependents,
            "bad_person_id": _constant("person_id", "12345"),
            "duplicate_person_year": ("person_id", "tax_year"),
        },
        "welfare.csv": {
            "end_before_start": _date_shift("end_date", "start_date", -30),
            "impossible_start_date": _impossible_date("start_date"),
            "bad_household_id": _constant("household_id", "H-0001"),
        },
        "insurance.csv": {
            "insurer_check_digit": _bad_check_digit("insurer_number"),
            "unknown_insured_type_code": _constant("insured_type_code", "3"),
            "valid_to_before_valid_from": _date_shift("valid_to", "valid_from", -1),
            "impossible_valid_from": _impossible_date("valid_from"),
        },
        "applications.csv": {
            "impossible_application_date": _impossible_date("application_date"),
            "future_application_date": _future_date("application_date", as_of),
            "bad_child_person_id": _constant("child_person_id", "C123"),
            "duplicate_application_id": ("application_id",),
        },
    }


def _corrupt(
    frame: pd.DataFrame, kinds: dict[str, Corruption | tuple[str, ...]], share: float, rng: np.random.Generator
) -> tuple[dict[str, int], np.ndarray]:
    """Break ``share`` of the rows (at least one when share > 0); return counts per kind and bad positions."""
    rows = len(frame)
    if share <= 0 or rows < 3:
        return {}, np.empty(0, dtype=np.int64)
    wanted = min(max(1, int(round(rows * share))), rows // 3)
    chosen = rng.choice(rows, size=2 * wanted, replace=False)
    targets, partners = chosen[:wanted], chosen[wanted:]
    names = list(kinds)
    assigned = np.array(names, dtype=object)[np.arange(wanted) % len(names)]
    assigned = rng.permutation(assigned)
    counts: dict[str, int] = {}
    bad = [targets]
    for name in names:
        rows_of_kind = np.sort(targets[assigned == name])
        if len(rows_of_kind) == 0:
            continue
        kind = kinds[name]
        if isinstance(kind, tuple):
            sources = np.sort(partners[assigned == name])
            for column in kind:
                position = frame.columns.get_loc(column)
                frame.iloc[rows_of_kind, position] = frame.iloc[sources, position].to_numpy()
            bad.append(sources)
        else:
            kind(frame, rows_of_kind, rng)
        counts[name] = int(len(rows_of_kind))
    return counts, np.unique(np.concatenate(bad))


def _write_csv(frame: pd.DataFrame, path: Path, encoding: str) -> None:
    """Write ``frame`` as CSV (LF line ends, empty = missing) exactly as pandas would, ~5x faster.

    Generated values never need quoting; if one did (a comma, quote or line break), pandas writes it.
    """
    rows = len(frame)
    columns = [frame[column].to_numpy(dtype=object, na_value="") for column in frame.columns]
    body = "\n".join(map(",".join, zip(*columns, strict=True)))
    text = ",".join(frame.columns) + "\n" + body + ("\n" if rows else "")
    separators = (len(frame.columns) - 1) * (rows + 1)
    if '"' in text or text.count(",") != separators or text.count("\n") != rows + 1 or "\r" in text:
        frame.to_csv(path, index=False, encoding=encoding, lineterminator="\n", na_rep="")
        return
    path.write_bytes(text.encode(encoding))


def generate_dataset(
    out_dir: str | Path,
    children: int,
    seed: int,
    encoding: str = "utf-8",
    as_of: str = "2026-10-31",
    bad_row_share: float = 0.002,
    dv_share: float = 0.003,
) -> dict:
    """Write a synthetic inbox for ``children`` children and return a summary of counts.

    Args:
        out_dir: the inbox directory (created if needed).
        children: number of children (続柄 03, aged 0-18) in the extract, including those who moved
            out or died during the events window.
        seed: random seed; the same arguments give byte-identical files.
        encoding: ``utf-8`` (no BOM) or ``cp932``; written to ``manifest.json``.
        as_of: the extract date (``manifest.json`` ``extract_date``); no valid date lies after it.
        bad_row_share: share of deliberately broken rows per file (at least one when > 0).
        dv_share: share of households under 支援措置 (DV等): all their members carry ``dv_support_flag`` 1.

    Returns:
        Counts only (no personal data): ``households, persons, guardians, children, events_from,
        events_by_code, welfare_households, deaths, moved_out_persons, children_with_application,
        rows`` (per file), ``bad_rows`` (per file: rows that must be quarantined), ``bad_kinds``
        (per file and kind) and ``bad_source_rows`` (per file: the row numbers, header = 1).
    """
    from connectors.files import file_sha256, normalise_encoding

    encoding = normalise_encoding(encoding)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pop = build_population(children, seed, as_of, dv_share=dv_share)
    rng = np.random.default_rng([seed, 1])
    frames = {
        "residents.csv": _residents(pop),
        "resident_events.csv": _events(pop),
        "tax.csv": _tax(pop, rng),
        "welfare.csv": _welfare(pop),
        "insurance.csv": _insurance(pop),
        "applications.csv": _applications(pop, rng),
    }
    kinds = _bad_kinds(pop.as_of)
    summary_rows, bad_rows, bad_kinds, bad_source_rows = {}, {}, {}, {}
    for name in FILE_NAMES:
        frame = frames[name]
        file_rng = np.random.default_rng([seed, 2, FILE_NAMES.index(name)])
        counts, bad = _corrupt(frame, kinds[name], bad_row_share, file_rng)
        _write_csv(frame, out / name, encoding)
        summary_rows[name] = len(frame)
        bad_rows[name] = int(len(bad))
        bad_kinds[name] = counts
        bad_source_rows[name] = [int(r) + 2 for r in bad]
    # The sender's control totals: data rows and SHA-256 of each file (connectors.files.CONTROL_TOTALS).
    totals = {name: {"rows": summary_rows[name], "sha256": file_sha256(out / name)} for name in FILE_NAMES}
    manifest = {"encoding": encoding, "extract_date": str(pd.Timestamp(as_of).date()), "generator_seed": seed,
                "files": totals}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    persons = pop.persons
    events = pop.events
    return {
        "out_dir": str(out),
        "seed": seed,
        "as_of": manifest["extract_date"],
        "encoding": encoding,
        "households": len(pop.households),
        "persons": len(persons),
        "guardians": int((~persons["is_child"]).sum()),
        "children": int(persons["is_child"].sum()),
        "events_from": str(np.datetime64(pop.window_start, "D")),
        "events_by_code": {str(k): int(v) for k, v in events["event_code"].value_counts().sort_index().items()},
        "welfare_households": int(pop.welfare["household"].nunique()),
        "dv_persons": int((persons["dv_support_flag"] == "1").sum()),
        "deaths": int((persons["death"] != NO_DAY).sum()),
        "moved_out_persons": int((persons["moveout"] != NO_DAY).sum()),
        "children_with_application": int(frames["applications.csv"]["child_person_id"].nunique()),
        "rows": summary_rows,
        "bad_rows": bad_rows,
        "bad_kinds": bad_kinds,
        "bad_source_rows": bad_source_rows,
    }
