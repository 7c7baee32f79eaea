"""Lazy validation of an input frame into good rows and a masked quarantine table.

Style guide point 11: failures become data, not exceptions. Every failing check of every row is
listed; a row with any failure is taken out of ``good`` entirely. Values are masked
(:func:`mask_value`) so that the quarantine table never holds a full My Number, name or address.

Type coercion is done here, vectorised, before Pandera runs: a cell that does not parse as its
declared type (``2023-02-30``, ``12a000``) is reported as ``coerce_dtype`` for its row and set to
missing, so the other checks still run on the rest of the column instead of failing on the whole
column (which is what Pandera does when coercion fails).
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from schemas.checks import CHECKS, OPEN_END, OPEN_END_DATE, nonmatching, using_reference_date
from schemas.codes import SOURCE_ROW

QUARANTINE_COLUMNS = ["file_name", "row_number", "column_name", "check_name", "masked_value", "reason"]

#: Columns whose masked value shows no characters at all (personal text).
FULLY_MASKED_COLUMNS = frozenset({"name", "name_kana", "address"})

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_INTEGER = r"[+-]?[0-9]{1,15}"

_BUILTIN_REASONS = {
    "coerce_dtype": "value does not have the declared type",
    "not_nullable": "required value is missing",
    "field_uniqueness": "duplicate value in a unique column (every occurrence is quarantined)",
    "multiple_fields_uniqueness": "duplicate key (every occurrence is quarantined)",
    "str_matches": "value does not have the documented format",
    "matches_format": "value does not have the documented format",
    "isin": "unknown code value",
    "greater_than_or_equal_to": "value is below the allowed minimum",
    "less_than_or_equal_to": "value is above the allowed maximum",
    "in_range": "value is out of the allowed range",
    "str_length": "value is empty or too long",
}


class SchemaContractError(ValueError):
    """The frame itself breaks the contract (missing/extra column): a programming error, not bad data."""


@dataclass(frozen=True)
class ValidationResult:
    """Rows that passed every check (typed per the model) and the quarantine table."""

    good: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def quarantined_rows(self) -> int:
        """Number of distinct source rows in quarantine."""
        return int(self.quarantine["row_number"].nunique())


def mask_value(value: object, keep: int = 2) -> object:
    """Mask a value for the quarantine table: at most its last ``keep`` characters stay visible.

    ``"123456789018"`` → ``"**********18"``. Values of ``keep`` characters or fewer keep one
    character less, so the full value is never shown. Missing values stay missing.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NA
    text = str(value)
    shown = min(keep, max(len(text) - 1, 0))
    return "*" * (len(text) - shown) + (text[len(text) - shown :] if shown else "")


def _mask_series(values: pd.Series, keep: int) -> pd.Series:
    """Vectorised :func:`mask_value` over a Series of raw values."""
    text = values.astype("string")
    length = text.str.len()
    shown = np.minimum(keep, np.maximum(length.fillna(0).to_numpy(dtype=np.int64) - 1, 0))
    hidden = length.fillna(0).to_numpy(dtype=np.int64) - shown
    stars = pd.Series(["*"] * len(text), index=text.index, dtype="string").str.repeat(hidden)
    tails = pd.Series(
        [t[len(t) - s :] if s else "" for t, s in zip(text.fillna("").tolist(), shown, strict=True)],
        index=text.index,
        dtype="string",
    )
    return (stars + tails).where(text.notna(), pd.NA).astype(object)


def _parse_integers(values: np.ndarray) -> pd.Series:
    """Parse validated integer strings ("" = missing) with the C parser into Int64."""
    parsed = pd.read_csv(
        io.StringIO("\n".join(values) + "\n"),
        header=None,
        names=["v"],
        dtype="Int64",
        skip_blank_lines=False,
        keep_default_na=False,
        na_values=[""],
    )["v"]
    if len(parsed) != len(values):  # pragma: no cover - guarded by nonmatching
        parsed = pd.to_numeric(pd.Series(values).replace("", None)).astype("Int64")
    return parsed


#: Dates the pipeline can hold (pandas nanosecond timestamps: 1677-09-22 .. 2262-04-11), in whole years.
FIRST_SUPPORTED_YEAR, LAST_SUPPORTED_YEAR = 1678, 2261
#: A well-formed date in a supported year (1678-2261), as one C-level regex (schemas.checks.nonmatching).
_SUPPORTED_DATE = r"(?:167[89]|16[89][0-9]|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])-[0-9]{2}-[0-9]{2}"
DATE_RANGE_REASON = (
    f"date outside {FIRST_SUPPORTED_YEAR}-01-01..{LAST_SUPPORTED_YEAR}-12-31 "
    f"({OPEN_END_DATE} means open-ended only where the format says so)"
)


def _outside_date_range(values: np.ndarray, malformed: np.ndarray, *, open_end: bool) -> tuple[np.ndarray, np.ndarray]:
    """Well-formed dates the pipeline cannot hold: (values with open ends blanked, out-of-range mask).

    9999-12-31 in an ``open_end`` column means "no end" and becomes missing (= open); any other date
    outside the supported years is reported instead of stopping the month with ``OutOfBoundsDatetime``.
    """
    outside = nonmatching(values, _SUPPORTED_DATE) & ~malformed
    if not outside.any():
        return values, outside
    values = values.copy()
    if open_end:
        open_ended = outside & (values == OPEN_END_DATE)
        values[open_ended] = ""
        outside &= ~open_ended
    return values, outside


def _failure_rows(index: pd.Index, column: str, check: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame({"index": index, "column_name": column, "check_name": check, "reason": reason})


def _coerce(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Parse date and integer columns; return the typed frame and the per-cell coercion failures."""
    work = frame.copy()
    failures: list[pd.DataFrame] = []
    for name, column in schema.columns.items():
        if name not in work.columns or name == SOURCE_ROW:
            continue
        dtype = str(column.dtype)
        raw = work[name]
        if not (dtype.startswith("datetime64") or dtype.startswith("int")):
            continue
        if pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_integer_dtype(raw):
            if dtype.startswith("datetime64"):
                work[name] = raw.astype("datetime64[ns]")
            continue
        values = raw.to_numpy(dtype=object, na_value="")
        values = np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object) if (
            raw.dtype == object) else values
        if dtype.startswith("datetime64"):
            bad = nonmatching(values, _DATE)
            values, out_of_range = _outside_date_range(values, bad, open_end=bool((column.metadata or {}).get(
                OPEN_END)))
            if out_of_range.any():
                failures.append(_failure_rows(work.index[out_of_range], name, "date_in_supported_range",
                                              DATE_RANGE_REASON))
            bad |= out_of_range
            text = pd.Series(np.where(bad, "", values), index=raw.index, dtype="str").replace("", None)
            parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
            bad |= (values != "") & parsed.isna().to_numpy()
            work[name] = parsed
            expected = "a date YYYY-MM-DD"
        else:
            bad = nonmatching(values, _INTEGER)
            numbers = _parse_integers(np.where(bad, "", values))
            numbers.index = raw.index
            work[name] = numbers if numbers.isna().any() else numbers.astype("int64")
            expected = "an integer"
        if bad.any():
            index = work.index[bad]
            failures.append(
                pd.DataFrame(
                    {
                        "index": index,
                        "column_name": name,
                        "check_name": f"coerce_dtype('{dtype}')",
                        "reason": f"not {expected}",
                    }
                )
            )
    return work, failures


def _builtin(check: str) -> str:
    return check.split("(", 1)[0]


def _interpret(
    cases: pd.DataFrame,
    schema: pa.DataFrameSchema,
    unparsed: set[tuple[int, str]],
    missing: set[tuple[int, str]],
) -> pd.DataFrame:
    """Turn Pandera failure cases into (index, column_name, check_name, reason) rows.

    ``unparsed`` cells were reported as coercion failures already and ``missing`` cells are empty
    where a value is required; Pandera's type failures on them would only repeat those reports.
    """
    cases = cases.dropna(subset=["index"]).copy()
    cases["index"] = cases["index"].astype("int64")
    base = cases["check"].map(_builtin)
    cell = list(zip(cases["index"].tolist(), cases["column"].astype(str).tolist(), strict=True))
    in_unparsed = pd.Series([c in unparsed for c in cell], index=cases.index, dtype=bool)
    in_missing = pd.Series([c in missing for c in cell], index=cases.index, dtype=bool)
    redundant = (base.isin(["coerce_dtype", "dtype"]) & (in_unparsed | in_missing)) | (
        (base == "not_nullable") & in_unparsed
    )
    cases = cases.loc[~redundant]
    base = base.loc[~redundant]

    custom = cases["check"].isin(list(CHECKS))
    out = []
    if custom.any():
        rows = cases.loc[custom, ["index", "check"]].drop_duplicates()
        info = rows["check"].map(CHECKS)
        out.append(
            pd.DataFrame(
                {
                    "index": rows["index"].to_numpy(),
                    "column_name": [",".join(i.columns) for i in info],
                    "check_name": rows["check"].to_numpy(),
                    "reason": [i.reason for i in info],
                }
            )
        )
    multi = base == "multiple_fields_uniqueness"
    if multi.any():
        rows = cases.loc[multi, ["index"]].drop_duplicates()
        out.append(
            pd.DataFrame(
                {
                    "index": rows["index"].to_numpy(),
                    "column_name": ",".join(schema.unique or []),
                    "check_name": "multiple_fields_uniqueness",
                    "reason": _BUILTIN_REASONS["multiple_fields_uniqueness"],
                }
            )
        )
    plain = ~custom & ~multi
    if plain.any():
        rows = cases.loc[plain, ["index", "column", "check"]].drop_duplicates()
        names = rows["check"].map(_builtin)
        out.append(
            pd.DataFrame(
                {
                    "index": rows["index"].to_numpy(),
                    "column_name": rows["column"].astype(str).to_numpy(),
                    "check_name": rows["check"].to_numpy(),
                    "reason": names.map(_BUILTIN_REASONS).fillna("check failed").to_numpy(),
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["index", "column_name"])


def _masked(raw: pd.DataFrame, failures: pd.DataFrame) -> pd.Series:
    """Masked raw value of each failure's column; a multi-column key is joined with ',' then masked."""
    result = pd.Series(pd.NA, index=failures.index, dtype=object)
    for column_name, group in failures.groupby("column_name", sort=False):
        columns = str(column_name).split(",")
        positions = group["index"].to_numpy(dtype=np.int64)
        values = pd.Series(raw[columns[0]].to_numpy(dtype=object)[positions], index=group.index)
        for column in columns[1:]:
            more = pd.Series(raw[column].to_numpy(dtype=object)[positions], index=group.index)
            values = values.astype("string").fillna("") + "," + more.astype("string").fillna("")
        keep = 0 if FULLY_MASKED_COLUMNS.intersection(columns) else 2
        result.loc[group.index] = _mask_series(values, keep)
    return result


def _finalise(good: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Give the good rows exactly the model's dtypes (no missing values remain where not allowed)."""
    for name, column in schema.columns.items():
        dtype = str(column.dtype)
        if name in good.columns and dtype.startswith("int") and str(good[name].dtype) != dtype:
            good[name] = good[name].astype(dtype)
    return good


def validate_frame(
    frame: pd.DataFrame,
    model: type[pa.DataFrameModel],
    file_name: str,
    extract_date: str | pd.Timestamp | None = None,
) -> ValidationResult:
    """Validate ``frame`` (as read by ``connectors.files.read_input_csv``) against ``model``, lazily.

    Args:
        frame: string columns plus ``source_row``.
        model: the file's ``pa.DataFrameModel`` (schemas.INPUT_SCHEMAS).
        file_name: written into the quarantine table.
        extract_date: the manifest's extract date; dates after it are "in the future". Default: the
            date set by an enclosing ``schemas.checks.using_reference_date`` block, else today.

    Returns:
        ``good``: the rows without any failure, typed per the model; ``quarantine``: one row per
        failure with ``file_name, row_number, column_name, check_name, masked_value, reason``.

    Raises:
        SchemaContractError: the frame lacks or adds columns (not row data problems).
    """
    schema = model.to_schema()
    if SOURCE_ROW not in frame.columns:
        raise SchemaContractError(f"{file_name}: the frame has no {SOURCE_ROW} column")
    raw = frame.reset_index(drop=True)
    work, coerce_failures = _coerce(raw, schema)

    handled: set[tuple[int, str]] = set()
    for failure in coerce_failures:
        handled.update(zip(failure["index"].tolist(), failure["column_name"].tolist(), strict=True))
    required_missing = {
        (int(i), name)
        for name, column in schema.columns.items()
        if name in work.columns and not column.nullable
        for i in np.flatnonzero(work[name].isna().to_numpy())
    }
    failures = list(coerce_failures)
    # Pandera only checks here (types are already parsed). Integer columns holding missing values
    # are Int64: check them as such and report their missing required cells ourselves.
    int_with_na = [
        name for name, column in schema.columns.items()
        if name in work.columns and str(work[name].dtype) == "Int64" and str(column.dtype).startswith("int")
    ]
    check_schema = schema.update_columns({n: {"dtype": "Int64", "nullable": True} for n in int_with_na}) if (
        int_with_na) else copy.copy(schema)
    check_schema.coerce = False
    own_missing = [(i, n) for (i, n) in sorted(required_missing - handled) if n in int_with_na]
    if own_missing:
        failures.append(
            pd.DataFrame(
                {
                    "index": [i for i, _ in own_missing],
                    "column_name": [n for _, n in own_missing],
                    "check_name": "not_nullable",
                    "reason": _BUILTIN_REASONS["not_nullable"],
                }
            )
        )
    # An explicit extract date wins; otherwise keep the caller's context (schemas.checks.using_reference_date).
    context = using_reference_date(extract_date) if extract_date is not None else contextlib.nullcontext()
    with context:
        try:
            check_schema.validate(work, lazy=True, inplace=True)  # work is this function's own copy (_coerce)
        except pa.errors.SchemaErrors as err:
            cases = err.failure_cases
            frame_level = cases.loc[cases["index"].isna()]
            if not frame_level.empty:
                columns = frame_level["column"].astype(str)
                problems = sorted(set(zip(columns, frame_level["check"].astype(str), strict=True)))
                raise SchemaContractError(
                    f"{file_name}: frame-level schema failures: "
                    + "; ".join(f"{column} {check[:80]}" for column, check in problems)
                ) from None
            failures.append(_interpret(cases, schema, handled, required_missing))

    failures = [f for f in failures if not f.empty]
    if failures:
        table = pd.concat(failures, ignore_index=True)
        table["masked_value"] = _masked(raw, table)
        table["row_number"] = raw[SOURCE_ROW].to_numpy(dtype=np.int64)[table["index"].to_numpy(dtype=np.int64)]
        table["file_name"] = file_name
        bad = np.zeros(len(raw), dtype=bool)
        bad[table["index"].to_numpy(dtype=np.int64)] = True
        quarantine = (
            table[QUARANTINE_COLUMNS]
            .sort_values(["row_number", "column_name", "check_name"], kind="stable")
            .reset_index(drop=True)
        )
        good = work.loc[~bad]
    else:
        quarantine = pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
        good = work
    quarantine["row_number"] = quarantine["row_number"].astype("int64")
    good = _finalise(good.reset_index(drop=True), schema)
    return ValidationResult(good=good, quarantine=quarantine)
