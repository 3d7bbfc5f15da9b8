"""The layout's promises, checked on the source: arrows point down, one owner opens keys.

The domain (`intake/`) never imports the task plumbing (`workers/`), so the staff app and the
command line use the domain without loading Celery tasks or the model; and no module but
`intake.sealing` (and the cipher module under it) opens a sealed key, so that which process can
decrypt what is decided in one place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from intake.config import Config
from intake.crypto import MissingSecret

ROOT = Path(__file__).resolve().parent.parent
KEY_OWNERS = {"intake/crypto.py", "intake/sealing.py"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_domain_never_imports_the_workers() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imported(ast.parse(path.read_text()))
            if name.split(".")[0] == "workers"
        )
        for path in _modules("intake")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


# Every way to use a private key: a sealed data key, a custodian's sealed box, a custodian's
# passphrase-locked key, the archive's private key itself.
OPENERS = {"open_sealed_key", "open_sealed", "unlock_with_passphrase", "archive_private_key"}


def test_only_the_key_owner_unwraps_keys() -> None:
    users = set()
    for package in ("intake", "workers"):
        for path in _modules(package):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                name = (
                    node.attr
                    if isinstance(node, ast.Attribute)
                    else getattr(node, "id", getattr(node, "name", None))
                )
                if name in OPENERS and isinstance(node, ast.Attribute | ast.Name | ast.alias):
                    users.add(str(path.relative_to(ROOT)))
    assert users <= KEY_OWNERS, users - KEY_OWNERS
    assert "intake/sealing.py" in users  # the scan sees a real use, so it can see others


def test_each_audience_loads_only_the_secrets_it_needs(migrated: Config) -> None:
    from intake import create_app

    expected = {
        "public": {"archive public key", "session key", "receipt pepper"},
        "staff": {"archive public key", "archive private key", "staff key"},
        "worker": {"archive public key", "archive private key"},
    }
    for audience, held in expected.items():
        app = create_app(migrated, audience)  # type: ignore[arg-type]
        try:
            keyring = app.extensions["testimony"].keyring
            assert keyring.holds() == held, audience
            if "receipt pepper" not in held:
                with pytest.raises(MissingSecret):
                    _ = keyring.receipt_pepper
            if "archive private key" not in held:
                with pytest.raises(MissingSecret):
                    keyring.archive_private_key(b"any")
        finally:
            app.extensions["testimony"].db.dispose()


def test_importing_the_command_loads_no_celery() -> None:
    # The worker command must set billiard's REMAP_SIGTERM before billiard is first imported
    # (a SIGTERM then stops a busy worker at once); importing the domain must not load it.
    import subprocess
    import sys

    code = "import sys, workers.cli; print('billiard' in sys.modules or 'celery' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
