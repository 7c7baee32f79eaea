"""Local HTTP simulator of the inquiry services (住民記録, 税務, 住基ネット, 中間サーバ) with fault knobs.

Serves the HTTP side of :mod:`connectors.inquiry` from a directory in the file defaults' layout
(``registry.csv``, ``tax.csv``, ``jukinet.csv``, ``intermediary_income.csv``; synthetic data only).
Run it standalone with ``python -m devtools inquiry-sim --port 8788 --data DIR`` or in-process with
:func:`serve_in_thread`; :func:`build_router` lets another simulator (e.g. the PMH one) host the routes.

Fault knobs (global, or per service ``registry``/``tax``/``jukinet``/``intermediary``):

* ``latency_s`` — added to every answer;
* ``error_rate`` — share answered ``503``;
* ``rate_limit_rate`` — share answered ``429`` with ``Retry-After: <retry_after_s>``;
* ``timeout_rate`` — share that hang ``hang_s`` seconds (longer than the client's read timeout);
* ``script`` — a queue of faults for the next requests (``"503"``, ``"500"``, ``"429"``, ``"timeout"``,
  ``"ok"``), consumed before the random shares: deterministic tests use this.

The request log (``GET /_admin/requests``) holds service, path, status, fault, consent id, idempotency
key and the number of subjects — never an identifier or any personal value.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from connectors import inquiry as iq

SERVICES = ("registry", "tax", "jukinet", "intermediary")


class Faults(BaseModel):
    """Fault knobs of one service (or the default of all)."""

    latency_s: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    retry_after_s: int = Field(1, ge=0)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    hang_s: float = Field(5.0, ge=0)
    script: list[str] = Field(default_factory=list)


class FaultConfig(BaseModel):
    """Knobs: ``default`` for every service, overridden per service."""

    default: Faults = Field(default_factory=Faults)
    services: dict[str, Faults] = Field(default_factory=dict)
    seed: int | None = None


@dataclasses.dataclass
class InquiryData:
    """The simulated systems' contents (str frames in the file-default layouts)."""

    registry: pd.DataFrame
    tax: pd.DataFrame
    jukinet: pd.DataFrame
    intermediary: pd.DataFrame

    @classmethod
    def empty(cls) -> InquiryData:
        return cls(iq.empty_frame(iq.REGISTRY_COLUMNS), iq.empty_frame(iq.TAX_COLUMNS),
                   iq.empty_frame(iq.JUKINET_COLUMNS), iq.empty_frame(iq.INTERMEDIARY_COLUMNS))

    @classmethod
    def from_directory(cls, directory: str | Path) -> InquiryData:
        """Read whichever of the four files exist in ``directory``."""
        from connectors.files import read_input_csv

        directory = Path(directory)
        data = cls.empty()
        layouts = {"registry": iq.REGISTRY_COLUMNS, "tax": iq.TAX_COLUMNS, "jukinet": iq.JUKINET_COLUMNS,
                   "intermediary": iq.INTERMEDIARY_COLUMNS}
        for kind, columns in layouts.items():
            path = directory / iq.FILE_NAMES[kind]
            if path.exists():
                setattr(data, kind, read_input_csv(path, columns))
        return data


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    out = frame[columns].astype(object).where(frame[columns].notna(), None)
    return out.to_dict(orient="records")


class InquirySimulator:
    """State of the simulator: data, fault knobs, request log."""

    def __init__(self, data: InquiryData | None = None, faults: FaultConfig | None = None) -> None:
        self.data = data or InquiryData.empty()
        self.faults = faults or FaultConfig()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.log: list[dict[str, Any]] = []

    # -- knobs -----------------------------------------------------------------------------------
    def set_faults(self, faults: FaultConfig) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def reset(self) -> None:
        with self._lock:
            self.faults = FaultConfig()
            self._rng = random.Random(None)
            self.log.clear()

    def requests_for(self, service: str) -> list[dict[str, Any]]:
        """The logged requests of one service."""
        with self._lock:
            return [dict(r) for r in self.log if r["service"] == service]

    def _draw_fault(self, service: str) -> str:
        with self._lock:
            knobs = self.faults.services.get(service, self.faults.default)
            if knobs.script:
                return knobs.script.pop(0)
            roll = self._rng.random()
            for name, share in (("timeout", knobs.timeout_rate), ("429", knobs.rate_limit_rate),
                                ("503", knobs.error_rate)):
                if roll < share:
                    return name
                roll -= share
            return "ok"

    def _knobs(self, service: str) -> Faults:
        with self._lock:
            return self.faults.services.get(service, self.faults.default)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = len(self.log) + 1
            self.log.append(entry)

    async def handle(self, service: str, request: Request, answer) -> JSONResponse:
        """Apply the faults, then answer with ``answer(payload)`` (a dict, or an HTTPException)."""
        payload = await request.json()
        knobs = self._knobs(service)
        fault = self._draw_fault(service)
        entry = {
            "service": service,
            "path": request.url.path,
            "fault": fault,
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "consent_id": (payload.get("consent") or {}).get("consent_id") if service == "intermediary" else None,
            "subjects": len(payload.get("person_ids") or []) or int(bool(payload.get("person_id"))),
            "status": None,
        }
        if knobs.latency_s:
            await asyncio.sleep(knobs.latency_s)
        if fault == "timeout":
            entry["status"] = 0
            self._record(entry)
            await asyncio.sleep(knobs.hang_s)
            return JSONResponse({"detail": {"code": "LATE"}}, status_code=504)
        if fault in ("500", "503"):
            entry["status"] = int(fault)
            self._record(entry)
            return JSONResponse({"detail": {"code": "UNAVAILABLE"}}, status_code=int(fault))
        if fault == "429":
            entry["status"] = 429
            self._record(entry)
            return JSONResponse({"detail": {"code": "RATE_LIMITED"}}, status_code=429,
                                headers={"Retry-After": str(knobs.retry_after_s)})
        try:
            body = answer(payload)
        except HTTPException as exc:
            entry["status"] = exc.status_code
            self._record(entry)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        entry["status"] = 200
        self._record(entry)
        return JSONResponse(body)

    # -- answers (synthetic data only) -----------------------------------------------------------
    def answer_household(self, payload: dict[str, Any]) -> dict[str, Any]:
        frame = self.data.registry
        household_id = payload.get("household_id")
        if not household_id:
            hits = frame.loc[frame["person_id"] == payload.get("person_id"), "household_id"]
            if hits.empty:
                raise HTTPException(404, {"code": "NOT_FOUND"})
            household_id = hits.iloc[0]
        members = frame[frame["household_id"] == household_id]
        if members.empty:
            raise HTTPException(404, {"code": "NOT_FOUND"})
        return {"household_id": household_id, "members": _records(members, iq.REGISTRY_COLUMNS)}

    def answer_tax(self, payload: dict[str, Any]) -> dict[str, Any]:
        frame = self.data.tax
        hits = frame[frame["person_id"].isin(payload.get("person_ids") or [])
                     & (frame["tax_year"] == str(payload.get("tax_year")))]
        return {"records": _records(hits, iq.TAX_COLUMNS)}

    def answer_jukinet(self, payload: dict[str, Any]) -> dict[str, Any]:
        frame = self.data.jukinet
        hits = frame.loc[frame["person_id"] == payload.get("person_id"), "previous_municipality_code"].dropna()
        if hits.empty:
            raise HTTPException(404, {"code": "NOT_FOUND"})
        return {"previous_municipality_code": hits.iloc[-1]}

    def answer_intermediary(self, payload: dict[str, Any]) -> dict[str, Any]:
        consent = payload.get("consent") or {}
        if not consent.get("consent_id") or "income_inquiry" not in str(consent.get("scope", "")):
            raise HTTPException(403, {"code": "CONSENT_REQUIRED"})
        frame = self.data.intermediary
        hits = frame[frame["person_id"].isin(payload.get("person_ids") or [])
                     & (frame["tax_year"] == str(payload.get("tax_year")))
                     & (frame["municipality_code"] == payload.get("municipality_code"))]
        return {"records": _records(hits, iq.TAX_COLUMNS)}


def build_router(sim: InquirySimulator) -> APIRouter:
    """The simulator's routes (service endpoints + ``/_admin``)."""
    router = APIRouter()

    @router.post("/registry/v1/household-inquiry")
    async def household(request: Request):
        return await sim.handle("registry", request, sim.answer_household)

    @router.post("/tax/v1/income-inquiry")
    async def tax(request: Request):
        return await sim.handle("tax", request, sim.answer_tax)

    @router.post("/jukinet/v1/previous-municipality")
    async def jukinet(request: Request):
        return await sim.handle("jukinet", request, sim.answer_jukinet)

    @router.post("/intermediary/v1/income-inquiry")
    async def intermediary(request: Request):
        return await sim.handle("intermediary", request, sim.answer_intermediary)

    @router.get("/_admin/requests")
    async def requests_log(service: str | None = None):
        return [dict(r) for r in list(sim.log) if service is None or r["service"] == service]

    @router.delete("/_admin/requests")
    async def clear_log():
        sim.log.clear()
        return {"cleared": True}

    @router.put("/_admin/faults")
    async def put_faults(faults: FaultConfig):
        sim.set_faults(faults)
        return faults.model_dump()

    @router.post("/_admin/load")
    async def load(body: dict[str, str]):
        sim.data = InquiryData.from_directory(body["directory"])
        return {"loaded": True}

    @router.get("/healthz")
    async def healthz():
        return {"ok": True}

    return router


def create_app(sim: InquirySimulator | None = None) -> FastAPI:
    """A FastAPI app serving the simulator (``app.state.sim`` is the state)."""
    sim = sim or InquirySimulator()
    app = FastAPI(title="kodomo inquiry simulator (synthetic data)", docs_url=None, redoc_url=None)
    app.include_router(build_router(sim))
    app.state.sim = sim
    return app


@dataclasses.dataclass
class RunningSimulator:
    """A simulator served in a background thread."""

    sim: InquirySimulator
    base_url: str
    server: Any
    thread: threading.Thread


@contextlib.contextmanager
def serve_in_thread(sim: InquirySimulator | None = None, host: str = "127.0.0.1",
                    port: int = 0) -> Iterator[RunningSimulator]:
    """Serve a simulator on ``host:port`` (0 = a free port) in a daemon thread for the block."""
    import uvicorn

    sim = sim or InquirySimulator()
    app = create_app(sim)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1, timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="inquiry-sim")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the inquiry simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(sim, f"http://{host}:{actual_port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def run(host: str = "127.0.0.1", port: int = 8788, data_dir: str | Path | None = None,
        faults: FaultConfig | None = None) -> None:
    """Serve the simulator in the foreground (``python -m devtools inquiry-sim``)."""
    import uvicorn

    data = InquiryData.from_directory(data_dir) if data_dir else InquiryData.empty()
    uvicorn.run(create_app(InquirySimulator(data, faults)), host=host, port=port, log_level="info",
                access_log=False)
