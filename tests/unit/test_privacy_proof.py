"""Issue 14 §2 and §7: an operator is a *proven* identity, never a claimed string; refusals are recorded.

Each test attacks the control: a forged, a tampered, a replayed, an expired, an over-long and a borrowed
proof; a registry swapped through the environment; a deployment run started by hand without a proof.
"""

import base64
import json
import time
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from cli.main import main
from config.settings import get_settings
from devtools.credentials import enrol_demo_operators, proof_for
from privacy import operators
from privacy.operators import OperatorNotAuthorised, mint_proof, verify_proof
from store.db import session_scope
from store.privacy_models import AccessRecord


@pytest.fixture
def home(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KODOMO_HOME", str(tmp_path))
    monkeypatch.setenv("KODOMO_DATABASE_URL", db_url)
    for name in ("KODOMO_OPERATORS_FILE", "KODOMO_OPERATOR_KEY_FILE", "KODOMO_OPERATOR_PROOF_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    enrol_demo_operators()
    operators._PROVEN_IN_PROCESS.clear()
    yield tmp_path
    operators._PROVEN_IN_PROCESS.clear()
    get_settings.cache_clear()


def _refusals(engine) -> list[tuple[str, str]]:
    with session_scope(engine) as s:
        rows = s.execute(select(AccessRecord).where(AccessRecord.outcome == "refused")
                         .order_by(AccessRecord.seq)).scalars().all()
        return [(r.actor_id, r.purpose) for r in rows]


def _mallory_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def _refused(proof, operator_id="demo-operator", action="run"):
    with pytest.raises(OperatorNotAuthorised) as info:
        verify_proof(proof, operator_id, action)
    return info.value.reason


def test_a_genuine_proof_is_accepted_once(home):
    proof = proof_for("demo-operator")
    assert verify_proof(proof, "demo-operator", "run").operator_id == "demo-operator"
    assert _refused(proof) == "replayed proof"


def test_forged_and_tampered_proofs_are_refused(home, engine):
    assert _refused(mint_proof(_mallory_key(), "demo-operator")) == "bad proof signature"
    prefix, body, signature = proof_for("demo-viewer").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "demo-admin"  # promote the viewer's proof to the admin
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _refused(f"{prefix}.{forged_body}.{signature}", "demo-admin", "admin") == "bad proof signature"
    # a genuine proof of one operator does not prove another
    assert _refused(proof_for("demo-viewer"), "demo-admin", "admin") == "bad proof signature"
    assert _refused("kp1.not-a-proof") == "malformed proof"


def test_expired_and_overlong_proofs_are_refused(home):
    key = (home / "credentials" / "demo-operator.key").read_text()
    assert _refused(mint_proof(key, "demo-operator", now=time.time() - 1000)) == "expired proof"
    assert _refused(mint_proof(key, "demo-operator", ttl_s=24 * 3600)) == "proof lifetime not allowed"
    assert _refused(mint_proof(key, "demo-operator", now=time.time() + 3600)) == "proof lifetime not allowed"


def test_a_registry_swapped_through_the_environment_proves_nothing(home, engine, monkeypatch, capsys):
    """Issue 14 §2: ``KODOMO_OPERATORS_FILE=evil.yaml kodomo notice-lists --operator mallory --with-names``."""
    evil = home / "evil.yaml"
    evil.write_text("operators:\n  - id: mallory\n    role: admin\n")
    mallory_key = home / "mallory.key"
    mallory_key.write_text(_mallory_key())
    monkeypatch.setenv("KODOMO_OPERATORS_FILE", str(evil))
    monkeypatch.setenv("KODOMO_OPERATOR_KEY_FILE", str(mallory_key))
    get_settings.cache_clear()
    assert main(["notice-lists", "--month", "2026-10", "--operator", "mallory", "--with-names"]) == 1
    assert "no credential enrolled" in capsys.readouterr().err
    assert not (home / "outbox").exists()
    # copying a public key into place needs write access to the key directory, i.e. to the data keys
    assert ("mallory", "cli:notice-lists:no credential enrolled") in _refusals(engine)
    with session_scope(engine) as session:  # the forged registry's "admin" is not what gets recorded
        roles = set(session.scalars(select(AccessRecord.actor_role).where(AccessRecord.actor_id == "mallory")))
    assert roles == {"unproven"}


def test_each_kind_of_refusal_is_an_access_record(home, engine, capsys):
    assert main(["keys", "rotate", "--operator", "nobody"]) == 1  # unknown operator
    assert main(["keys", "rotate", "--operator", "demo-viewer"]) == 1  # wrong role
    assert main(["keys", "status", "--operator", "demo-admin", "--proof", mint_proof(_mallory_key(), "demo-admin")]) == 1
    assert main(["keys", "status", "--operator", "123456789018"]) == 1  # a My Number typed as the id
    purposes = _refusals(engine)
    assert ("nobody", "cli:keys rotate:unknown operator") in purposes
    assert ("demo-viewer", "cli:keys rotate:role 'viewer' does not allow it") in purposes
    assert ("demo-admin", "cli:keys status:bad proof signature") in purposes
    assert ("<malformed-id>", "cli:keys status:unknown operator") in purposes
    assert "123456789018" not in capsys.readouterr().err


def test_a_person_proves_non_interactively_with_a_proof_file(home, engine, monkeypatch, capsys):
    token = home / "proof.txt"
    assert main(["login", "--operator", "demo-viewer", "--token-file", str(token)]) == 0
    assert token.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("KODOMO_OPERATOR_PROOF_FILE", str(token))
    get_settings.cache_clear()
    assert main(["operators", "list", "--operator", "demo-viewer"]) == 0
    assert main(["operators", "list", "--operator", "demo-viewer"]) == 1  # the same file again: a replay
    assert "replayed proof" in capsys.readouterr().err


def _as_run(monkeypatch, **flow_run):
    run = SimpleNamespace(**{"deployment_id": None, "auto_scheduled": False, "parent_task_run_id": None, **flow_run})
    monkeypatch.setattr("tasks.common.FlowRunContext.get", classmethod(lambda cls: SimpleNamespace(flow_run=run)))


def test_flow_runs_need_a_proof_unless_scheduled_for_the_service_principal(home, engine, monkeypatch):
    from tasks.common import authorise_operator

    authorise = authorise_operator.fn
    _as_run(monkeypatch, deployment_id="d-1")  # a deployment run started by hand / through the API
    with pytest.raises(OperatorNotAuthorised, match="no proof of identity"):
        authorise("demo-operator", "run")
    with pytest.raises(OperatorNotAuthorised, match="no proof of identity"):
        authorise("system-scheduler", "run")  # not scheduled: the service key is not used
    assert authorise("demo-operator", "run", proof_for("demo-operator")) == "demo-operator"
    _as_run(monkeypatch, deployment_id="d-1", auto_scheduled=True)
    assert authorise("system-scheduler", "run") == "system-scheduler"
    with pytest.raises(OperatorNotAuthorised):
        authorise("demo-operator", "run")  # the scheduler never signs for a person
    operators._PROVEN_IN_PROCESS.clear()
    _as_run(monkeypatch, deployment_id="d-1", parent_task_run_id="t-1")  # a subflow ...
    with pytest.raises(OperatorNotAuthorised):
        authorise("demo-admin", "run")  # ... of a parent that proved nothing in this process
    assert [p for _, p in _refusals(engine)].count("flow:run:no proof of identity") == 4


def test_a_local_run_signs_with_the_callers_key_file(home, monkeypatch):
    from tasks.common import authorise_operator

    _as_run(monkeypatch)  # no deployment: the CLI or a script runs the flow in its own process
    assert authorise_operator.fn("demo-operator", "run") == "demo-operator"
    (home / "credentials" / "demo-viewer.key").unlink()
    with pytest.raises(OperatorNotAuthorised, match="no proof"):
        authorise_operator.fn("demo-viewer", "view")
