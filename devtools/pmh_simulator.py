"""A local PMH simulator: the registration API over real HTTP, with fault knobs (``python -m devtools pmh-sim``).

API (same as :class:`connectors.pmh.HttpPmhClient` expects; pmh_interfaces.md §1.2):

* ``POST /registration-tasks`` — bearer token (else 401), a JSON array of 1…``max_records`` records
  validated strictly by pydantic (else 400 with ``{"code": "SCHEMA_ERROR", "errors": [{"index", "field",
  "code"}]}``; no input value is ever echoed). Requires an ``Idempotency-Key`` header (else 400): the same
  key with the same body returns the original task (``Idempotent-Replayed: true``), the same key with another
  body is 422 ``IDEMPOTENCY_KEY_REUSED``. Answer: 202 ``{"taskId", "status": "ACCEPTED", "recordCount"}``.
* ``GET /registration-tasks/{taskId}`` — ``PROCESSING`` until the simulated intermediary step has run
  (``task_delay_ms`` after the POST), then ``COMPLETED`` with per-record ``results`` (``index``,
  ``municipalityIdentityKey``, ``result`` REGISTERED/DELETED/ERROR, ``pmhId`` or ``errorCode``). PMH-IDs are
  numbered by the simulated 中間サーバー: one per My Number, 16 digits, in order of first completion.
* ``GET /_sim/stats``, ``GET /_sim/subjects``, ``POST /_sim/reset``, ``PUT /_sim/config``: test hooks.

Fault knobs (:class:`SimConfig`): latency; a share of 503s (before any effect); 429 with ``Retry-After``
above a token-bucket rate limit (registrations and status polls have separate buckets); timeouts (the
task is recorded, then the answer is delayed past the client's timeout); "commit, then drop" (the task is
recorded, then the TCP connection is closed without an answer).

Counting: each accepted record's business identity (key, change, validity, 異動日, recipient number) is an
*effect*; ``duplicates`` counts effects applied more than once, which an idempotent client never causes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from privacy.files import write_private_file
from rules.checkdigits import modulus10_w21_ok, my_number_ok


# --------------------------------------------------------------------------------------------------
# Request schema (strict)
# --------------------------------------------------------------------------------------------------
def _check_my_number(value: str) -> str:
    if not my_number_ok(value):
        raise PydanticCustomError("my_number_check_digit", "check digit mismatch")
    return value


def _check_payer(value: str | None) -> str | None:
    if value is not None and not modulus10_w21_ok(value, 8):
        raise PydanticCustomError("insurer_number_check_digit", "check digit mismatch")
    return value


class BasicFiveInfo(BaseModel):
    """基本5情報."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=100)
    nameKana: str = Field(min_length=1, max_length=100)  # noqa: N815 - API field name
    address: str = Field(min_length=1, max_length=200)
    dateOfBirth: dt.date  # noqa: N815
    sex: Literal["1", "2"]


class RegistrationRecord(BaseModel):
    """One record of the registration array."""

    model_config = ConfigDict(extra="forbid", strict=True)
    modificationSeg: Literal["1", "2"]  # noqa: N815
    municipalityIdentityKey: str = Field(min_length=1, max_length=100)  # noqa: N815
    orgSpecificCertificateTypeId: str = Field(pattern=r"^[A-Za-z0-9]{1,50}$")  # noqa: N815
    myNumber: Annotated[str, Field(pattern=r"^[0-9]{12}$"), AfterValidator(_check_my_number)]  # noqa: N815
    basicFiveInfo: BasicFiveInfo  # noqa: N815
    isNotDisclosed: bool  # noqa: N815
    medicalSubsidyInsurerNumber: Annotated[  # noqa: N815
        str | None, Field(pattern=r"^[0-9]{8}$"), AfterValidator(_check_payer)] = None
    certificationName: str = Field(min_length=1, max_length=100)  # noqa: N815
    medicalSubsidyRecipientNumber: str | None = Field(default=None, max_length=30)  # noqa: N815
    certificationSubKey: str | None = Field(default=None, max_length=100)  # noqa: N815
    segment: str | None = Field(default=None, max_length=50)
    incomeSegment: str | None = Field(default=None, max_length=50)  # noqa: N815
    additionalConditions: str | None = Field(default=None, max_length=500)  # noqa: N815
    designatedMedicalInstitutions: str | None = Field(default=None, max_length=1000)  # noqa: N815
    isAlwaysReimbursement: Literal["0", "1"]  # noqa: N815
    maxCopaymentAmount: dict[str, Any] | None = None  # noqa: N815
    validFrom: dt.date  # noqa: N815
    validTo: dt.date  # noqa: N815
    certificationDetail: list[dict[str, Any]]  # noqa: N815
    modificationDate: dt.date | None = None  # noqa: N815

    @model_validator(mode="after")
    def _dates(self) -> RegistrationRecord:
        if self.validFrom > self.validTo:
            raise PydanticCustomError("validity_order", "validFrom after validTo")
        if self.modificationSeg == "2" and self.modificationDate is None:
            raise PydanticCustomError("modification_date_missing", "a delete needs modificationDate")
        return self


_BATCH = TypeAdapter(list[RegistrationRecord])

# --------------------------------------------------------------------------------------------------
# Fast path: a hand-written validator that accepts only what the pydantic schema above accepts
# --------------------------------------------------------------------------------------------------
_DIGITS12 = re.compile(r"[0-9]{12}").fullmatch
_DIGITS8 = re.compile(r"[0-9]{8}").fullmatch
_ORG_ID = re.compile(r"[A-Za-z0-9]{1,50}").fullmatch
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_REQUIRED = frozenset({"modificationSeg", "municipalityIdentityKey", "orgSpecificCertificateTypeId", "myNumber",
                       "basicFiveInfo", "isNotDisclosed", "certificationName", "isAlwaysReimbursement",
                       "validFrom", "validTo", "certificationDetail"})
_ALLOWED = _REQUIRED | {"medicalSubsidyInsurerNumber", "medicalSubsidyRecipientNumber", "certificationSubKey",
                        "segment", "incomeSegment", "additionalConditions", "designatedMedicalInstitutions",
                        "maxCopaymentAmount", "modificationDate"}
_FIVE = frozenset({"name", "nameKana", "address", "dateOfBirth", "sex"})
_OPTIONAL_TEXT = (("medicalSubsidyRecipientNumber", 30), ("certificationSubKey", 100), ("segment", 50),
                  ("incomeSegment", 50), ("additionalConditions", 500), ("designatedMedicalInstitutions", 1000))
_date_cache: dict[str, bool] = {}


def _date_ok(value: object) -> bool:
    """An ISO ``YYYY-MM-DD`` calendar date (cached: a batch repeats the same few dates)."""
    ok = _date_cache.get(value) if type(value) is str else False
    if ok is None:
        try:
            ok = bool(_ISO_DATE(value)) and dt.date.fromisoformat(value).isoformat() == value
        except ValueError:
            ok = False
        if len(_date_cache) < 100_000:
            _date_cache[value] = ok
    return ok


def _text_ok(value: object, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high


def _shape_ok(keys: tuple) -> bool:
    names = set(keys)
    return len(names) == len(keys) and _REQUIRED <= names <= _ALLOWED


def _common_ok(common: tuple) -> bool:
    """The fields a program repeats in every record (checked once per distinct combination)."""
    org, name, always, valid_from, valid_to, payer, *texts = common
    return bool(
        type(org) is str and _ORG_ID(org) and _text_ok(name, 1, 100)
        and type(always) is str and always in ("0", "1")
        and _date_ok(valid_from) and _date_ok(valid_to) and valid_from <= valid_to
        and (payer is None or (type(payer) is str and _DIGITS8(payer) and modulus10_w21_ok(payer, 8)))
        and all(v is None or _text_ok(v, 0, high) for v, (_n, high) in zip(texts, _COMMON_TEXT, strict=True)))


_COMMON_TEXT = _OPTIONAL_TEXT[1:]  # every optional text except the per-person recipient number
_shapes: dict[tuple, bool] = {}
_commons: dict[tuple, bool] = {}
_SEGS = ("1", "2")  # a tuple: membership by equality, so unhashable input is simply refused


def _fast_record_ok(r: object) -> bool:
    """True only for a record that :class:`RegistrationRecord` accepts; anything doubtful is False.

    Used to skip building pydantic models per record (the simulator's main cost); a False sends the whole
    batch through pydantic, which produces the exact error list. Key sets and the program-wide fields
    (certificate type, validity, payer, …) are checked once per distinct value and remembered.
    """
    if type(r) is not dict:
        return False
    keys = tuple(r)
    ok = _shapes.get(keys)
    if ok is None:
        ok = _shape_ok(keys)
        if len(_shapes) < 10_000:
            _shapes[keys] = ok
    if not ok:
        return False
    get = r.get
    common = (r["orgSpecificCertificateTypeId"], r["certificationName"], r["isAlwaysReimbursement"],
              r["validFrom"], r["validTo"], get("medicalSubsidyInsurerNumber"), get("certificationSubKey"),
              get("segment"), get("incomeSegment"), get("additionalConditions"),
              get("designatedMedicalInstitutions"))
    try:
        ok = _commons.get(common)
    except TypeError:  # an unhashable value where text belongs
        return False
    if ok is None:
        ok = _common_ok(common)
        if len(_commons) < 10_000:
            _commons[common] = ok
    if not ok:
        return False
    key, number, five, seg = r["municipalityIdentityKey"], r["myNumber"], r["basicFiveInfo"], r["modificationSeg"]
    if not (type(key) is str and 0 < len(key) <= 100
            and type(number) is str and _DIGITS12(number) and my_number_ok(number)
            and seg in _SEGS and r["isNotDisclosed"].__class__ is bool
            and type(five) is dict and len(five) == 5 and five.keys() == _FIVE):
        return False
    name, kana, address, sex = five["name"], five["nameKana"], five["address"], five["sex"]
    if not (type(name) is str and 0 < len(name) <= 100 and type(kana) is str and 0 < len(kana) <= 100
            and type(address) is str and 0 < len(address) <= 200 and sex in _SEGS
            and _date_ok(five["dateOfBirth"])):
        return False
    recipient = get("medicalSubsidyRecipientNumber")
    if recipient is not None and not (type(recipient) is str and len(recipient) <= 30):
        return False
    detail = r["certificationDetail"]
    if type(detail) is not list or (detail and not all(type(d) is dict for d in detail)):
        return False
    copay = get("maxCopaymentAmount")
    if copay is not None and type(copay) is not dict:
        return False
    modified = get("modificationDate")
    if modified is None:
        return seg == "1"
    return _date_ok(modified)


def _fast_entries(body: bytes) -> list[tuple[str, str, str, tuple]] | None:
    """Task entries ``(key, my number digest, seg, effect)`` of a valid batch, or None (→ pydantic path)."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(raw) is not list or not all(map(_fast_record_ok, raw)):
        return None
    sha256 = hashlib.sha256
    return [(r["municipalityIdentityKey"], sha256(r["myNumber"].encode()).hexdigest(), r["modificationSeg"],
             (r["municipalityIdentityKey"], r["modificationSeg"], r["validFrom"], r["validTo"],
              str(r.get("modificationDate")), r.get("medicalSubsidyRecipientNumber") or ""))
            for r in raw]


def _model_entries(records: list[RegistrationRecord]) -> list[tuple[str, str, str, tuple]]:
    return [(r.municipalityIdentityKey, hashlib.sha256(r.myNumber.encode()).hexdigest(), r.modificationSeg,
             (r.municipalityIdentityKey, r.modificationSeg, str(r.validFrom), str(r.validTo),
              str(r.modificationDate), r.medicalSubsidyRecipientNumber or ""))
            for r in records]


# --------------------------------------------------------------------------------------------------
# Configuration and state
# --------------------------------------------------------------------------------------------------
@dataclass
class SimConfig:
    """Knobs of the simulator (all changeable at run time through ``PUT /_sim/config``)."""

    token: str = "sim-token"
    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None  # registration requests per second
    poll_rate_limit: float | None = None  # status polls per second
    burst: int | None = None  # bucket size (default: a tenth of a second of the rate, at least 1)
    retry_after_decimal: bool = False  # False: RFC integer seconds (≥ 1)
    timeout_rate: float = 0.0
    timeout_sleep_s: float = 5.0
    drop_after_commit_rate: float = 0.0
    task_delay_ms: float = 20.0
    record_error_rate: float = 0.0  # share of records the intermediary step cannot match (ERROR)
    max_records: int = 100
    seed: int = 0
    state_file: str | None = None


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Task:
    task_id: str
    ready_at: float
    records: list[tuple[str, str, str, tuple]]  # (identity key, my number digest, seg, effect)
    results: list[dict] | None = None


@dataclass
class SimState:
    """Everything the simulator remembers (in memory; optionally saved to a JSON file)."""

    tasks: dict[str, _Task] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (body digest, task)
    pmh_ids: dict[str, str] = field(default_factory=dict)  # my number digest -> PMH-ID
    subjects: dict[str, dict] = field(default_factory=dict)  # identity key -> {pmhId, status}
    effects: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def stats(self) -> dict:
        duplicates = sum(n - 1 for n in self.effects.values() if n > 1)
        done = sum(1 for t in self.tasks.values() if t.results is not None)
        return {
            **{k: int(v) for k, v in sorted(self.counters.items())},
            "tasks": len(self.tasks),
            "tasks_completed": done,
            "distinct_records": len(self.effects),
            "records_applied": int(sum(self.effects.values())),
            "duplicates": int(duplicates),
            "pmh_ids_assigned": len(self.pmh_ids),
            "subjects_registered": sum(1 for s in self.subjects.values() if s["status"] == "REGISTERED"),
            "subjects_deleted": sum(1 for s in self.subjects.values() if s["status"] == "DELETED"),
        }

    def to_json(self) -> str:
        return json.dumps({
            "tasks": {k: {"ready_at": 0, "records": [list(r[:3]) + [list(r[3])] for r in t.records],
                          "results": t.results} for k, t in self.tasks.items()},
            "idempotency": self.idempotency, "pmh_ids": self.pmh_ids, "subjects": self.subjects,
            "effects": [[list(k), v] for k, v in self.effects.items()], "counters": dict(self.counters),
        })

    @classmethod
    def from_json(cls, text: str) -> SimState:
        raw = json.loads(text)
        state = cls()
        for key, t in raw["tasks"].items():
            state.tasks[key] = _Task(key, 0.0, [(r[0], r[1], r[2], tuple(r[3])) for r in t["records"]],
                                     t["results"])
        state.idempotency = {k: tuple(v) for k, v in raw["idempotency"].items()}
        state.pmh_ids, state.subjects = raw["pmh_ids"], raw["subjects"]
        state.effects = Counter({tuple(k): v for k, v in raw["effects"]})
        state.counters = Counter(raw["counters"])
        return state


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _schema_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:100]:
        loc = list(error["loc"])
        index = loc.pop(0) if loc and isinstance(loc[0], int) else None
        errors.append({"index": index, "field": ".".join(str(p) for p in loc) or None, "code": error["type"]})
    return errors


# --------------------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------------------
class PmhSimulator:
    """The simulator's behaviour; ``app`` is the FastAPI application."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.state = SimState()
        if self.config.state_file and Path(self.config.state_file).exists():
            self.state = SimState.from_json(Path(self.config.state_file).read_text())
        self._configure()
        self.app = self._build_app()

    def _configure(self) -> None:
        c = self.config
        # one generator per knob: each knob's sequence of outcomes is reproducible whatever the interleaving
        self._rng_error = random.Random(c.seed * 3 + 1)
        self._rng_timeout = random.Random(c.seed * 3 + 2)
        self._rng_drop = random.Random(c.seed * 3 + 3)

        def bucket(rate: float | None) -> _Bucket | None:
            return _Bucket(rate, c.burst or max(1, int(rate / 10))) if rate else None

        self._register_bucket = bucket(c.rate_limit)
        self._poll_bucket = bucket(c.poll_rate_limit)

    def reconfigure(self, **changes: Any) -> None:
        """Change knobs (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(SimConfig)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown simulator settings: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self.config, key, value)
        self._configure()

    def reset(self) -> None:
        """Forget every task, subject and counter."""
        self.state = SimState()
        self._configure()

    def save(self) -> None:
        """Write the state file (if configured)."""
        if self.config.state_file:
            write_private_file(self.config.state_file, self.state.to_json())

    # -- pieces of a request ---------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {self.config.token}"

    def _throttle(self, bucket: _Bucket | None) -> Response | None:
        if bucket is None:
            return None
        wait = bucket.take()
        if wait <= 0:
            return None
        self.state.counters["responses_429"] += 1
        value = f"{wait:.3f}" if self.config.retry_after_decimal else str(max(1, math.ceil(wait)))
        return _json(429, {"code": "RATE_LIMITED"}, {"Retry-After": value})

    async def _preamble(self, request: Request, bucket: _Bucket | None, kind: str) -> Response | None:
        self.state.counters[f"requests_{kind}"] += 1
        if not self._authorised(request):
            self.state.counters["responses_401"] += 1
            return _json(401, {"code": "UNAUTHORIZED"})
        throttled = self._throttle(bucket)
        if throttled is not None:
            return throttled
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if self.config.error_rate and self._rng_error.random() < self.config.error_rate:
            self.state.counters["responses_503"] += 1
            return _json(503, {"code": "TEMPORARILY_UNAVAILABLE"})
        return None

    def _complete(self, task: _Task) -> None:
        """The simulated intermediary step: match My Numbers, number PMH-IDs, apply to subjects."""
        results = []
        rate = self.config.record_error_rate
        for index, (key, digest, seg, _effect) in enumerate(task.records):
            if rate and int(digest[:8], 16) / 0xFFFFFFFF < rate:
                results.append({"index": index, "municipalityIdentityKey": key, "result": "ERROR",
                                "errorCode": "E_INTERMEDIARY_NO_MATCH"})
                continue
            pmh_id = self.state.pmh_ids.get(digest)
            if pmh_id is None:
                pmh_id = f"{len(self.state.pmh_ids) + 1:016d}"
                self.state.pmh_ids[digest] = pmh_id
            status = "DELETED" if seg == "2" else "REGISTERED"
            self.state.subjects[key] = {"pmhId": pmh_id, "status": status}
            results.append({"index": index, "municipalityIdentityKey": key, "result": status, "pmhId": pmh_id})
        task.results = results

    # -- routes ------------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="PMH simulator (医療費助成対象者情報登録API)", docs_url=None, redoc_url=None)
        sim = self

        @app.post("/registration-tasks")
        async def post_registration_tasks(request: Request) -> Response:
            early = await sim._preamble(request, sim._register_bucket, "register")
            if early is not None:
                return early
            key = request.headers.get("idempotency-key", "")
            if not key or len(key) > 128:
                sim.state.counters["responses_400"] += 1
                return _json(400, {"code": "IDEMPOTENCY_KEY_REQUIRED", "errors": []})
            body = await request.body()
            digest = hashlib.sha256(body).hexdigest()
            seen = sim.state.idempotency.get(key)
            if seen is not None:
                if seen[0] != digest:
                    sim.state.counters["responses_422"] += 1
                    return _json(422, {"code": "IDEMPOTENCY_KEY_REUSED", "errors": []})
                sim.state.counters["replays"] += 1
                task = sim.state.tasks[seen[1]]
                return await sim._answer(request, task, replayed=True)
            entries = _fast_entries(body)
            if entries is None:  # something is off: pydantic gives the exact error list
                try:
                    entries = _model_entries(_BATCH.validate_json(body))
                except ValidationError as exc:
                    sim.state.counters["responses_400"] += 1
                    return _json(400, {"code": "SCHEMA_ERROR", "errors": _schema_errors(exc)})
            if not 1 <= len(entries) <= sim.config.max_records:
                sim.state.counters["responses_400"] += 1
                return _json(400, {"code": "BATCH_SIZE", "errors": [
                    {"index": None, "field": None, "code": f"records_1_to_{sim.config.max_records}"}]})
            task_id = f"task-{len(sim.state.tasks) + 1:08d}-{digest[:8]}"
            effects = sim.state.effects
            for entry in entries:
                effects[entry[3]] += 1
            task = _Task(task_id, time.monotonic() + sim.config.task_delay_ms / 1000, entries)
            sim.state.tasks[task_id] = task
            if len(sim.state.tasks) % 64 == 0:
                # the state only grows: keep the cyclic GC from re-scanning it (its cost grows with the state)
                gc.freeze()
            sim.state.idempotency[key] = (digest, task_id)
            sim.state.counters["records_received"] += len(entries)
            sim.save()
            return await sim._answer(request, task, replayed=False)

        @app.get("/registration-tasks/{task_id}")
        async def get_registration_task(task_id: str, request: Request) -> Response:
            early = await sim._preamble(request, sim._poll_bucket, "poll")
            if early is not None:
                return early
            task = sim.state.tasks.get(task_id)
            if task is None:
                sim.state.counters["responses_404"] += 1
                return _json(404, {"code": "TASK_NOT_FOUND", "errors": []})
            if task.results is None and time.monotonic() >= task.ready_at:
                sim._complete(task)
                sim.save()
            if task.results is None:
                return _json(200, {"taskId": task_id, "status": "PROCESSING"})
            return _json(200, {"taskId": task_id, "status": "COMPLETED", "results": task.results})

        @app.get("/_sim/stats")
        async def stats() -> Response:
            return _json(200, sim.state.stats())

        @app.get("/_sim/subjects")
        async def subjects() -> Response:
            return _json(200, sim.state.subjects)

        @app.post("/_sim/reset")
        async def reset() -> Response:
            sim.reset()
            return _json(200, {"ok": True})

        @app.put("/_sim/config")
        async def put_config(request: Request) -> Response:
            try:
                sim.reconfigure(**orjson.loads(await request.body()))
            except (TypeError, orjson.JSONDecodeError) as exc:
                return _json(400, {"code": "BAD_CONFIG", "detail": str(exc)})
            return _json(200, {k: v for k, v in asdict(sim.config).items() if k != "token"})

        return app

    async def _answer(self, request: Request, task: _Task, *, replayed: bool) -> Response:
        """Answer an accepted POST, or (fault knobs) delay it past the timeout or drop the connection."""
        body = {"taskId": task.task_id, "status": "ACCEPTED", "recordCount": len(task.records)}
        headers = {"Idempotent-Replayed": "true" if replayed else "false"}
        c = self.config
        if c.drop_after_commit_rate and self._rng_drop.random() < c.drop_after_commit_rate:
            self.state.counters["faults_dropped"] += 1
            transport = request.scope.get("extensions", {}).get("kodomo.transport")
            if transport is not None:
                transport.abort()
                return Response(status_code=204)
            raise ConnectionAbortedError("simulated drop")
        if c.timeout_rate and self._rng_timeout.random() < c.timeout_rate:
            self.state.counters["faults_timeout"] += 1
            await asyncio.sleep(c.timeout_sleep_s)
        self.state.counters["responses_202"] += 1
        return _json(202, body, headers)


# --------------------------------------------------------------------------------------------------
# Serving: uvicorn with an h11 protocol that lets the app drop a connection ("commit, then drop")
# --------------------------------------------------------------------------------------------------
def _droppable_protocol():
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DroppableH11Protocol(H11Protocol):
        """h11 protocol that exposes its transport to the app as ``scope["extensions"]["kodomo.transport"]``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner, protocol = self.app, self

            async def app(scope, receive, send):  # noqa: ANN001
                if scope["type"] == "http":
                    scope = dict(scope)
                    scope["extensions"] = {**(scope.get("extensions") or {}), "kodomo.transport": protocol.transport}
                await inner(scope, receive, send)

            self.app = app

    return DroppableH11Protocol


class SimServer:
    """Run the simulator with uvicorn in a background thread (tests, benchmark) or in the foreground."""

    def __init__(self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.sim = PmhSimulator(config)
        self._config = uvicorn.Config(
            self.sim.app, host=host, port=port, http=_droppable_protocol(), lifespan="off",
            log_level="warning", access_log=False, timeout_graceful_shutdown=1, backlog=2048,
        )
        self.server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self._config.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SimServer:
        """Start in a daemon thread and wait until it listens."""
        self._thread = threading.Thread(target=self.server.run, name="pmh-sim", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the PMH simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread; save the state file."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sim.save()

    def serve_forever(self) -> None:
        """Run in the foreground (``python -m devtools pmh-sim``) until interrupted."""
        try:
            self.server.run()
        finally:
            self.sim.save()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m devtools.pmh_simulator``: same options as ``python -m devtools pmh-sim`` (used by the benchmark)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.pmh_simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--config", default="{}", help="SimConfig fields as JSON")
    args = parser.parse_args(argv)
    SimServer(SimConfig(**json.loads(args.config)), host=args.host, port=args.port).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
