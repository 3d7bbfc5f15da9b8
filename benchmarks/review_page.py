"""Server time of the segment editor for a 2-hour transcript (1,500 segments).

Builds a throwaway instance (SQLite unless --database-url is given), stores a transcript of
1,500 sealed segments of about 15 words each for a submitted recording, signs a reviewer in
through the real forms (TOTP included), then requests the editor page 20 times through the
staff app's WSGI interface (the first page and the last, 100 segments each) and prints the
median and the worst time. Target: under 100 ms.

    .venv/bin/python benchmarks/review_page.py [--segments 1500] [--requests 20]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from sqlalchemy import select

from intake import create_app, schema
from intake.config import Config
from intake.events import Actor
from intake.models import Role, Testimony, TestimonyState
from intake.records import accounts, lifecycle
from intake.review import transcripts

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
WORDS = [
    "در",
    "آن",
    "سال\u200cها",
    "ما",
    "را",
    "به",
    "زندان",
    "بردند",
    "و",
    "هیچ",
    "خبری",
    "از",
    "خانواده",
    "نداشتیم",
]


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass
class Seg:
    start: float
    end: float
    text: str
    words: list[Word]
    avg_logprob: float = -0.4
    no_speech_prob: float = 0.02


@dataclass
class Result:
    segments: list[Seg] = field(default_factory=list)
    language: str = "fa"
    language_probability: float | None = 0.97
    duration_s: float = 7200.0


def _wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    frames = int(seconds * rate)
    data = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(frames))
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def _result(count: int) -> Result:
    step = 7200.0 / count
    segments = []
    for i in range(count):
        words = [
            Word(
                i * step + j * 0.3,
                i * step + j * 0.3 + 0.25,
                " " + WORDS[(i + j) % len(WORDS)],
                0.3 if (i + j) % 11 == 0 else 0.93,
            )
            for j in range(15)
        ]
        segments.append(Seg(i * step, (i + 1) * step, "".join(w.word for w in words), words))
    return Result(segments=segments)


def _token(client: object, path: str) -> str:
    html = client.get(path).get_data(as_text=True)  # type: ignore[attr-defined]
    match = _TOKEN.search(html)
    assert match, path
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1500)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        config = Config(instance_path=instance, database_url=args.database_url, testing=True)
        schema.upgrade(config.database_url)
        public = create_app(config)
        staff = create_app(config, "staff")
        client = public.test_client()
        home = client.get("/").get_data(as_text=True)
        token = _TOKEN.search(home).group(1)  # type: ignore[union-attr]
        data = {
            "csrf_token": token,
            "form_token": _FORM_TOKEN.search(home).group(1),  # type: ignore[union-attr]
            "language": "fa",
            "archive": "y",
            "transcribe": "y",
            "audio": (io.BytesIO(_wav()), "a.wav"),
        }
        assert client.post("/submit", data=data).status_code in (200, 303)
        svc = staff.extensions["testimony"]
        with svc.db.session() as s:
            testimony = s.scalars(select(Testimony)).one()
            lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
            transcripts.add_transcript(
                s,
                svc.keyring,
                testimony,
                testimony.audio_files[0].id,
                None,
                _result(args.segments),
                "bench",
                Actor.worker,
            )
            transcripts.finish_if_complete(s, testimony, Actor.worker)
            pseudonym = testimony.pseudonym
            account, once = accounts.create(s, "bench@example.org", [Role.reviewer])
            accounts.change_password(account, once, "a long benchmark password")
            secret = accounts.totp_secret(svc.keyring, account)
            account.totp_confirmed = True
        reviewer = staff.test_client()
        t = _token(reviewer, "/staff/sign-in")
        reviewer.post(
            "/staff/sign-in",
            data={
                "csrf_token": t,
                "email": "bench@example.org",
                "password": "a long benchmark password",
            },
        )
        t = _token(reviewer, "/staff/sign-in/code")
        reviewer.post(
            "/staff/sign-in/code", data={"csrf_token": t, "code": pyotp.TOTP(secret).now()}
        )
        report: dict[str, object] = {"segments": args.segments, "requests": args.requests}
        last = -(-args.segments // 100)
        for label, path in (
            ("first_page", f"/staff/review/{pseudonym}"),
            ("last_page", f"/staff/review/{pseudonym}?page={last}"),
        ):
            first = reviewer.get(path)
            assert first.status_code == 200, first.status_code
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                response = reviewer.get(path)
                response.get_data()
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
            report[label] = {
                "page_bytes": len(first.get_data()),
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
        report["database"] = config.database_url.split(":")[0]
        print(json.dumps(report))
        public.extensions["testimony"].db.dispose()
        svc.db.dispose()


if __name__ == "__main__":
    main()
