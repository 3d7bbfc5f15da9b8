"""Request class that spools uploaded files into encrypted temporary files.

Werkzeug writes file parts larger than 500 KB to a plaintext temporary file; a testimony must
never touch the disk in plaintext, so each part goes to an `EncryptedTempFile` instead, in
the instance's own temporary folder, unlinked from the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from flask import Request, current_app

from intake.crypto import EncryptedTempFile


class SpoolingRequest(Request):
    """Flask request whose uploads are spooled encrypted."""

    def _get_file_stream(  # type: ignore[override]
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        folder = Path(current_app.config["TESTIMONY_TEMP"])
        return EncryptedTempFile(folder)  # type: ignore[return-value]
