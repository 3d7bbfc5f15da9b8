"""The commands and scripts of docs/export.md, taken from the page itself, so that the suite
runs what a receiving archive reads, word for word."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"
_SNIPPET = re.compile(r"<!-- snippet: ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)\n```", re.DOTALL)


def snippets() -> dict[str, str]:
    """Every marked code block of docs/export.md, by its name."""
    return {name: body + "\n" for name, body in _SNIPPET.findall(DOCS.read_text("utf-8"))}


def snippet(name: str) -> str:
    """The code block marked `<!-- snippet: NAME -->` in docs/export.md."""
    found = snippets()
    if name not in found:
        raise KeyError(f"docs/export.md has no snippet {name!r}")
    return found[name]
