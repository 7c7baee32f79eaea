"""Dated policy parameters: read the openfisca-style YAML once, validate it strictly, freeze it.

Every file ``policy/parameters/<group>/.../<name>.yaml`` is one parameter, named by its path with dots
(``age_limit/inpatient.yaml`` → ``age_limit.inpatient``)::

    description: ...
    metadata: {unit: currency-JPY, reference: "<legal source>"}
    values:
      2012-01-01:
        value: 500
        metadata: {reference: "<source of this value>", assumption: false}
      2026-04-01:
        value: null            # ends the parameter (abolished)
        metadata: {reference: "..."}

A value is in force from its date (inclusive) to the day before the next date. ``null`` ends the
parameter; before its first date a parameter is not in force either, and both read as ``None``. Values
are scalars (int, float, bool, str) or a flat mapping of scalars (e.g. a 高額療養費 区分 row).

Rules look values up by the date the law applies to: the service date (診療日) of a receipt, the day of
an eligibility interval (use :meth:`Policy.eras` to split intervals at effective dates), or the first
day of a processing month for monthly decisions.

Load-time rejections (:class:`PolicyError`): unknown or missing keys, unsorted or duplicate dates,
missing ``unit``/``reference``, a value whose type does not fit the unit, an assumption without a note,
a first value of ``null``, changing value shapes across eras, and a 公費負担者番号 whose モジュラス10
ウエイト2・1 check digit is wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from rules.checkdigits import modulus10_w21_ok

DEFAULT_DIRECTORY = Path(__file__).resolve().parent / "parameters"
DEFAULT_CONFIRM_WITH = "仙台市 こども若者局 こども支援給付課"

Unit = Literal[
    "currency-JPY",  # integer yen
    "year",  # an age or a number of years (int)
    "day",  # a number of days (int)
    "month",  # a month number 1–12 (int)
    "percent",  # int or float
    "month-day",  # "MM-DD"
    "date",  # "YYYY-MM-DD"
    "code",  # an enumerated code or identifier (str)
    "text",  # free text (str)
    "flag",  # bool
    "mapping",  # a flat mapping of scalars
]

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
Value = Scalar | dict[str, Scalar | None] | None

_NAME_PART = re.compile(r"^[a-z][a-z0-9_]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class PolicyError(ValueError):
    """A parameter file is invalid; the message names the file and the problem."""


class UnknownParameterError(KeyError):
    """A parameter name that is not in the loaded policy."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValueMetadata(_Frozen):
    """Provenance of one dated value."""

    reference: str = Field(min_length=1, description="Legal source of this value (ordinance, notice, S-id).")
    assumption: StrictBool = Field(False, description="True for values marked [I]/[U] in domain.md.")
    note: str | None = Field(None, description="For an assumption: what is unknown and what was chosen.")
    confirm_with: str | None = Field(None, description=f"Who must confirm; default {DEFAULT_CONFIRM_WITH}.")

    @model_validator(mode="after")
    def _assumption_needs_note(self) -> ValueMetadata:
        if self.assumption and not (self.note and self.note.strip()):
            raise ValueError("a value with assumption: true needs a note saying what is unknown")
        return self


class _RawValue(_Frozen):
    value: Value = Field(..., description="The value in force from this date; null ends the parameter.")
    metadata: ValueMetadata


class DatedValue(_Frozen):
    """A value and the date from which it is in force."""

    effective_from: dt.date
    value: Value
    metadata: ValueMetadata


class ParameterMetadata(_Frozen):
    """File-level metadata of a parameter."""

    unit: Unit
    reference: str = Field(min_length=1)


class _RawFile(_Frozen):
    description: str = Field(min_length=1)
    metadata: ParameterMetadata
    values: dict[Any, Any] = Field(min_length=1)


class Parameter(_Frozen):
    """One parameter with its dated values, in date order."""

    name: str
    description: str
    metadata: ParameterMetadata
    entries: tuple[DatedValue, ...] = Field(min_length=1)

    @property
    def is_mapping(self) -> bool:
        """True when the values are mappings (use a ``field`` with :meth:`Policy.series`)."""
        return any(isinstance(v.value, dict) for v in self.entries)

    def entry_at(self, when: dt.date) -> DatedValue | None:
        """The dated value in force on ``when`` (its value may be None), or None before the first date."""
        current = None
        for entry in self.entries:
            if entry.effective_from > when:
                break
            current = entry
        return current


class Assumption(NamedTuple):
    """A value flagged ``assumption: true``."""

    name: str
    effective_from: dt.date
    note: str


def _freeze(value: Value) -> Any:
    return MappingProxyType(dict(value)) if isinstance(value, dict) else value


def _as_date(when: Any) -> dt.date:
    timestamp = pd.Timestamp(when)
    if pd.isna(timestamp):
        raise ValueError("a policy date must not be missing")
    return timestamp.date()


class PolicySnapshot(_Frozen):
    """The parameters in force on one day (``as_of``)."""

    as_of: dt.date
    version: str
    _entries: dict[str, tuple[Parameter, DatedValue | None]] = PrivateAttr(default_factory=dict)

    def _entry(self, name: str) -> tuple[Parameter, DatedValue | None]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownParameterError(name) from None

    def get(self, name: str) -> Any:
        """Value in force on ``as_of``; None when the parameter has ended or not yet started.

        Mapping values come back as read-only mappings.
        """
        entry = self._entry(name)[1]
        return None if entry is None else _freeze(entry.value)

    def reference(self, name: str) -> str:
        """Legal source of the value in force (the parameter's reference before its first date)."""
        parameter, entry = self._entry(name)
        return parameter.metadata.reference if entry is None else entry.metadata.reference

    def is_assumption(self, name: str) -> bool:
        """True when the value in force is flagged as an assumption."""
        entry = self._entry(name)[1]
        return entry is not None and entry.metadata.assumption

    def as_dict(self) -> dict[str, Any]:
        """All parameter values in force on ``as_of`` (a new dict)."""
        return {name: self.get(name) for name in self._entries}


class Policy(_Frozen):
    """All parameters, frozen. Build with :func:`load_policy`."""

    parameters: tuple[Parameter, ...]
    version: str = Field(description="Short content hash of all YAML files (for run records).")
    _index: dict[str, Parameter] = PrivateAttr(default_factory=dict)
    _starts: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)
    _tables: dict[tuple[str, str | None], pd.api.extensions.ExtensionArray] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        """Index the parameters by name and precompute the effective-date arrays."""
        for parameter in self.parameters:
            self._index[parameter.name] = parameter
            self._starts[parameter.name] = np.array(
                [np.datetime64(v.effective_from, "ns") for v in parameter.entries], dtype="datetime64[ns]"
            )

    def parameter(self, name: str) -> Parameter:
        """The :class:`Parameter` called ``name``."""
        try:
            return self._index[name]
        except KeyError:
            raise UnknownParameterError(name) from None

    def parameter_names(self) -> tuple[str, ...]:
        """All parameter names, sorted."""
        return tuple(sorted(self._index))

    def at(self, when: Any) -> PolicySnapshot:
        """The parameters in force on ``when`` (a date, datetime, Timestamp or ISO string)."""
        as_of = _as_date(when)
        snapshot = PolicySnapshot(as_of=as_of, version=self.version)
        snapshot._entries.update({name: (p, p.entry_at(as_of)) for name, p in self._index.items()})
        return snapshot

    def effective_dates(self, name: str | None = None) -> tuple[dt.date, ...]:
        """Sorted effective dates of one parameter, or of all parameters when ``name`` is None."""
        parameters = self.parameters if name is None else (self.parameter(name),)
        return tuple(sorted({v.effective_from for p in parameters for v in p.entries}))

    def _table(self, name: str, field: str | None) -> pd.api.extensions.ExtensionArray:
        """Typed array of the values of each era plus a trailing NA (for dates before the first era)."""
        key = (name, field)
        if key not in self._tables:
            parameter = self.parameter(name)
            if parameter.is_mapping and field is None:
                raise TypeError(f"{name} holds mappings; pass field= (one of {_fields(parameter)})")
            if not parameter.is_mapping and field is not None:
                raise TypeError(f"{name} holds scalars; field= is only for mapping parameters")
            if field is not None and field not in _fields(parameter):
                raise KeyError(f"{name} has no field {field!r} (fields: {_fields(parameter)})")
            raw = [_pick(v.value, field) for v in parameter.entries] + [None]
            self._tables[key] = pd.array(raw, dtype=_dtype_for(raw))
        return self._tables[key]

    def series(self, name: str, dates: pd.Series | Any, field: str | None = None) -> pd.Series:
        """Vectorised lookup: the value in force on each date, index aligned to ``dates``.

        A sorted-array search (``numpy.searchsorted``) over the effective dates; no per-row Python.
        Missing dates, dates before the first era and ended eras give ``pd.NA``. Integer parameters come
        back as ``Int64``, flags as ``boolean``, codes/text as ``string``, float as ``Float64``. For a
        mapping parameter pass ``field`` (e.g. ``series("high_cost.limit.u", d, field="base_amount")``).
        """
        table = self._table(name, field)
        frame_dates = dates if isinstance(dates, pd.Series) else pd.Series(dates)
        parsed = pd.to_datetime(frame_dates)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)  # the calendar day where the event happened, not UTC
        stamps = parsed.to_numpy(dtype="datetime64[ns]")
        starts = self._starts[name]
        position = np.searchsorted(starts, stamps, side="right") - 1
        position = np.where((position < 0) | np.isnat(stamps), len(starts), position)
        return pd.Series(table.take(position), index=frame_dates.index, name=name)

    def eras(self, name: str) -> pd.DataFrame:
        """One row per dated value, for interval rules.

        Columns: ``effective_from``, ``effective_to`` (inclusive; NaT when open), ``value`` (typed as in
        :meth:`series` for scalars, dicts for mappings; NA for an era ended by ``null``), ``reference``,
        ``assumption``.
        """
        parameter = self.parameter(name)
        starts = pd.Series(self._starts[name], dtype="datetime64[ns]")
        ends = (starts.shift(-1) - pd.Timedelta(days=1)).astype("datetime64[ns]")
        if parameter.is_mapping:
            values = pd.Series([None if v.value is None else dict(v.value) for v in parameter.entries], dtype=object)
        else:
            values = pd.Series(self._table(name, None)[:-1])
        return pd.DataFrame(
            {
                "effective_from": starts,
                "effective_to": ends,
                "value": values,
                "reference": pd.Series([v.metadata.reference for v in parameter.entries], dtype="string"),
                "assumption": pd.Series([v.metadata.assumption for v in parameter.entries], dtype=bool),
            }
        )

    def table(self, prefix: str) -> pd.DataFrame:
        """All eras of the parameters named ``<prefix>.<key>``, mapping fields as columns.

        For keyed tables such as ``high_cost.limit`` (keys ``a`` … ``o`` = 区分ア … オ): columns ``key``,
        ``effective_from``, ``effective_to`` (inclusive; NaT when open), one column per mapping field (or
        ``value`` for scalars), ``reference``, ``assumption``; sorted by ``effective_from`` then ``key`` so
        it can feed ``pandas.merge_asof(..., by="key")``. Ended eras have NA fields.
        """
        names = [n for n in self.parameter_names() if n.startswith(prefix + ".")]
        if not names:
            raise UnknownParameterError(prefix)
        frames = []
        for name in names:
            parameter = self.parameter(name)
            eras = self.eras(name).drop(columns="value")
            columns = _fields(parameter) if parameter.is_mapping else (None,)
            for field in columns:
                eras[field or "value"] = self._table(name, field)[:-1]
            eras.insert(0, "key", name[len(prefix) + 1 :])
            frames.append(eras)
        result = pd.concat(frames, ignore_index=True)
        return result.sort_values(["effective_from", "key"], kind="stable", ignore_index=True)

    def assumptions(self) -> list[Assumption]:
        """Every value flagged ``assumption: true``, as (name, effective_from, note), sorted."""
        return [
            Assumption(p.name, v.effective_from, " ".join((v.metadata.note or "").split()))
            for p in sorted(self.parameters, key=lambda p: p.name)
            for v in p.entries
            if v.metadata.assumption
        ]


def _fields(parameter: Parameter) -> tuple[str, ...]:
    return tuple(next(v.value for v in parameter.entries if isinstance(v.value, dict)))


def _pick(value: Value, field: str | None) -> Any:
    if value is None or field is None:
        return value
    return value[field]


def _dtype_for(raw: list[Any]) -> str:
    present = [v for v in raw if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Int64"  # also a mapping field that is None in every era
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "Float64"
    if all(isinstance(v, str) for v in present):
        return "string"
    raise TypeError("mixed value types")  # prevented at load time


# ---------------------------------------------------------------------------------------------
# Reading and validation
# ---------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise PolicyError(f"duplicate key {key!s} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_public_payer_number(value: Value) -> None:
    if not (isinstance(value, str) and modulus10_w21_ok(value, 8)):
        raise ValueError("a 公費負担者番号 is 8 digits with a valid モジュラス10 ウエイト2・1 check digit")


_VALUE_CHECKS = {"program.public_payer_number": _check_public_payer_number}


def _check_unit(unit: str, value: Value) -> None:
    """Reject a value whose type does not fit the parameter's unit."""
    if value is None:
        return
    ok = {
        "currency-JPY": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "year": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "day": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "month": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 12,
        "percent": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "month-day": lambda v: isinstance(v, str) and bool(_MONTH_DAY.match(v)),
        "date": lambda v: isinstance(v, str) and bool(_ISO_DATE.match(v)) and _iso_date_ok(v),
        "code": lambda v: isinstance(v, str) and bool(v),
        "text": lambda v: isinstance(v, str) and bool(v),
        "flag": lambda v: isinstance(v, bool),
        "mapping": lambda v: isinstance(v, dict) and bool(v) and all(_NAME_PART.match(k) for k in v),
    }[unit](value)
    if not ok:
        raise ValueError(f"value {value!r} does not fit unit {unit!r}")


def _iso_date_ok(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _shape(value: Value) -> Any:
    """What must stay the same across eras: the kind of scalar, or the keys of a mapping."""
    if isinstance(value, dict):
        return ("mapping", tuple(value))
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str"


def _effective_date(key: Any) -> dt.date:
    if isinstance(key, dt.datetime):
        raise ValueError(f"effective date {key!s} must be a date without a time")
    if isinstance(key, dt.date):
        return key
    if isinstance(key, str) and _ISO_DATE.match(key) and _iso_date_ok(key):
        return dt.date.fromisoformat(key)
    raise ValueError(f"effective date {key!r} is not an ISO date (YYYY-MM-DD)")


def _brief(error: ValidationError) -> str:
    """One line per problem: location and message, without echoing input values."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in error.errors())


def _parameter_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    for part in parts:
        if not _NAME_PART.match(part):
            raise ValueError(f"path part {part!r} is not a valid parameter name part ([a-z][a-z0-9_]*)")
    return ".".join(parts)


def _read_parameter(path: Path, root: Path) -> Parameter:
    name = _parameter_name(path, root)
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (safe subclass)
    if not isinstance(raw, dict):
        raise ValueError("the file must be a mapping with description, metadata and values")
    try:
        parsed = _RawFile.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_brief(error)) from None
    entries: list[DatedValue] = []
    for key, body in parsed.values.items():  # noqa: PD011 (a dict, not a DataFrame)
        effective_from = _effective_date(key)
        if entries and effective_from <= entries[-1].effective_from:
            raise ValueError(
                f"effective dates must be strictly increasing: {effective_from} after {entries[-1].effective_from}"
            )
        try:
            value = _RawValue.model_validate(body)
        except ValidationError as error:
            raise ValueError(f"value at {effective_from}: {_brief(error)}") from None
        _check_unit(parsed.metadata.unit, value.value)
        if value.value is not None and name in _VALUE_CHECKS:
            _VALUE_CHECKS[name](value.value)
        entries.append(DatedValue(effective_from=effective_from, value=value.value, metadata=value.metadata))
    if entries[0].value is None:
        raise ValueError("the first value must not be null (start the parameter at its first real value)")
    shapes = {_shape(e.value) for e in entries if e.value is not None}
    if len(shapes) > 1:
        raise ValueError(f"values change shape across eras: {sorted(map(str, shapes))}")
    return Parameter(name=name, description=" ".join(parsed.description.split()), metadata=parsed.metadata,
                     entries=tuple(entries))


def read_policy(directory: str | Path | None = None) -> Policy:
    """Read and validate every ``*.yaml`` under ``directory`` (uncached; see :func:`load_policy`)."""
    root = Path(directory).resolve() if directory is not None else DEFAULT_DIRECTORY
    if not root.is_dir():
        raise PolicyError(f"{root}: not a directory")
    stray = sorted(p for p in root.rglob("*.yml"))
    if stray:
        raise PolicyError(f"{stray[0].relative_to(root)}: parameter files must end in .yaml")
    files = sorted(root.rglob("*.yaml"))
    if not files:
        raise PolicyError(f"{root}: no parameter files")
    digest = hashlib.sha256()
    parameters = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
        try:
            parameters.append(_read_parameter(path, root))
        except (ValueError, yaml.YAMLError) as error:
            raise PolicyError(f"{relative}: {error}") from None
    return Policy(parameters=tuple(parameters), version=digest.hexdigest()[:12])


@functools.lru_cache(maxsize=8)
def _load_cached(root: Path) -> Policy:
    return read_policy(root)


def load_policy(directory: str | Path | None = None) -> Policy:
    """Load the policy once per directory (cached) and return the frozen :class:`Policy`.

    ``directory`` defaults to ``policy/parameters`` inside the package.
    """
    root = Path(directory).resolve() if directory is not None else DEFAULT_DIRECTORY
    return _load_cached(root)
