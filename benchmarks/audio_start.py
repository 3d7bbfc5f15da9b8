"""How fast a 3-hour recording starts playing in the segment editor, on loopback.

Starts `testimony serve --audience staff` (gunicorn, gevent) on a free loopback port with a
fresh instance in a temporary folder, submits a short recording through the intake and puts a
3-hour FLAC access copy (16 kHz mono, pink noise, made with sox) in its place in the
encrypted store, signs a reviewer in through the real forms (TOTP computed with pyotp), then
asks for the audio as the player does: `Range: bytes=0-` when the page loads, and
`Range: bytes=N-` when the reviewer jumps to a segment far into the recording. Each request is
a fresh connection; it prints the median and the worst time to the response headers and to
the first 64 KiB (about 4 s of FLAC at 16 kHz, what a browser buffers before it starts).
Target: the first bytes in under a second.

    .venv/bin/python benchmarks/audio_start.py [--hours 3] [--requests 20]
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import io
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyotp
from sqlalchemy import select

from intake import create_app
from intake.config import Config
from intake.models import Role, Testimony
from intake.records import accounts
from intake.review import transcripts

FIRST_BYTES = 64 * 1024
PASSWORD = "a long benchmark password"  # noqa: S105 - a throwaway instance
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tone_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    import struct

    frames = int(seconds * rate)
    data = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(frames))
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def prepare(config: Config, flac: Path, hours: float) -> tuple[str, str]:
    """Submit a short recording, swap in the long access copy, make a reviewer; returns the
    pseudonym and the reviewer's TOTP secret."""
    public = create_app(config)
    client = public.test_client()
    html = client.get("/").get_data(as_text=True)
    token = _TOKEN.search(html).group(1)  # type: ignore[union-attr]
    form_token = re.search(r'name="form_token" value="([^"]+)"', html)
    data = {
        "csrf_token": token,
        "language": "fa",
        "archive": "y",
        "transcribe": "y",
        "audio": (io.BytesIO(tone_wav()), "a.wav"),
    }
    if form_token:
        data["form_token"] = form_token.group(1)
    response = client.post("/submit", data=data)
    assert response.status_code in (200, 302, 303), response.status_code
    svc = public.extensions["testimony"]
    with svc.db.session() as s:
        testimony = s.scalars(select(Testimony)).one()
        key = transcripts.testimony_key(svc.keyring, testimony)
        row = testimony.audio_files[0]
        with flac.open("rb") as source:
            row.size_bytes = svc.store.write(key, testimony.storage_id, row.access_name, source)
        row.duration_s = hours * 3600
        pseudonym = testimony.pseudonym
        account, once = accounts.create(s, "bench@example.org", [Role.reviewer])
        accounts.change_password(account, once, PASSWORD)
        secret = accounts.totp_secret(svc.keyring, account)
        account.totp_confirmed = True
    svc.db.dispose()
    return pseudonym, secret


def sign_in(base: str, secret: str) -> str:
    """Sign in through the forms; returns the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path: str, fields: dict[str, str]) -> None:
        page = opener.open(base + path).read().decode()
        fields["csrf_token"] = _TOKEN.search(page).group(1)  # type: ignore[union-attr]
        opener.open(base + path, urllib.parse.urlencode(fields).encode()).read()

    post("/staff/sign-in", {"email": "bench@example.org", "password": PASSWORD})
    post("/staff/sign-in/code", {"code": pyotp.TOTP(secret).now()})
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def fetch(port: int, path: str, cookie: str, offset: int) -> tuple[float, float, int]:
    """One ranged GET on a new connection: seconds to the headers, to the first 64 KiB, and
    the status."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie, "Range": f"bytes={offset}-"})
    response = conn.getresponse()
    headers_at = time.perf_counter() - started
    got = 0
    while got < FIRST_BYTES:
        block = response.read1(FIRST_BYTES - got) if hasattr(response, "read1") else b""
        if not block:
            break
        got += len(block)
    first_at = time.perf_counter() - started
    conn.close()
    return headers_at, first_at, response.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("testimony")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TESTIMONY_INSTANCE_PATH": folder, "PYTHONUNBUFFERED": "1"}
        subprocess.run([str(exe), "init"], env=env, check=True, capture_output=True)
        flac = Path(folder) / "long.flac"
        made = time.perf_counter()
        subprocess.run(
            [
                "sox",
                "-n",
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                str(flac),
                "synth",
                str(int(args.hours * 3600)),
                "pinknoise",
                "vol",
                "0.05",
            ],
            check=True,
        )
        print(
            f"made {flac.stat().st_size / 2**20:.0f} MiB of FLAC in "
            f"{time.perf_counter() - made:.0f} s",
            file=sys.stderr,
        )
        config = Config.from_env(env)
        pseudonym, secret = prepare(config, flac, args.hours)
        size = flac.stat().st_size
        flac.unlink()
        server = subprocess.Popen(
            [str(exe), "serve", "--audience", "staff", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/staff/sign-in").read()  # noqa: S310
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            cookie = sign_in(base, secret)
            path = f"/staff/review/{pseudonym}/audio/1"
            assert fetch(port, path, cookie, 0)[2] == 206, "not signed in"
            rng = random.Random(8)
            report: dict[str, object] = {"hours": args.hours, "flac_mib": round(size / 2**20)}
            for label, offsets in (
                ("start", [0] * args.requests),
                (
                    "seek",
                    [rng.randrange(size // 2, size - FIRST_BYTES) for _ in range(args.requests)],
                ),
            ):
                runs = [fetch(port, path, cookie, offset) for offset in offsets]
                assert all(status == 206 for _h, _f, status in runs)
                heads = [h * 1000 for h, _f, _s in runs]
                firsts = [f * 1000 for _h, f, _s in runs]
                report[label] = {
                    "headers_median_ms": round(statistics.median(heads), 1),
                    "first_64k_median_ms": round(statistics.median(firsts), 1),
                    "first_64k_max_ms": round(max(firsts), 1),
                }
            print(json.dumps(report))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
