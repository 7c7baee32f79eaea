"""Shared set-up of the counter tests: a settings home, a key ring and a decided month (services only)."""

from __future__ import annotations

import pandas as pd

from config.settings import get_settings
from devtools.credentials import enrol_demo_operators
from policy import load_policy
from privacy.crypto import load_key_ring
from store.db import dispose_engines, session_scope

MONTH = "2026-10"


def counter_env(monkeypatch, tmp_path, db_url):
    """Point the settings at ``db_url`` and a temporary home; return (settings, key ring)."""
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    settings = get_settings()
    enrol_demo_operators(settings)  # the demo principals prove themselves with their key files
    return settings, load_key_ring(settings)


def decide_generated_month(engine, ring, tmp_path, *, children: int = 80, seed: int = 5) -> pd.DataFrame:
    """Generate, persist and decide ``MONTH``; return the residents file (for test look-ups)."""
    from devtools.generate import generate_dataset
    from services.eligibility.decide import decide_month
    from services.intake import ingest, persist

    inbox_dir = tmp_path / "inbox"
    generate_dataset(inbox_dir, children=children, seed=seed, as_of="2026-10-31")
    inbox = ingest.load_inbox(inbox_dir)
    with session_scope(engine) as session:
        persist.persist_inputs(session.connection(), inbox.frames, ring, "run-1")
    with session_scope(engine) as session:
        decide_month(session, month=MONTH, policy=load_policy(), run_id="run-1", operator_id="demo-operator")
    return pd.read_csv(inbox_dir / "residents.csv", dtype=str)


def reset():
    """Undo :func:`counter_env`."""
    dispose_engines()
    get_settings.cache_clear()


def pay_generated_claims(engine, ring, tmp_path, *, month: str = MONTH, seed: int = 9) -> dict:
    """Generate one service month of receipts for the inbox's children and run the benefit stage on them."""
    from devtools.generate.claims import generate_claims
    from services import benefits as stage

    inbox_dir = tmp_path / "inbox"
    generate_claims(inbox_dir, inbox_dir, seed, month="2026-09", bad_row_share=0.0, receipts_per_year=24)
    policy = load_policy()
    claims = stage.load_claim_files(inbox_dir, month)
    with session_scope(engine) as session:
        conn = session.connection()
        assessed = stage.assess_new_claims(conn, claims, policy)
        stage.store_claims(conn, assessed, claims.payees, month=month, run_id="run-benefits", policy=policy,
                           ring=ring)
        return stage.settle_claims(conn, assessed, month=month, run_id="run-benefits")
