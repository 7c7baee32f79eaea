import pytest

from privacy.operators import (
    DEFAULT_REGISTRY,
    OperatorNotAuthorised,
    load_registry,
    parse_registry,
    require_operator,
    role_allows,
)


def test_default_registry_has_the_demo_principals():
    reg = load_registry(DEFAULT_REGISTRY)
    assert {o: reg.get(o).role for o in reg.operators} == {
        "demo-operator": "operator", "demo-admin": "admin", "demo-viewer": "viewer", "system-scheduler": "operator",
    }
    assert reg.get("system-scheduler").kind == "service"


@pytest.mark.parametrize(("operator_id", "action", "allowed"), [
    ("demo-viewer", "view", True), ("demo-viewer", "run", False), ("demo-viewer", "export", False),
    ("demo-operator", "run", True), ("demo-operator", "export", True), ("demo-operator", "admin", False),
    ("demo-admin", "admin", True), ("demo-admin", "view", True), ("system-scheduler", "run", True),
    ("system-scheduler", "admin", False),
])
def test_roles_are_nested(operator_id, action, allowed):
    reg = load_registry(DEFAULT_REGISTRY)
    if allowed:
        assert require_operator(operator_id, action, registry=reg).operator_id == operator_id
    else:
        with pytest.raises(OperatorNotAuthorised, match="does not allow"):
            require_operator(operator_id, action, registry=reg)


def test_unknown_and_disabled_operators_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "ops.yaml"
    path.write_text("operators:\n  - {id: leaver, role: admin, enabled: false}\n  - {id: clerk, role: operator}\n")
    monkeypatch.setenv("KODOMO_OPERATORS_FILE", str(path))
    from config.settings import get_settings

    get_settings.cache_clear()
    try:
        assert require_operator("clerk", "run").role == "operator"
        with pytest.raises(OperatorNotAuthorised, match="disabled"):
            require_operator("leaver", "view")
        with pytest.raises(OperatorNotAuthorised, match="unknown operator"):
            require_operator("demo-admin", "view")  # the settings file replaces the demo registry
        with pytest.raises(OperatorNotAuthorised):
            require_operator("", "view")
    finally:
        get_settings.cache_clear()


def test_malformed_registry_and_unknown_action():
    with pytest.raises(ValueError, match="unknown role"):
        parse_registry("operators:\n  - {id: x, role: root}\n")
    with pytest.raises(ValueError, match="duplicate"):
        parse_registry("operators:\n  - {id: x, role: admin}\n  - {id: x, role: viewer}\n")
    with pytest.raises(ValueError, match="unknown action"):
        role_allows("admin", "fly")
