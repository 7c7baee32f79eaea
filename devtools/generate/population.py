"""Synthetic Sendai households: guardians and children with their residence history, vectorised.

Everything is drawn from one ``numpy.random.Generator`` in a fixed order, so one seed gives one
population. Dates are ``int64`` day numbers (days since 1970-01-01) until the files are written.

Shape of the population (documented in docs/formats/*.md "synthetic data"):

* households with 1-4 children (0-18 years), one guardian (~12 %, 世帯主 only) or two (世帯主 + 配偶者),
  guardians 20-55 years old, surnames shared within the household;
* residence: most households arrived years ago; ~4.5 % moved in during the events window (A1/A2);
  children born after arrival have an 出生 (A3) event when born in the window; ~3 % of households
  moved out (D1/D2) in the window, a few persons died (D3), ~4 % moved within the city (M1);
* welfare (生活保護) for ~1.5 % of households, some cases ended;
* per child one health insurance (協会けんぽ, 健保組合, 共済, 市町村国保, 国保組合), ~12 % changed insurer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from devtools.generate import names
from rules.checkdigits import my_number_check_digits, with_modulus10_w21

EPOCH = np.datetime64("1970-01-01", "D")
YEAR = 365.2425
NO_DAY = np.iinfo(np.int64).max  # "never" for end days


def day(value: str | pd.Timestamp) -> int:
    """Day number of a date."""
    return int((np.datetime64(pd.Timestamp(value).date(), "D") - EPOCH).astype(np.int64))


def day_strings(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` strings for day numbers (object array)."""
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Uniform integer day in [low, high] per element (high >= low)."""
    span = np.maximum(high - low, 0) + 1
    return low + np.floor(rng.random(len(span)) * span).astype(np.int64)


def my_numbers(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct valid 12-digit My Numbers (総務省令第85号 第5条 check digit), random order."""
    # Distinct bodies spread over the whole 11-digit range: increasing random gaps, then shuffled.
    gap = max(2, int(9 * 10**10 // max(count, 1)))
    start = int(rng.integers(10**9, 5 * 10**9))
    bodies = start + np.cumsum(rng.integers(1, gap, count, dtype=np.int64))
    bodies = rng.permutation(bodies)
    digits = (bodies[:, None] // (10 ** np.arange(10, -1, -1, dtype=np.int64))) % 10
    check = my_number_check_digits(digits)
    return np.char.zfill((bodies * 10 + check).astype(str), 12).astype(object)


@dataclass
class Population:
    """Households, persons and their events as frames of plain columns (dates as day numbers)."""

    as_of: int
    window_start: int
    households: pd.DataFrame
    persons: pd.DataFrame
    events: pd.DataFrame
    welfare: pd.DataFrame
    insurance: pd.DataFrame


def _household_sizes(rng: np.random.Generator, children: int) -> np.ndarray:
    estimate = int(children / 1.75) + 64
    sizes = rng.choice(np.array([1, 2, 3, 4]), size=estimate, p=[0.42, 0.40, 0.14, 0.04])
    while sizes.sum() < children:
        sizes = np.concatenate([sizes, rng.choice(np.array([1, 2, 3, 4]), size=64, p=[0.42, 0.40, 0.14, 0.04])])
    total = np.cumsum(sizes)
    count = int(np.searchsorted(total, children) + 1)
    sizes = sizes[:count].copy()
    sizes[-1] -= int(total[count - 1] - children)
    return sizes


def _addresses(rng: np.random.Generator, count: int) -> np.ndarray:
    ward_index = rng.choice(len(names.WARDS), size=count, p=[w[1] for w in names.WARDS])
    town = np.empty(count, dtype=object)
    for i, (ward, _, towns) in enumerate(names.WARDS):
        mask = ward_index == i
        town[mask] = np.array([ward + t for t in towns], dtype=object)[rng.integers(0, len(towns), mask.sum())]
    chome = np.array(names.KANJI_NUMERALS[:6], dtype=object)[rng.integers(0, 6, count)]
    ban = rng.integers(1, 40, count).astype(str).astype(object)
    go = rng.integers(1, 30, count).astype(str).astype(object)
    has_room = rng.random(count) < 0.3
    room = (rng.integers(1, 9, count) * 100 + rng.integers(1, 8, count)).astype(str).astype(object)
    suffix = np.where(has_room, "-" + room, "")
    return "仙台市" + town + chome + "丁目" + ban + "-" + go + suffix


def _pick_names(rng: np.random.Generator, pool: list[tuple[str, str]], count: int) -> tuple[np.ndarray, np.ndarray]:
    index = rng.integers(0, len(pool), count)
    kanji = np.array([p[0] for p in pool], dtype=object)[index]
    kana = np.array([p[1] for p in pool], dtype=object)[index]
    return kanji, kana


def _insurers(rng: np.random.Generator, count: int) -> np.ndarray:
    """保険者番号 per household: 協会けんぽ, 健保組合, 共済, 仙台市国保 (6 digits), 国保組合."""
    kyokai = [with_modulus10_w21(b) for b in ("0104001", "0113001", "0107001")]
    kumiai = [with_modulus10_w21(f"06{p}{n:03d}") for p, n in zip(
        rng.choice(["04", "13", "27"], 40, p=[0.6, 0.3, 0.1]), rng.integers(1, 999, 40), strict=True)]
    kyosai = [with_modulus10_w21(f"{h}04{n:03d}") for h, n in zip(
        rng.choice(["31", "32", "33", "34"], 8), rng.integers(1, 99, 8), strict=True)]
    kokuho = [with_modulus10_w21("04010")]  # synthetic number standing for 仙台市国民健康保険
    kokuho_kumiai = [with_modulus10_w21(f"043{n:02d}") for n in (1, 3, 7)]
    category = rng.choice(5, size=count, p=[0.45, 0.20, 0.08, 0.24, 0.03])
    out = np.empty(count, dtype=object)
    pools = [
        (kyokai, [0.85, 0.10, 0.05]), (kumiai, None), (kyosai, None), (kokuho, None), (kokuho_kumiai, None)
    ]
    for i, (pool, weights) in enumerate(pools):
        mask = category == i
        out[mask] = np.array(pool, dtype=object)[rng.choice(len(pool), size=int(mask.sum()), p=weights)]
    return out


def build_population(children: int, seed: int, as_of: str, window_days: int = 365,
                     dv_share: float = 0.003) -> Population:
    """Draw the households, persons, events, welfare cases and insurance of ``children`` children.

    ``dv_share``: share of households under 支援措置 (DV等; every member flagged).
    """
    rng = np.random.default_rng(seed)
    today = day(as_of)
    window_start = today - window_days + 1

    # -- households ---------------------------------------------------------------------------
    kids = _household_sizes(rng, children)
    n_households = len(kids)
    single = rng.random(n_households) < 0.12
    mother_age = np.clip(rng.normal(37.5, 6.0, n_households), 20.5, 54.9)
    partner_delta = rng.normal(2.0, 3.0, n_households)
    head_male = np.where(single, rng.random(n_households) < 0.15, rng.random(n_households) < 0.9)
    surname_weights = np.array([s[2] for s in names.SURNAMES], dtype=float)
    surname = rng.choice(len(names.SURNAMES), size=n_households, p=surname_weights / surname_weights.sum())
    address = _addresses(rng, n_households)
    recent = rng.random(n_households) < 0.045
    recent_code = np.where(rng.random(n_households) < 0.9, "A1", "A2")
    dv = rng.random(n_households) < dv_share
    insurer = _insurers(rng, n_households)
    insurer_change = rng.random(n_households) < 0.12
    new_insurer = _insurers(rng, n_households)

    # -- persons: guardians then children -----------------------------------------------------
    n_guardians = 2 - single.astype(np.int64)
    g_household = np.repeat(np.arange(n_households), n_guardians)
    first = np.concatenate([[0], np.cumsum(n_guardians)[:-1]])
    g_position = np.arange(len(g_household)) - np.repeat(first, n_guardians)
    g_is_head = g_position == 0
    g_male = np.where(g_is_head, head_male[g_household], ~head_male[g_household])
    g_age = np.where(g_male, np.clip(mother_age[g_household] + partner_delta[g_household], 20.2, 55.0),
                     mother_age[g_household])
    g_birth = today - np.floor(g_age * YEAR).astype(np.int64)

    c_household = np.repeat(np.arange(n_households), kids)
    max_age_days = np.minimum(19 * YEAR - 1, (mother_age[c_household] - 19.0) * YEAR)
    c_birth = today - np.floor(rng.random(len(c_household)) * max_age_days).astype(np.int64)
    c_male = rng.random(len(c_household)) < 0.512

    # Arrival in Sendai: years ago, or during the window (A1/A2).
    youngest_guardian = np.full(n_households, np.inf)
    np.minimum.at(youngest_guardian, g_household, g_age)
    years_here = np.minimum(25.0, youngest_guardian - 18.0)
    old_arrival = today - 366 - np.floor(rng.random(n_households) * (years_here * YEAR - 366)).astype(np.int64)
    recent_arrival = between(rng, np.full(n_households, window_start), np.full(n_households, today - 1))
    arrival = np.where(recent, recent_arrival, old_arrival)

    household = np.concatenate([g_household, c_household])
    n_persons = len(household)
    is_child = np.concatenate([np.zeros(len(g_household), bool), np.ones(len(c_household), bool)])
    birth = np.concatenate([g_birth, c_birth])
    male = np.concatenate([g_male, c_male])
    relationship = np.concatenate([np.where(g_is_head, "01", "02"), np.full(len(c_household), "03")]).astype(object)
    start = np.maximum(arrival[household], birth)

    child_generation = birth >= day("2005-01-01")
    given = np.empty(n_persons, dtype=object)
    given_kana = np.empty(n_persons, dtype=object)
    for pool, mask in (
        (names.ADULT_MALE, ~child_generation & male), (names.ADULT_FEMALE, ~child_generation & ~male),
        (names.CHILD_MALE, child_generation & male), (names.CHILD_FEMALE, child_generation & ~male),
    ):
        given[mask], given_kana[mask] = _pick_names(rng, pool, int(mask.sum()))
    surnames = np.array([s[0] for s in names.SURNAMES], dtype=object)[surname[household]]
    surnames_kana = np.array([s[1] for s in names.SURNAMES], dtype=object)[surname[household]]

    # Move-outs of whole households, deaths, moves within the city.
    latest_start = np.full(n_households, np.iinfo(np.int64).min)
    np.maximum.at(latest_start, household, start)
    moves_out = (rng.random(n_households) < 0.03) & ~recent
    low = np.maximum(window_start, latest_start + 1)
    moveout_day = np.where(moves_out & (low <= today), between(rng, low, np.full(n_households, today)), NO_DAY)
    moveout_code = np.where(rng.random(n_households) < 0.92, "D1", "D2")
    person_moveout = moveout_day[household]

    death_rate = np.where(is_child, 0.00015, 0.0005)
    dies = (rng.random(n_persons) < death_rate) & (person_moveout == NO_DAY)
    death_low = np.maximum(window_start, start)
    death_day = np.where(dies & (death_low <= today), between(rng, death_low, np.full(n_persons, today)), NO_DAY)

    relocates = (rng.random(n_households) < 0.04) & ~recent & (moveout_day == NO_DAY)
    relocation_day = np.where(relocates & (low <= today), between(rng, low, np.full(n_households, today)), NO_DAY)

    # Person ids in order of registration (宛名番号 are issued chronologically), My Numbers at random.
    order = np.lexsort((rng.random(n_persons), start))
    person_numbers = np.empty(n_persons, dtype=np.int64)
    person_numbers[order] = 100_000_000 + np.cumsum(rng.integers(1, 30, n_persons, dtype=np.int64))
    person_id = np.char.zfill(person_numbers.astype(str), 10).astype(object)
    household_order = np.argsort(arrival, kind="stable")
    household_numbers = np.empty(n_households, dtype=np.int64)
    household_numbers[household_order] = 2_000_000_000 + np.cumsum(rng.integers(1, 20, n_households, dtype=np.int64))
    household_id = household_numbers.astype(str).astype(object)

    persons = pd.DataFrame(
        {
            "person_id": person_id,
            "household": household,
            "household_id": household_id[household],
            "relationship_code": relationship,
            "my_number": my_numbers(rng, n_persons),
            "name": surnames + "　" + given,
            "name_kana": surnames_kana + "　" + given_kana,
            "address": address[household],
            "birth": birth,
            "sex_code": np.where(male, "1", "2").astype(object),
            "dv_support_flag": np.where(dv[household], "1", "0").astype(object),
            "start": start,
            "is_child": is_child,
            "moveout": person_moveout,
            "death": death_day,
            "end": np.minimum(person_moveout, death_day),
        }
    )
    households = pd.DataFrame(
        {
            "household_id": household_id,
            "children": kids,
            "single_parent": single,
            "arrival": arrival,
            "recent": recent,
            "moveout": moveout_day,
            "insurer": insurer,
        }
    )

    # -- events ----------------------------------------------------------------------------------
    parts = []
    arrived = recent[household] & (start == arrival[household])
    parts.append((np.flatnonzero(arrived), recent_code[household][arrived], start[arrived], 0, 14))
    born = (birth >= window_start) & (birth >= arrival[household]) & is_child & ~arrived
    parts.append((np.flatnonzero(born), np.full(born.sum(), "A3"), birth[born], 0, 14))
    left = person_moveout != NO_DAY
    parts.append((np.flatnonzero(left), moveout_code[household][left], person_moveout[left], -14, 0))
    died = death_day != NO_DAY
    parts.append((np.flatnonzero(died), np.full(died.sum(), "D3"), death_day[died], 0, 7))
    relocation = relocation_day[household]
    moved = (relocation != NO_DAY) & (start <= relocation) & (death_day >= relocation)
    parts.append((np.flatnonzero(moved), np.full(moved.sum(), "M1"), relocation[moved], 0, 14))
    renamed = ~is_child & (rng.random(n_persons) < 0.001) & (persons["end"].to_numpy() == NO_DAY)
    rename_day = between(rng, np.maximum(window_start, start), np.full(n_persons, today))
    parts.append((np.flatnonzero(renamed), np.full(renamed.sum(), "M2"), rename_day[renamed], 0, 0))

    frames = []
    for index, codes, event_day, lag_low, lag_high in parts:
        lag = rng.integers(lag_low, lag_high + 1, len(index))
        notified = np.minimum(event_day + lag, today)
        frames.append(pd.DataFrame({"person": index, "event_code": codes.astype(object),
                                    "event_day": event_day, "notified_day": notified}))
    events = pd.concat(frames, ignore_index=True)
    events["person_id"] = person_id[events["person"].to_numpy()]
    events = events.sort_values(["event_day", "person_id", "event_code"], kind="stable").reset_index(drop=True)

    # -- welfare (生活保護) ----------------------------------------------------------------------
    protected = np.flatnonzero(rng.random(n_households) < 0.015)
    w_low = np.maximum(arrival[protected], day("2012-01-04"))
    w_start = between(rng, w_low, np.full(len(protected), today))
    w_end = w_start + rng.integers(90, 2500, len(protected))
    w_end = np.where((rng.random(len(protected)) < 0.35) & (w_end <= today), w_end, NO_DAY)
    order = np.argsort(w_start, kind="stable")
    welfare = pd.DataFrame(
        {
            "household": protected[order],
            "case_id": [f"W{n:07d}" for n in range(1, len(protected) + 1)],
            "household_id": household_id[protected[order]],
            "start": w_start[order],
            "end": w_end[order],
        }
    )

    # -- insurance of each child ------------------------------------------------------------------
    child = np.flatnonzero(is_child)
    ch = household[child]
    change_day = np.where(
        insurer_change[ch],
        between(rng, np.full(len(child), today - 6 * 365), np.full(len(child), today)),
        NO_DAY,
    )
    # Use one change day per household (the guardian's new job), taken from its first child.
    first_child = np.zeros(n_households, dtype=np.int64)
    present, first_index = np.unique(ch, return_index=True)
    first_child[present] = first_index
    change_day = change_day[first_child[ch]]
    child_birth = birth[child]
    before_change = child_birth < change_day
    old_rows = insurer_change[ch] & before_change
    rows = [
        pd.DataFrame({"person": child[old_rows], "insurer_number": insurer[ch][old_rows],
                      "from": child_birth[old_rows], "to": change_day[old_rows] - 1}),
        pd.DataFrame({"person": child, "insurer_number": np.where(insurer_change[ch], new_insurer[ch], insurer[ch]),
                      "from": np.where(old_rows, change_day, child_birth), "to": NO_DAY}),
    ]
    insurance = pd.concat(rows, ignore_index=True)
    # An open 生活保護 case replaces health insurance (医療扶助): coverage ends the day before it starts.
    open_case = welfare.loc[welfare["end"] == NO_DAY, ["household", "start"]].drop_duplicates("household")
    case_start = pd.Series(open_case["start"].to_numpy(), index=open_case["household"].to_numpy())
    w_start_of = case_start.reindex(household[insurance["person"].to_numpy()]).to_numpy()
    has_case = ~np.isnan(w_start_of)
    w_day = np.where(has_case, w_start_of, 0).astype(np.int64)
    insurance["to"] = np.where(has_case & (insurance["to"].to_numpy() >= w_day), w_day - 1, insurance["to"])
    uninsured = rng.random(len(insurance)) < 0.003
    keep = (insurance["to"].to_numpy() >= insurance["from"].to_numpy()) & ~uninsured
    insurance = insurance.loc[keep].reset_index(drop=True)
    p = insurance["person"].to_numpy()
    teen = (today - birth[p]) >= 16 * YEAR
    insurance["insured_type_code"] = np.where(teen & (rng.random(len(p)) < 0.03), "1", "2").astype(object)
    insurance["person_id"] = person_id[p]
    insurance = insurance.sort_values(["person_id", "from"], kind="stable").reset_index(drop=True)

    return Population(today, window_start, households, persons, events, welfare, insurance)
