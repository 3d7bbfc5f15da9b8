"""Files kept for an unfinished intake form, so that a form error never costs a second upload.

Every file that arrives with the intake form is checked and re-encoded at once, and kept here
(original, access copy and what was learnt about it) until the form goes through or the kept
time (`Config.form_keep_s`) runs out. The folder is named by the form token's digest and the
files are encrypted under a key derived from the token (`intake.public.form_tokens`), which the
server does not keep: between two rounds of a form, only the visitor's page can open them. Paths go
through `intake.storage.Store`, rooted in the instance's spool folder. The upkeep sweep removes
what has expired.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from intake import audio
from intake.config import Config
from intake.public import form_tokens
from intake.public.submissions import PreparedAudio, Upload, sha256_of
from intake.storage import COPY_BLOCK, LOCK_NAME, FileKind, Store, file_name, parse_name


def _store(config: Config) -> Store:
    return Store(config.spool_path)


class Spool:
    """The kept files of one form."""

    def __init__(self, config: Config, token: str) -> None:
        self.config = config
        self.store = _store(config)
        self.id = form_tokens.digest(token)
        self._key = form_tokens.spool_key(token)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this form's lock: two requests for one form (a double click) are handled one
        after the other, so the second sees what the first kept or created. A lock on a
        file, so it holds across the web server's processes."""
        path = self.store.path_for(self.id, LOCK_NAME)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _infos(self) -> list[tuple[int, dict[str, Any]]]:
        """Each complete entry's position and its description, in the order they were kept."""
        found = []
        for name in self.store.names(self.id):
            kind, position = parse_name(name)
            if kind == FileKind.kept_info:
                with self.store.open(self._key, self.id, name) as reader:
                    found.append((position, json.loads(reader.read())))
        return sorted(found, key=lambda entry: entry[0])

    def count(self) -> int:
        """How many files are kept for this form."""
        return len(self._infos())

    def total_duration_s(self) -> float:
        """The kept files' duration, for the submission's limit."""
        return sum(float(info["duration_s"]) for _stem, info in self._infos())

    def expired(self) -> bool:
        """True if files were kept for this form and their time ran out."""
        return bool(self._infos()) and self.store.age_s(self.id) > self.config.form_keep_s

    def fingerprint(self, upload: Upload) -> str:
        """A keyed digest of a file's bytes: the same file sent again is recognised."""
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        upload.stream.seek(0)
        while block := upload.stream.read(COPY_BLOCK):
            mac.update(block)
        upload.stream.seek(0)
        return mac.hexdigest()

    def holds(self, fingerprint: str) -> bool:
        """True if a file with this fingerprint is already kept."""
        return any(info.get("fingerprint") == fingerprint for _position, info in self._infos())

    def keep(self, item: PreparedAudio, fingerprint: str, upload_id: str | None = None) -> None:
        """Keep one checked file; its description is written last, so a half-kept entry
        (the process died) is never counted and goes with the folder. `upload_id` names the
        resumable upload it came from (`intake.public.resumable`), so the form can name it."""
        position = len(self._infos()) + 1
        item.source.seek(0)
        self.store.write(
            self._key, self.id, file_name(FileKind.kept_original, position), item.source
        )
        item.access.seek(0)
        self.store.write(self._key, self.id, file_name(FileKind.kept_access, position), item.access)
        info = {
            "fingerprint": fingerprint,
            "duration_s": item.info.duration_s,
            "source_format": item.info.source_format,
            "source_codec": item.info.source_codec,
            "sample_rate": item.info.sample_rate,
            "channels": item.info.channels,
            "sha256": item.sha256,
            "access_sha256": item.access_sha256,
        }
        if upload_id is not None:
            item.source.seek(0, 2)
            info["upload"] = upload_id
            info["size"] = item.source.tell()
        described = io.BytesIO(json.dumps(info).encode())
        self.store.write(self._key, self.id, file_name(FileKind.kept_info, position), described)

    def finished_uploads(self) -> dict[str, int]:
        """The resumable uploads whose file is kept, with their size in bytes."""
        return {
            str(info["upload"]): int(info["size"])
            for _position, info in self._infos()
            if "upload" in info
        }

    @contextmanager
    def opened(self) -> Iterator[list[PreparedAudio]]:
        """The kept files, open for reading, as `submissions.accept` takes them."""
        with ExitStack() as stack:
            items = []
            for position, info in self._infos():
                original_name = file_name(FileKind.kept_original, position)
                access_name = file_name(FileKind.kept_access, position)
                source = stack.enter_context(self.store.open(self._key, self.id, original_name))
                access = stack.enter_context(self.store.open(self._key, self.id, access_name))
                described = audio.AccessCopyInfo(
                    duration_s=float(info["duration_s"]),
                    source_format=str(info["source_format"]),
                    source_codec=str(info["source_codec"]),
                    sample_rate=int(info["sample_rate"]),
                    channels=int(info["channels"]),
                )
                # Files kept before the hashes were recorded are hashed as they are now.
                sent = info.get("sha256") or sha256_of(source)
                made = info.get("access_sha256") or sha256_of(access)
                items.append(
                    PreparedAudio(access, source, described, sent, made)  # type: ignore[arg-type]
                )
            yield items

    def discard(self) -> None:
        """Remove every kept file of this form."""
        self.store.delete_testimony(self.id)


def remove_expired(config: Config) -> int:
    """Remove the kept files of every form whose time ran out; returns how many forms."""
    store = _store(config)
    removed = 0
    for folder in store.storage_ids():
        if store.age_s(folder) > config.form_keep_s:
            store.delete_testimony(folder)
            removed += 1
    return removed
