"""A large recording sent from a real Chromium over a connection that breaks: the page's
resumable upload (tus-js-client, vendored) goes on where the server's offset says, across three
dropped connections and across a page reload, and the archive stores exactly the bytes sent.

The file is a 20 MB WAV at 8 kHz mono (about 22 minutes of noise): large enough that each cut
falls inside a request, and cheap for the audio sandbox to check on a loaded machine."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from intake import sealing
from intake.config import Config
from intake.models import AudioFile, Testimony
from tests import audio_fixtures as fx
from tests.browser.test_intake_pages import (  # noqa: F401 - fixtures
    live_server,
    playwright_browser,
)
from tests.support import worker_keyring

pytestmark = pytest.mark.browser

SIZE = 20 * 1024 * 1024


@pytest.fixture
def config(config: Config) -> Config:
    """The suite's settings with room for this recording (22 minutes, 20 MB)."""
    return dataclasses.replace(config, max_upload_bytes=64 * 1024 * 1024, max_duration_s=3600.0)


class CuttingProxy:
    """A loopback TCP proxy that drops every open connection when the bytes sent towards the
    server pass each of `cuts`; while `down`, it refuses new connections at once.

    With `rate` (bytes a second) it holds the bytes towards the server to that speed, as a slow
    line does: on loopback a 20 MB upload is otherwise over before the page has measured a
    speed, so whether it ever shows the time left would depend on how loaded the machine is."""

    def __init__(self, upstream: int, cuts: list[int], rate: float | None = None) -> None:
        self.upstream = upstream
        self.rate = rate
        self.cuts = sorted(cuts)
        self.cut = 0
        self.sent = 0
        self.down = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", self.upstream))
        with self._lock:
            self._open += [client, server]
        threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()
        self._pipe(client, server, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                if counted:
                    with self._lock:
                        self.sent += len(data)
                        due = self.cuts and self.sent >= self.cuts[0]
                        if due:
                            self.cuts.pop(0)
                            self.cut += 1
                    if due:
                        self.drop_all()
                        return
                    if self.rate:
                        time.sleep(len(data) / self.rate)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def drop_all(self) -> None:
        """Cut every connection open now, as a throttled network does."""
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open = []

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


@pytest.fixture
def big_wav(tmp_path: Path) -> Path:
    data_bytes = SIZE - 44
    header = fx.wav_header(
        channels=1, sample_rate=8000, data_bytes=data_bytes, riff_bytes=data_bytes + 36
    )
    path = tmp_path / "long-recording.wav"
    path.write_bytes(header + random.Random(7).randbytes(data_bytes))
    return path


def _stored_original(app: Flask) -> tuple[AudioFile, bytes]:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        row = s.scalars(select(AudioFile)).one()
        assert testimony.wrapped_key is not None and row.original_name is not None
        key = sealing.audio_key(worker_keyring(app), testimony.wrapped_key, row.sealed_key)
        with svc.store.open(key, testimony.storage_id, row.original_name) as reader:
            return row, bytes(reader.read())


@pytest.fixture
def proxy(live_server: str) -> Iterator[CuttingProxy]:  # noqa: F811 - the imported fixture
    port = int(live_server.rsplit(":", 1)[1])
    # 4 MiB a second: about 5 s for the whole file, so the page has measured a speed (it waits
    # 2 s) well before the end and the time left is on screen for seconds, not a moment.
    found = CuttingProxy(
        port, [4 * 1024 * 1024, 9 * 1024 * 1024, 14 * 1024 * 1024], rate=4 * 1024 * 1024
    )
    yield found
    found.close()


STATUS_OBSERVER = """
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("upload-status");
  if (!status) { return; }
  new MutationObserver(() => window.reportStatus(status.textContent)).observe(
    status, { childList: true, characterData: true, subtree: true });
});
"""


def _fill(page: object, wav: Path) -> None:
    page.set_input_files("#audio", str(wav))  # type: ignore[attr-defined]
    page.check("input[name=language][value=en]")  # type: ignore[attr-defined]
    page.check("#consent-archive")  # type: ignore[attr-defined]
    page.check("#consent-transcribe")  # type: ignore[attr-defined]


def test_a_large_upload_survives_three_dropped_connections(
    app: Flask,
    proxy: CuttingProxy,
    playwright_browser: object,  # noqa: F811 - the imported fixture
    big_wav: Path,
) -> None:
    base = f"http://127.0.0.1:{proxy.port}"
    patches: list[tuple[str, str]] = []
    inner = app.wsgi_app

    def watch(environ: dict[str, object], start_response: object) -> object:
        if environ["REQUEST_METHOD"] in {"PATCH", "HEAD", "POST"}:
            method, offset = environ["REQUEST_METHOD"], environ.get("HTTP_UPLOAD_OFFSET")
            patches.append((str(method), str(offset)))
        return inner(environ, start_response)  # type: ignore[arg-type]

    app.wsgi_app = watch  # type: ignore[method-assign,assignment]
    context = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    # Every text the page puts in its status line reaches the test, not only what a poll
    # happens to see: an observer inside the page calls back for each change.
    shown: set[str] = set()
    page.expose_function("reportStatus", lambda text: shown.add(text))
    page.add_init_script(STATUS_OBSERVER)
    page.goto(base + "/")
    _fill(page, big_wav)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.click("#send")
    page.wait_for_selector("#receipt-code", timeout=300_000)
    # Progress was shown with the time left; the breaks reached the page as resets.
    assert any(text.endswith("left)") for text in shown), shown
    assert any("ERR_CONNECTION_RESET" in line for line in console), console
    assert proxy.cut == 3
    # Each break resumed from what the server had kept, never from the start.
    resumed = {int(offset) for method, offset in patches if method == "PATCH" and offset != "0"}
    assert len(resumed) >= 3, patches
    # Resumed, not sent again from the start (which would have sent 34 MB or more).
    assert SIZE < proxy.sent < 1.5 * SIZE, patches
    assert all(url.startswith(base) for url in seen)
    assert "/static/vendor/tus.min.js" in " ".join(seen)
    row, original = _stored_original(app)
    expected = hashlib.sha256(big_wav.read_bytes()).hexdigest()
    assert row.original_sha256 == expected
    assert hashlib.sha256(original).hexdigest() == expected
    # The form is sent: nothing of it stays in the browser.
    assert page.evaluate("() => localStorage.length") == 0
    context.close()


def test_a_large_upload_resumes_after_the_page_is_reloaded(
    app: Flask,
    live_server: str,  # noqa: F811 - the imported fixture
    playwright_browser: object,  # noqa: F811 - the imported fixture
    big_wav: Path,
) -> None:
    port = int(live_server.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, [8 * 1024 * 1024])
    base = f"http://127.0.0.1:{proxy.port}"
    calls: list[tuple[str, str, str]] = []
    inner = app.wsgi_app

    def watch(environ: dict[str, object], start_response: object) -> object:
        method, offset = str(environ["REQUEST_METHOD"]), str(environ.get("HTTP_UPLOAD_OFFSET"))
        calls.append((method, str(environ["PATH_INFO"]), offset))
        return inner(environ, start_response)  # type: ignore[arg-type]

    app.wsgi_app = watch  # type: ignore[method-assign,assignment]
    try:
        context = playwright_browser.new_context(locale="en-US")  # type: ignore[attr-defined]
        page = context.new_page()
        page.goto(base + "/")
        first_token = page.get_attribute("input[name=form_token]", "value")
        _fill(page, big_wav)
        proxy.cuts = [8 * 1024 * 1024]
        page.click("#send")
        page.wait_for_function("() => localStorage.length >= 2", timeout=60_000)
        while proxy.cut == 0:
            page.wait_for_timeout(200)
        proxy.down = True  # the network is gone; the visitor closes the page
        page.wait_for_timeout(500)
        proxy.down = False
        page.reload()
        # The page goes on with the form whose upload is kept on the server.
        assert page.get_attribute("input[name=form_token]", "value") == first_token
        _fill(page, big_wav)
        page.click("#send")
        page.wait_for_selector("#receipt-code", timeout=300_000)
        # One upload, created once, resumed after the reload from what the server kept.
        assert [c for c in calls if c[:2] == ("POST", "/uploads")] == [("POST", "/uploads", "None")]
        resumed = [int(c[2]) for c in calls if c[0] == "PATCH" and c[2] != "0"]
        assert resumed and max(resumed) >= 7 * 1024 * 1024, calls
        assert proxy.sent < 1.2 * SIZE
        row, original = _stored_original(app)
        assert row.original_sha256 == hashlib.sha256(big_wav.read_bytes()).hexdigest()
        assert original == big_wav.read_bytes()
        assert page.evaluate("() => localStorage.length") == 0
        context.close()
    finally:
        proxy.close()
