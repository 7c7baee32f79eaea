"""The uke-claims deployment of prefect.yaml: the flow it names, schema enforced, no personal defaults."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_uke_claims_deployment_names_the_flow_and_enforces_its_parameter_schema():
    deployments = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    deployment = deployments["uke-claims"]
    module, _, name = deployment["entrypoint"].partition(":")
    flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
    assert flow.name == "uke-claims" and flow.flow_run_name == "uke-claims {month}"
    assert deployment["enforce_parameter_schema"] is True and deployment["concurrency_limit"] == 1
    assert not deployment.get("parameters")  # every run is started by a person, with their proof
    assert not deployment.get("schedules")
