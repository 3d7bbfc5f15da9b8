"""Run CPU-heavy calls off the web server's event loop.

`testimony serve` runs gunicorn's gevent workers so that hundreds of slow uploads cost one
greenlet each. A greenlet that spends seconds in C code (Argon2, FFmpeg decoding and FLAC
encoding) holds the whole event loop meanwhile, and every other visitor of that worker waits.
`blocking` hands such a call to gevent's pool of real threads and lets the loop go on; outside
gevent (the worker, the command line, the tests' Werkzeug server) it simply calls the function.

Only pure computations on memory and regular files go through here: the calls must not touch
the database session or the request's socket from the other thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def _under_gevent() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)`, in gevent's thread pool when the server runs under gevent."""
    if not _under_gevent():
        return fn(*args, **kwargs)
    import gevent

    pool = gevent.get_hub().threadpool
    return pool.apply(fn, args, kwargs)  # type: ignore[no-any-return]
