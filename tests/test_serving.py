"""The public app under the real server `testimony serve` starts (gunicorn, gevent workers):
no visitor address reaches any log, slow and stalled uploads keep no one out, and a stalled
body is dropped with its encrypted spool. The staff app under `testimony serve --audience
staff`: a staff member's sign-in leaves their address nowhere either."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.events import Action
from intake.models import Event, Role
from tests.staff_support import code_for, ready_account

MARKED_ADDRESS = "127.0.0.73"  # any 127.x address is the loopback; this one is recognisable
MARKED_AGENT = "MarkedBrowser/7.3"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
STALL_TIMEOUT_S = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`testimony serve` as a subprocess on a free loopback port, output kept in files."""

    def __init__(
        self,
        config: Config,
        folder: Path,
        audience: str = "public",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = _free_port()
        self.out = folder / "serve.out"
        self.err = folder / "serve.err"
        exe = Path(sys.executable).with_name("testimony")
        env = {
            **os.environ,
            "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
            "TESTIMONY_DATABASE_URL": config.database_url,
            "TESTIMONY_BROKER_URL": config.broker_url,
            "TESTIMONY_MODEL_CACHE_DIR": str(config.model_cache_dir),
            "TESTIMONY_MAX_UPLOAD_BYTES": str(config.max_upload_bytes),
            # One worker: what it survives, it survives alone.
            "TESTIMONY_WEB_WORKERS": "1",
            "TESTIMONY_UPLOAD_STALL_TIMEOUT_S": str(STALL_TIMEOUT_S),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        subprocess.run([str(exe), "init"], env=env, check=True, capture_output=True)
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    str(exe),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--audience",
                    audience,
                ],
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        ready = "/staff/sign-in" if audience == "staff" else "/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.get(ready)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("testimony serve did not start: " + self.err.read_text())

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, float]:
        """GET `path` on a new connection; (status, seconds)."""
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
        return int(head.split()[1]), time.monotonic() - started

    def web_workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


@pytest.fixture
def server(migrated: Config, tmp_path: Path) -> Iterator[Server]:
    running = Server(migrated, tmp_path)
    yield running
    running.stop()


def _upload_head(port: int, length: int, source: str | None = None) -> socket.socket:
    """Open a connection and send an upload's headers and the start of its file part."""
    s = socket.socket()
    if source:
        s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(
        b"POST /submit HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
        + b'--XyZ\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\nRIFF"
    )
    return s


def test_no_visitor_address_reaches_any_log_or_file(server: Server, migrated: Config) -> None:
    requests = [
        b"GARBAGE\x01 / HTTP/1.1\r\n\r\n",  # malformed request line
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",  # malformed header
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",  # request line too long
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # 404
    ]
    for raw in requests:
        with socket.socket() as s:
            s.bind((MARKED_ADDRESS, 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", server.port))
            s.sendall(raw)
            assert s.recv(64).startswith(b"HTTP/1.1 4")
    # A stalled upload from the marked address too: dropped by the timeout, logged nowhere.
    stalled = _upload_head(server.port, 10_000_000, source=MARKED_ADDRESS)
    time.sleep(STALL_TIMEOUT_S + 1.5)
    stalled.close()
    server.stop()
    outputs = server.out.read_bytes() + server.err.read_bytes()
    assert b"Invalid request" in outputs  # the malformed requests were seen and logged...
    assert MARKED_ADDRESS.encode() not in outputs  # ...without the address
    for path in migrated.instance_path.rglob("*"):
        if path.is_file():
            assert MARKED_ADDRESS.encode() not in path.read_bytes(), path


def test_slow_and_stalled_uploads_keep_no_one_out(server: Server) -> None:
    stalled = [_upload_head(server.port, 5_000_000) for _ in range(30)]
    slow = [_upload_head(server.port, 5_000_000) for _ in range(30)]
    stop = threading.Event()

    def trickle() -> None:
        # 30 visitors at about 2 KB/s each, for as long as the test runs.
        while not stop.is_set():
            for s in slow:
                with contextlib.suppress(OSError):
                    s.sendall(b"\0" * 1000)
            stop.wait(0.5)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        time.sleep(1.0)
        timings = []
        for _ in range(8):
            status, took = server.get("/", timeout=5)
            assert status == 200
            timings.append(took)
        assert max(timings) < 2.0, timings
    finally:
        stop.set()
        sender.join(timeout=5)
        for s in stalled + slow:
            s.close()


def _spools_open(workers: list[psutil.Process], temp: Path) -> int:
    count = 0
    for worker in workers:
        for fd in Path(f"/proc/{worker.pid}/fd").iterdir():
            try:
                if os.readlink(fd).startswith(str(temp)):
                    count += 1
            except OSError:
                continue
    return count


def test_stalled_upload_is_dropped_and_its_spool_closed(
    server: Server, migrated: Config
) -> None:
    s = _upload_head(server.port, 6_000_000)
    s.sendall(b"\0" * 2_000_000)  # spooled (encrypted) while it arrives
    workers = server.web_workers()
    deadline = time.monotonic() + 10
    while _spools_open(workers, migrated.temp_path) == 0:
        assert time.monotonic() < deadline, "the upload was never spooled"
        time.sleep(0.1)
    started = time.monotonic()
    s.settimeout(STALL_TIMEOUT_S + 5)
    try:
        answer = s.recv(64)  # the server drops the connection without an answer
    except ConnectionResetError:
        answer = b""
    waited = time.monotonic() - started
    s.close()
    assert answer == b""
    assert waited < STALL_TIMEOUT_S + 2
    deadline = time.monotonic() + 5
    while _spools_open(workers, migrated.temp_path):
        assert time.monotonic() < deadline, "the stalled upload's spool is still open"
        time.sleep(0.1)
    assert list(migrated.temp_path.iterdir()) == []
    assert server.get("/")[0] == 200


class MarkedBrowser:
    """A browser of one: every request from the marked address with a marked user agent,
    its cookies kept between requests (a session, as a staff member's browser would)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(status, Location header, body) of one request on a new connection."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(MARKED_ADDRESS, 0)
        )
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "User-Agent": MARKED_AGENT,
            "Accept-Language": "en",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
            return response.status, response.getheader("Location") or "", response.read().decode()
        finally:
            conn.close()

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on `path`."""
        status, _, page = self.request("GET", path)
        match = _CSRF.search(page)
        assert status == 200 and match, (status, path)
        return match.group(1)


def test_no_staff_address_reaches_any_log_or_file(migrated: Config, tmp_path: Path) -> None:
    staff_server = Server(migrated, tmp_path, audience="staff")
    app = create_app(migrated, "staff")
    try:
        staff = ready_account(app, "served@example.org", [Role.reviewer])
        browser = MarkedBrowser(staff_server.port)
        token = browser.csrf("/staff/sign-in")
        status, location, _ = browser.request(
            "POST",
            "/staff/sign-in",
            {"csrf_token": token, "email": staff.email, "password": "not the password"},
        )
        assert status == 401
        status, location, _ = browser.request(
            "POST",
            "/staff/sign-in",
            {"csrf_token": token, "email": staff.email, "password": staff.password},
        )
        assert status == 302 and location.endswith("/staff/sign-in/code"), (status, location)
        token = browser.csrf("/staff/sign-in/code")
        status, location, _ = browser.request(
            "POST", "/staff/sign-in/code", {"csrf_token": token, "code": code_for(staff.secret)}
        )
        assert status == 302 and "/sign-in" not in location, (status, location)
        token = browser.csrf("/staff/")  # signed in: the home page opens
        status, location, _ = browser.request("POST", "/staff/sign-out", {"csrf_token": token})
        assert status == 302 and "/staff/sign-in" in location
        with app.extensions["testimony"].db.session() as s:
            actions = s.scalars(
                select(Event.action).where(Event.account_id == staff.id).order_by(Event.seq)
            ).all()
        assert actions[-3:] == [Action.sign_in_failed, Action.signed_in, Action.signed_out]
    finally:
        app.extensions["testimony"].db.dispose()
        staff_server.stop()
    outputs = staff_server.out.read_bytes() + staff_server.err.read_bytes()
    for marked in (MARKED_ADDRESS.encode(), MARKED_AGENT.encode()):
        assert marked not in outputs
        for path in migrated.instance_path.rglob("*"):
            if path.is_file():
                assert marked not in path.read_bytes(), path


def test_a_request_trickling_its_headers_is_closed_at_the_header_deadline(
    migrated: Config, tmp_path: Path
) -> None:
    """A slowloris sends a header byte every quarter second: each read is far inside the stall
    timeout, but the headers' total deadline (2 s here) closes the connection long before
    they end, while a normal request is served meanwhile."""
    running = Server(migrated, tmp_path, extra_env={"TESTIMONY_REQUEST_HEADER_TIMEOUT_S": "2"})
    trickle = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40 + b"\r\n\r\n"
    closed_at: int | None = None
    served_meanwhile = False
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as slow:
            for index in range(len(trickle)):
                try:
                    slow.send(trickle[index : index + 1])
                except OSError:
                    closed_at = index
                    break
                slow.settimeout(0.25)
                try:
                    answer = slow.recv(64)
                except TimeoutError:
                    answer = None  # still open: the next byte
                except OSError:
                    answer = b""
                if answer is not None:
                    assert answer == b"", f"the trickled request was served: {answer!r}"
                    closed_at = index
                    break
                if index == 3:
                    served_meanwhile = running.get("/")[0] == 200
    finally:
        running.stop()
    assert served_meanwhile
    # Closed well before the headers could end (at byte 8 or so, after 2 s of 15).
    assert closed_at is not None and closed_at < len(trickle) - 10, closed_at
