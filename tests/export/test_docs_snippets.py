"""The scripts docs/export.md gives a receiving archive work as written (taken from the page)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from intake.crypto import ARCHIVE_CHUNK_BYTES, load_archive_public_key, seal_to_archive
from tests.export.docs_support import snippet


def test_the_documented_key_and_decryption_script_open_a_sealed_file(tmp_path: Path) -> None:
    # `python3` of the page is the one with PyNaCl, as on the archive's machine.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        ["/bin/sh", "-c", snippet("make-preservation-key")], cwd=tmp_path, check=True, env=env
    )
    public_key = load_archive_public_key(tmp_path / "preservation-public.key")
    content = bytes(range(256)) * (ARCHIVE_CHUNK_BYTES // 256 + 3)  # more than one chunk
    with (tmp_path / "original.bin.sealed").open("wb") as sink:
        seal_to_archive(public_key, io.BytesIO(content), sink)
    script = tmp_path / "open_sealed.py"
    script.write_text(snippet("open-sealed"))
    command = [sys.executable, str(script), "archive-private.key", "original.bin.sealed", "out"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, text=True)
    assert (tmp_path / "out").read_bytes() == content

    # A cut-off file is refused, not opened to a shorter original.
    sealed = (tmp_path / "original.bin.sealed").read_bytes()
    whole_first_chunk = 8 + 80 + 24 + ARCHIVE_CHUNK_BYTES + 17
    (tmp_path / "cut.sealed").write_bytes(sealed[:whole_first_chunk])
    cut = [sys.executable, str(script), "archive-private.key", "cut.sealed", "out2"]
    failed = subprocess.run(cut, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "cut off" in failed.stderr
