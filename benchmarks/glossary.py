"""Server time of the translation page of an 18-segment transcript with a 10,000-term glossary.

Builds a throwaway instance (SQLite unless --database-url is given), submits a recording,
stores and approves a Persian transcript of 18 segments that name a few glossary terms, imports
a glossary of --terms terms (10,000) through the CSV import, signs a translator in through the
real forms (TOTP included), then requests the translation page --requests times through the
staff app's WSGI interface and prints the median and the worst time (the first request, which
builds the glossary's automaton, is reported on its own). Target: under 100 ms.

With --compare it also times the old way, each term checked on its own with
`normalise.contains`, over the same 18 segments (about 20 s with 10,000 terms).

    .venv/bin/python benchmarks/glossary.py [--terms 10000] [--requests 20] [--compare]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyotp
from review_page import _FORM_TOKEN, _TOKEN, Result, Seg, Word, _token, _wav
from sqlalchemy import select

from intake import create_app, schema
from intake.config import Config
from intake.events import Action, Actor
from intake.models import ReviewState, Role, Segment, Testimony, TestimonyState
from intake.records import accounts, lifecycle
from intake.review import glossary, transcripts, translation
from intake.review.normalise import contains

SYLLABLES = ["با", "کو", "دا", "می", "نو", "سر", "تا", "گل", "رو", "شی", "زه", "په", "لا", "فر"]
SEGMENTS = [
    "در سال ۱۳۶۷ ما را به زندان اوین بردند و هیچ خبری از خانواده نداشتیم",
    "بعد از چند ماه به گوهردشت منتقل شدیم و آنجا کمیته مشترک بازجویی کرد",
    "برادرم در زندان‌های اوین و قزل‌حصار بود و در تابستان اعدام شد",
]


def _terms(count: int) -> str:
    """A glossary CSV of `count` distinct made-up terms, plus a few that the segments name."""
    rows = [
        "term_fa,term_en,category,note",
        "زندان اوین,Evin Prison,prison,",
        "گوهردشت,Gohardasht Prison,prison,",
        "قزل‌حصار,Ghezel Hesar Prison,prison,",
        "کمیته مشترک,Joint Committee,organisation,",
        "۱۳۶۷,1988,date,",
    ]
    categories = ["prison", "place", "organisation", "date"]
    n = len(SYLLABLES)
    for i in range(count - (len(rows) - 1)):
        word = "".join(SYLLABLES[(i // n**k) % n] for k in range(4))
        rows.append(f"{word} {SYLLABLES[i % 7]},Made-up term {i},{categories[i % 4]},")
    return "\n".join(rows) + "\n"


def _result(count: int) -> Result:
    segments = []
    for i in range(count):
        text = SEGMENTS[i % len(SEGMENTS)]
        words = [
            Word(i * 5 + j * 0.3, i * 5 + j * 0.3 + 0.25, " " + w, 0.9)
            for j, w in enumerate(text.split())
        ]
        segments.append(Seg(i * 5.0, i * 5.0 + 4.5, text, words))
    return Result(segments=segments, duration_s=count * 5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=18)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--compare", action="store_true")
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
        data = {
            "csrf_token": _TOKEN.search(home).group(1),  # type: ignore[union-attr]
            "form_token": _FORM_TOKEN.search(home).group(1),  # type: ignore[union-attr]
            "language": "fa",
            "archive": "y",
            "transcribe": "y",
            "translate": "y",
            "audio": (io.BytesIO(_wav()), "a.wav"),
        }
        assert client.post("/submit", data=data).status_code in (200, 303)
        svc = staff.extensions["testimony"]
        with svc.db.session() as s:
            testimony = s.scalars(select(Testimony)).one()
            lifecycle.transition(s, testimony, TestimonyState.transcribing, Actor.worker)
            stored = transcripts.add_transcript(
                s,
                svc.keyring,
                testimony,
                testimony.audio_files[0].id,
                None,
                _result(args.segments),
                "bench",
                Actor.worker,
            )
            assert stored is not None
            transcripts.finish_if_complete(s, testimony, Actor.worker)
            lifecycle.transition(s, testimony, TestimonyState.in_review, "account:9999")
            for seg in s.scalars(select(Segment).where(Segment.transcript_id == stored.id)):
                seg.review_state = ReviewState.approved
                seg.approved_by = "account:9999"
            lifecycle.transition(
                s,
                testimony,
                TestimonyState.transcript_approved,
                "account:9999",
                Action.transcript_approved,
            )
            pseudonym = testimony.pseudonym
            imported = glossary.import_csv(s, _terms(args.terms).encode(), "account:1")
            account, once = accounts.create(s, "bench@example.org", [Role.translator])
            accounts.change_password(account, once, "a long benchmark password")
            secret = accounts.totp_secret(svc.keyring, account)
            account.totp_confirmed = True
        translator = staff.test_client()
        t = _token(translator, "/staff/sign-in")
        translator.post(
            "/staff/sign-in",
            data={
                "csrf_token": t,
                "email": "bench@example.org",
                "password": "a long benchmark password",
            },
        )
        t = _token(translator, "/staff/sign-in/code")
        translator.post(
            "/staff/sign-in/code", data={"csrf_token": t, "code": pyotp.TOTP(secret).now()}
        )
        path = f"/staff/translate/{pseudonym}"
        start = time.perf_counter()
        first = translator.get(path)
        first.get_data()
        first_ms = (time.perf_counter() - start) * 1000
        assert first.status_code == 200, first.status_code
        assert "Evin Prison" in first.get_data(as_text=True)
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = translator.get(path)
            response.get_data()
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        report: dict[str, object] = {
            "terms": imported.added,
            "segments": args.segments,
            "requests": args.requests,
            "first_request_ms (builds the automaton)": round(first_ms, 1),
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "database": config.database_url.split(":")[0],
        }
        with svc.db.session() as s:
            entries = glossary.entries(s)
            bench = translation.workbench(s, svc.keyring, s.scalars(select(Testimony)).one())
        sources = [row.source for f in bench.files for row in f.rows]
        # The glossary's own share of a page: the stamp query and the 18 segments matched.
        matching = []
        for _ in range(args.requests):
            with svc.db.session() as s:
                start = time.perf_counter()
                matcher = glossary.matcher(s)
                for source in sources:
                    matcher.found_in(source, "fa")
                matching.append((time.perf_counter() - start) * 1000)
        report["glossary_share_median_ms"] = round(statistics.median(matching), 2)
        if args.compare:
            start = time.perf_counter()
            for source in sources:
                [e for e in entries if contains(source, e.fa)]
            report["term_by_term_ms"] = round((time.perf_counter() - start) * 1000, 1)
        print(json.dumps(report, ensure_ascii=False))
        public.extensions["testimony"].db.dispose()
        svc.db.dispose()


if __name__ == "__main__":
    main()
