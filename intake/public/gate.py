"""A concurrency gate shared by every process of one instance: at most N holders at once.

Used to keep Argon2 receipt lookups (19 MiB and tens of milliseconds of CPU each) from piling
up, whatever the web server's worker class and thread count. The slots are `flock`ed files in
the instance folder, so the limit holds across processes and threads of one machine without
any service; a holder that dies releases its slot with its file descriptor.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_POLL_S = 0.005


class Gate:
    """At most `slots` holders at once; others wait their turn, for at most `wait_s`."""

    def __init__(self, folder: Path, name: str, slots: int, wait_s: float) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.folder = folder
        self.name = name
        self.slots = slots
        self.wait_s = wait_s

    def _try_slot(self, index: int) -> int | None:
        fd = os.open(self.folder / f"{self.name}-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @contextmanager
    def held(self) -> Iterator[bool]:
        """Wait for a slot and hold it for the block; yields False if none came in time.

        The wait is bounded and never turns into a refusal: after `wait_s` the caller goes
        ahead without a slot, because what waits here may be a submitter's correct code.
        """
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        deadline = time.monotonic() + self.wait_s
        order = list(range(self.slots))
        while True:
            # Spread waiters over the slots rather than all on slot 0.
            secrets.SystemRandom().shuffle(order)
            for index in order:
                fd = self._try_slot(index)
                if fd is None:
                    continue
                try:
                    yield True
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                return
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(_POLL_S * (1 + secrets.randbelow(1000) / 1000))
