"""QA attack on issue 14 §2: a swapped registry whose id climbs out of the key directory.

``KODOMO_OPERATORS_FILE=evil.yaml`` naming ``../../../../tmp/evil`` made the verifier read the public key
``/tmp/evil.pub`` the attacker wrote next to their own private key: a proof signed by nobody enrolled was
accepted, with the role the forged registry gave.
"""

import base64
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.main import main
from config.settings import get_settings
from privacy import operators
from tests.unit.test_privacy_proof import home  # noqa: F401 - the fixture


def test_a_registry_id_cannot_point_outside_the_key_directory(home, engine, monkeypatch, capsys, tmp_path_factory):  # noqa: F811
    outside = tmp_path_factory.mktemp("mallory")
    key = Ed25519PrivateKey.generate()
    (outside / "evil.key").write_text(base64.b64encode(key.private_bytes_raw()).decode())
    (outside / "evil.pub").write_text(base64.b64encode(key.public_key().public_bytes_raw()).decode())
    climbing_id = os.path.relpath(outside / "evil", operators.credentials_dir())
    (outside / "evil.yaml").write_text(f'operators:\n  - id: "{climbing_id}"\n    role: admin\n')
    monkeypatch.setenv("KODOMO_OPERATORS_FILE", str(outside / "evil.yaml"))
    monkeypatch.setenv("KODOMO_OPERATOR_KEY_FILE", str(outside / "evil.key"))
    get_settings.cache_clear()
    assert main(["operators", "list", "--operator", climbing_id]) == 1
    assert "has a malformed id" in capsys.readouterr().err
