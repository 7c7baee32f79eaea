"""Demo credentials: key pairs for the synthetic principals of the packaged demo registry.

``scripts/demo`` enrols them through ``kodomo operators enrol`` (the first admin by ``--first-admin``);
tests call :func:`enrol_demo_operators` from their settings fixtures. Synthetic principals only: a city
enrols its staff one by one (docs/operations-security.md).
"""

from __future__ import annotations

from pathlib import Path

DEMO_PRINCIPALS = ("demo-admin", "demo-operator", "demo-viewer", "system-scheduler")


def enrol_demo_operators(settings=None, principals: tuple[str, ...] = DEMO_PRINCIPALS) -> dict[str, Path]:
    """Enrol every demo principal that has no credential yet; returns the private key paths created."""
    from privacy.operators import enrol, public_key_path

    created: dict[str, Path] = {}
    for operator_id in principals:
        if not public_key_path(operator_id, settings).exists():
            created[operator_id] = enrol(operator_id, settings)
    return created


def proof_for(operator_id: str, settings=None, *, ttl_s: int = 120) -> str:
    """A fresh single-use proof for a demo principal (as ``kodomo login`` prints it)."""
    from privacy.operators import credentials_dir, load_registry, mint_proof, personal_key_path, registry_path

    operator = load_registry(registry_path(settings)).get(operator_id)
    key = (credentials_dir(settings) / f"{operator_id}.key" if operator is not None and operator.kind == "service"
           else personal_key_path(operator_id, settings))
    return mint_proof(key.read_text(encoding="ascii"), operator_id, ttl_s=ttl_s)
