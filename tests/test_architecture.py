"""The layout's promises, checked on the source: arrows point down, one owner opens keys, and
the folders keep the sides apart (public, records, review; see docs/architecture.md).

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
        "staff": {"archive public key", "archive private key", "staff key", "search key"},
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
            if "search key" not in held:
                with pytest.raises(MissingSecret):
                    _ = keyring.search_key
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


# The folders are the architecture (docs/architecture.md): the public side, the records every
# side shares, the staff side's review work, above the owners at the top of `intake/`.
SIDES = ("public", "records", "review")
# What each group may never import. The factory level (`__init__`, `services`, `cli`, `access`,
# `security`, `serving`, `i18n`), the views and the export reach down into every group.
NEVER = {
    "public": {"review", "export", "views"},
    "review": {"public", "views"},
    "records": {"public", "review", "export", "views"},
    "owner": {"public", "records", "review", "export", "views"},
}
OWNERS = {
    "audio", "audio_sandbox", "config", "crypto", "db", "events", "models",
    "offload", "redaction", "schema", "sealing", "storage",
}


def _group(path: Path, root: Path) -> str | None:
    parts = path.relative_to(root / "intake").parts
    if len(parts) > 1 and parts[0] in SIDES:
        return parts[0]
    if len(parts) == 1 and path.stem in OWNERS:
        return "owner"
    return None


def _intake_targets(tree: ast.AST) -> set[str]:
    """The `intake` subpackages a module imports, `from intake import x` counted as `intake.x`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "intake" and len(parts) > 1:
                found.add(parts[1])
    return found


def group_offences(root: Path) -> dict[str, list[str]]:
    """Each module that imports a group its own group may never reach, with what it imports."""
    offences: dict[str, list[str]] = {}
    for path in sorted((root / "intake").rglob("*.py")):
        group = _group(path, root)
        if group is None:
            continue
        bad = sorted(_intake_targets(ast.parse(path.read_text())) & NEVER[group])
        if bad:
            offences[str(path.relative_to(root))] = bad
    return offences


def test_the_folders_keep_the_sides_apart() -> None:
    assert group_offences(ROOT) == {}
    # Every group exists as a folder, and the owners named above are where the rule says.
    for side in SIDES:
        assert (ROOT / "intake" / side / "__init__.py").is_file(), side
    assert all((ROOT / "intake" / f"{name}.py").is_file() for name in OWNERS)


def test_the_group_rule_sees_an_arrow_it_forbids(tmp_path: Path) -> None:
    # A public-side module that imports the staff side is caught: the scan can fail.
    (tmp_path / "intake" / "public").mkdir(parents=True)
    (tmp_path / "intake" / "public" / "leak.py").write_text("from intake.review import review\n")
    (tmp_path / "intake" / "crypto.py").write_text("from intake.records import audit\n")
    assert group_offences(tmp_path) == {
        "intake/crypto.py": ["records"],
        "intake/public/leak.py": ["review"],
    }


def test_the_engine_imports_no_domain() -> None:
    engine = ROOT / "workers" / "engine.py"
    assert not {n for n in _imported(ast.parse(engine.read_text())) if n.split(".")[0] == "intake"}
