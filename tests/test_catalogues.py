"""The translation catalogues read without a warning: an entry without its msgstr line makes
every compile (and so every `make run`) print two lines per entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import PoFileError, read_po

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("locale", ["en", "fa"])
def test_every_catalogue_entry_is_whole(locale: str) -> None:
    path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        try:
            catalogue = read_po(fh, abort_invalid=True)
        except PoFileError as exc:
            pytest.fail(f"{path.relative_to(ROOT)}: {exc}")
    assert len(catalogue) > 100
