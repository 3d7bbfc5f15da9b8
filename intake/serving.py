"""How `testimony serve` runs the web app: gunicorn with gevent workers.

Submitters on Tor upload at tens of kilobytes a second, and a hostile visitor can open
connections that never finish. With threads, each such upload holds a thread for its whole
duration (two workers of four threads went offline under forty stalled uploads). Here each
connection is a greenlet of a gevent worker: hundreds in flight cost a few kilobytes each, and
the CPU-heavy steps of a request (Argon2, decoding) run in gevent's thread pool
(`intake.offload`) so they do not hold the event loop.

More guarantees live in the worker class below:

* a connection that sends nothing for `upload_stall_timeout_s` is dropped (`intake.public.uploads`
  turns the socket's timeout into a dropped connection and closes the encrypted spool);
* a request whose line and headers are not all in `request_header_timeout_s` after the
  connection opened (or after the previous request on it) is closed, however its bytes
  trickle: a slowloris sending one header byte every two seconds never gets past it, so
  10,000 of them hold nothing for long (benchmarks/slow_clients.py --trickle);
* gunicorn never learns the visitor's address: the worker hands it a placeholder, so neither
  gunicorn's own log lines ("Invalid request from ip=..."), nor `REMOTE_ADDR`, nor anything
  the app might log can hold it.
"""

from __future__ import annotations

import logging
import resource
from typing import TYPE_CHECKING, Any

from intake.config import Config

if TYPE_CHECKING:
    from intake import Audience

log = logging.getLogger(__name__)

# What gunicorn and the app see instead of the visitor's address and port. It is no one's
# address, and it is not in gunicorn's forwarded_allow_ips, so forwarding headers stay
# untrusted.
ANONYMOUS_PEER = ("0.0.0.0", 0)  # noqa: S104 - a placeholder, never bound

# After SIGTERM, requests in flight get this long before the worker exits (`make run` and
# process managers expect the web app gone within 10 s).
GRACEFUL_TIMEOUT_S = 5


def worker_class(config: Config) -> type:
    """The gevent worker class for `config`: anonymous peers and a timeout for stalled reads."""
    import gevent
    from gunicorn.workers.base_async import AsyncWorker
    from gunicorn.workers.ggevent import GeventWorker

    stall_timeout_s = config.upload_stall_timeout_s
    header_timeout_s = config.request_header_timeout_s

    class AnonymousGeventWorker(GeventWorker):  # type: ignore[misc]
        """gunicorn's gevent worker, minus the visitor's address, plus a read timeout and a
        deadline for the request's headers."""

        def timeout_ctx(self) -> Any:
            # gunicorn reads each request's line and headers (`next(parser)`) inside this
            # context and closes the connection when it expires: one total deadline, which
            # gevent's worker would otherwise take from `keepalive`. The body is read later,
            # by the app, under the stall timeout.
            return gevent.Timeout(header_timeout_s, False)

        def handle(self, listener: Any, client: Any, addr: Any) -> None:
            # GeventWorker.handle would set the socket blocking (no timeout); a timeout
            # makes every read and write that waits longer raise TimeoutError instead.
            client.settimeout(stall_timeout_s)
            AsyncWorker.handle(self, listener, client, ANONYMOUS_PEER)

    return AnonymousGeventWorker


def gunicorn_options(config: Config, host: str, port: int) -> dict[str, Any]:
    """The gunicorn settings `testimony serve` uses."""
    return {
        "bind": f"{host}:{port}",
        "workers": config.web_workers,
        "worker_class": worker_class(config),
        "worker_connections": config.web_connections,
        # The heartbeat comes from the worker's own loop, which CPU work no longer blocks
        # (intake.offload); this only bounds a hung worker.
        "timeout": 120,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        # Keep-alive on: gunicorn's gevent worker reads headers under `timeout_ctx` (the
        # header deadline above) only on its keep-alive path; its other path has no deadline.
        "keepalive": 5,
        # No access log: it would record every submitter's address.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "disable_redirect_access_to_syslog": True,
        # gunicorn's control socket sits at one path per user: two instances on one machine
        # would fight over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft limit on open files to the hard limit (each connection in flight holds a
    socket, an upload an encrypted spool file too; the usual soft limit of 1024 would refuse
    the 500th); returns the limit now in force, with a warning when it is under `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files limited to %d, under the %d a web worker may need at full load: "
            "raise the hard limit (ulimit -Hn, LimitNOFILE=)",
            soft,
            wanted,
        )
    return soft


def serve(config: Config, host: str, port: int, audience: Audience = "public") -> None:
    """Run gunicorn in the foreground until it is stopped (SIGINT or SIGTERM), serving the app
    of one audience: the public intake or the staff app."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(config, host, port)
    # Each worker (a forked process, inheriting the limit) holds a socket per connection and
    # a spool file per upload in flight.
    raise_open_file_limit(2 * config.web_connections + 256)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from intake import create_app

            return create_app(config, audience)

    Server().run()
