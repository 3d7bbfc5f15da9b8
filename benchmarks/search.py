"""Search over the blind index at archive scale, on PostgreSQL.

Creates a throwaway PostgreSQL database (dropped at the end unless --keep), migrates it, and
loads --testimonies approved records (10,000) of --segments segments each (450, about an
hour of speech) of generated Persian-like text: each segment sealed with its record's own key
as the worker seals it (so the decrypt-and-check step of a search is real), and its search
entry keyed with the search key as `search_index.tokens_of` keys it. The segments and entries
go in with COPY; the token index (GIN) and the other indexes are built after loading. Then it
prints:

- the time of a one-word search and of a partial-word search (a 4-letter piece of a word) for
  the first page of 20 results, as an indexer, through `search_index.search`: median and p95
  over --queries queries each, words drawn from the mid-frequency vocabulary;
- the time to index one approved hour (`search_index.index_testimony` on a loaded record of
  --segments segments: open each, key its tokens, replace its entries), median of 5;
- the index's size per hour of speech (pg_total_relation_size of search_entry / testimonies);
- the load time (generation, COPY, index builds).

    .venv/bin/python benchmarks/search.py [--testimonies 10000] [--segments 450]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--queries 36]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from intake import schema, sealing
from intake.config import Config
from intake.crypto import Keyring
from intake.db import Database
from intake.models import Role, Testimony
from intake.review import search_index

# Syllables of the generated words: Persian letters that `normalise` leaves as they are.
SYLLABLES = [
    "با", "کو", "دا", "می", "نو", "سر", "تا", "گل", "رو", "شی", "زه", "په", "لا", "فر", "مه",
    "چو", "خا", "بی", "دو", "ژا", "قو", "ده", "سا", "جا", "پو", "هی", "غا", "وی", "نی", "طو",
]  # fmt: skip
VOCABULARY = 40_000
WORDS_PER_SEGMENT = (10, 22)
INDEXER = frozenset({Role.indexer})
# A search entry as COPY takes it: id, testimony, segment, language, tokens.
Entry = tuple[int, int, int, str, list[int]]


def vocabulary(rng: random.Random) -> list[str]:
    """VOCABULARY distinct words of 2 to 4 syllables, in the order of their (Zipf) rank."""
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))] = None
    return list(words)


def zipf_weights(n: int) -> list[float]:
    """Cumulative weights of a Zipf distribution (s = 1) over n ranks."""
    total, cumulative = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return cumulative


@contextmanager
def throwaway_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A new database next to `admin_url`'s; dropped afterwards unless `keep`."""
    url = make_url(admin_url)
    name = f"bench_search_{os.getpid()}"
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def instance_folder(keep: bool) -> Iterator[str]:
    """A folder for the keys; kept with the database under --keep, to search it again."""
    if keep:
        yield tempfile.mkdtemp(prefix="bench-search-")
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield tmp


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Loader:
    """Writes the records straight into the database: small tables with executemany, the
    segments and their entries with COPY."""

    def __init__(self, args: argparse.Namespace, keyring: Keyring, url: str) -> None:
        self.args = args
        self.keyring = keyring
        self.url = url
        self.rng = random.Random(args.seed)
        self.words = vocabulary(self.rng)
        self.weights = zipf_weights(len(self.words))
        started = time.perf_counter()
        # Each word's keyed tokens (the word and its pieces), computed once: a segment's
        # entry is the union over its words, exactly `tokens_of` of its text (checked below).
        self.tokens = {w: search_index.tokens_of(keyring.search_key, w) for w in self.words}
        self.token_s = time.perf_counter() - started

    def segment_text(self) -> str:
        count = self.rng.randint(*WORDS_PER_SEGMENT)
        return " ".join(self.rng.choices(self.words, cum_weights=self.weights, k=count))

    def entry_tokens(self, text: str) -> list[int]:
        found: set[int] = set()
        for word in text.split():
            found.update(self.tokens[word])
        return sorted(found)

    def load(self) -> dict[str, float]:
        """Load every record; returns the seconds of each step."""
        n = self.args.testimonies
        now = datetime.now(UTC)
        times: dict[str, float] = {}
        started = time.perf_counter()
        with psycopg.connect(_psycopg_url(self.url)) as conn:
            keys = self._records(conn, n, now)
            times["records"] = time.perf_counter() - started
            started = time.perf_counter()
            chunk = 200
            for first in range(1, n + 1, chunk):
                last = min(n, first + chunk - 1)
                # The chunk's segments, then their entries (which refer to them).
                entries = self._copy_segments(conn, keys, range(first, last + 1), now)
                self._copy_entries(conn, entries)
                conn.commit()
                if last % 1000 == 0 or last == n:
                    print(f"  loaded {last} of {n} records", flush=True)
            times["segments and entries (COPY)"] = time.perf_counter() - started
            started = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("CREATE INDEX ix_search_entry_tokens ON search_entry USING gin (tokens)")
            conn.execute("CREATE INDEX ix_search_entry_testimony_id ON search_entry (testimony_id)")
            conn.execute("CREATE INDEX ix_segment_transcript_id ON segment (transcript_id)")
            for table in ("testimony", "consent", "audio_file", "transcript", "segment",
                          "search_entry"):  # fmt: skip
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"  # a name of our own, not input
                )
            conn.commit()
            times["index builds"] = time.perf_counter() - started
            started = time.perf_counter()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            times["vacuum analyze"] = time.perf_counter() - started
        return times

    def _copy_segments(
        self, conn: psycopg.Connection, keys: dict[int, bytes], ids: range, now: datetime
    ) -> list[Entry]:
        """COPY the segments of records `ids`, each sealed with its record's key; return
        their search entries."""
        per = self.args.segments
        entries: list[Entry] = []
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY segment (id, transcript_id, position, start_s, end_s, sealed, "
                "avg_logprob, no_speech_prob, review_state, version, approved_by, "
                "updated_at) FROM STDIN"
            ) as segments,
        ):
            for t in ids:
                for pos in range(per):
                    seg_id = (t - 1) * per + pos + 1
                    text = self.segment_text()
                    if seg_id == 1:
                        expected = search_index.tokens_of(self.keyring.search_key, text)
                        assert self.entry_tokens(text) == expected
                    payload = {"text": text, "words": []}
                    sealed = sealing.seal_segment(keys[t], t, pos, payload)
                    start = pos * 8.0
                    segments.write_row(
                        (seg_id, t, pos, start, start + 7.5, sealed, -0.3, 0.01,
                         "approved", 1, "account:1", now)
                    )  # fmt: skip
                    entries.append((seg_id, t, seg_id, "fa", self.entry_tokens(text)))
        return entries

    @staticmethod
    def _copy_entries(conn: psycopg.Connection, rows: list[Entry]) -> None:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY search_entry (id, testimony_id, segment_id, language, tokens) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _records(self, conn: psycopg.Connection, n: int, now: datetime) -> dict[int, bytes]:
        """Testimonies (approved), their consent, one audio file and one transcript each;
        returns each record's data key."""
        keys: dict[int, bytes] = {}
        rows = []
        for t in range(1, n + 1):
            key, wrapped = sealing.new_testimony_key(self.keyring)
            keys[t] = key
            rows.append((t, f"B-{t:06d}", f"s{t:030d}", "approved", "fa", os.urandom(32),
                         wrapped, False, now, now))  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO testimony (id, pseudonym, storage_id, state, language, "
                "receipt_digest, wrapped_key, disguise_voice, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            cur.executemany(
                "INSERT INTO consent (id, testimony_id, wording_version, wording_locale, "
                "wording_sha256, archive, transcribe, translate, publish_anonymised, "
                "publish_named, publish_anonymised_audio, given_at, version) VALUES "
                "(%s, %s, 'v1', 'fa', %s, true, true, false, false, false, false, %s, 1)",
                [(t, t, "0" * 64, now) for t in range(1, n + 1)],
            )
            cur.executemany(
                "INSERT INTO audio_file (id, testimony_id, position, access_name, duration_s, "
                "source_format, source_codec, sample_rate, channels, size_bytes, created_at) "
                "VALUES (%s, %s, 1, %s, %s, 'wav', 'pcm_s16le', 16000, 1, 0, %s)",
                [(t, t, f"a{t}.flac", self.args.segments * 8.0, now) for t in range(1, n + 1)],
            )
            cur.executemany(
                "INSERT INTO transcript (id, testimony_id, audio_file_id, language, "
                "duration_s, model_name, created_at) VALUES (%s, %s, %s, 'fa', %s, 'bench', %s)",
                [(t, t, t, self.args.segments * 8.0, now) for t in range(1, n + 1)],
            )
        conn.commit()
        return keys


def drop_bulk_indexes(url: str) -> None:
    """The indexes that are cheaper to build once after loading than to keep during it."""
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        for name in ("ix_search_entry_tokens", "ix_search_entry_testimony_id",
                     "ix_segment_transcript_id"):  # fmt: skip
            conn.execute(f"DROP INDEX IF EXISTS {name}")


def time_queries(
    db: Database, keyring: Keyring, queries: list[search_index.Query]
) -> dict[str, float]:
    """Median and p95 milliseconds of the first page of each query, and the mean hits."""
    times, hits = [], []
    for query in queries:
        with db.sessions() as session:
            started = time.perf_counter()
            page = search_index.search(session, keyring, INDEXER, query)
            times.append((time.perf_counter() - started) * 1000)
            hits.append(len(page.hits))
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(times[-1], 1),
        "mean_hits": round(statistics.mean(hits), 1),
    }


def time_indexing(db: Database, keyring: Keyring, n: int, rounds: int = 5) -> float:
    """Median seconds to index one loaded record again (open, key, replace its entries)."""
    times = []
    for testimony_id in random.Random(7).sample(range(1, n + 1), min(rounds, n)):
        with db.sessions() as session:
            testimony = session.get(Testimony, testimony_id)
            assert testimony is not None
            started = time.perf_counter()
            written = search_index.index_testimony(session, keyring, testimony)
            session.commit()
            times.append(time.perf_counter() - started)
            assert written > 0
    return statistics.median(times)


def sizes(url: str, n: int) -> dict[str, float]:
    """The index's size on disk, in all and per record (an hour of speech)."""
    with psycopg.connect(_psycopg_url(url)) as conn:
        total, table, gin, rows = conn.execute(
            "SELECT pg_total_relation_size('search_entry'), pg_relation_size('search_entry'), "
            "pg_relation_size('ix_search_entry_tokens'), (SELECT count(*) FROM search_entry)"
        ).fetchone()  # type: ignore[misc]
    mib = 1024 * 1024
    return {
        "entries": rows,
        "search_entry_total_MiB": round(total / mib, 1),
        "table_MiB": round(table / mib, 1),
        "gin_index_MiB": round(gin / mib, 1),
        "per_hour_KiB": round(total / n / 1024, 1),
    }


def queries(
    loader: Loader, count: int
) -> tuple[list[search_index.Query], list[search_index.Query]]:
    """One-word queries among the mid-frequency words (ranks 100 to 5,000), and 4-letter
    parts of words of ranks 50 to 2,000 (partial-word queries)."""
    rng = random.Random(11)
    whole = [search_index.parse(w) for w in rng.sample(loader.words[100:5000], count)]
    parts = []
    for word in rng.sample(loader.words[50:2000], count * 3):
        if len(word) >= 5 and len(parts) < count:
            at = rng.randrange(0, len(word) - 3)
            parts.append(search_index.parse(word[at : at + 4], partial=True))
    return whole, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testimonies", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=450)
    parser.add_argument("--queries", type=int, default=36)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument(
        "--reuse",
        metavar="DATABASE:FOLDER",
        help="Search again a database and key folder kept by --keep (same --seed), no loading.",
    )
    args = parser.parse_args()
    if args.reuse:
        name, folder = args.reuse.split(":", 1)
        url = make_url(args.database_url).set(database=name).render_as_string(False)
        reused: dict[str, object] = {"testimonies": args.testimonies, "reused": name}
        measure(args, Config(instance_path=Path(folder), database_url=url), reused)
        return
    report: dict[str, object] = {"testimonies": args.testimonies, "segments": args.segments}
    with (
        instance_folder(args.keep) as tmp,
        throwaway_database(args.database_url, args.keep) as url,
    ):
        if args.keep:
            print(f"kept: database {make_url(url).database}, instance {tmp}", flush=True)
        config = Config(instance_path=Path(tmp), database_url=url)
        keyring = Keyring.load(
            archive=config.archive_keys,
            private=True,
            search=config.search_key_file,
            create=True,
        )
        started = time.perf_counter()
        schema.upgrade(url)
        drop_bulk_indexes(url)
        loader = Loader(args, keyring, url)
        print(f"vocabulary keyed in {loader.token_s:.1f} s; loading", flush=True)
        steps = loader.load()
        steps["total"] = time.perf_counter() - started
        report["load_s"] = {k: round(v, 1) for k, v in steps.items()}
        measure(args, config, report, loader)


def measure(
    args: argparse.Namespace,
    config: Config,
    report: dict[str, object],
    loader: Loader | None = None,
) -> None:
    """Time the searches and the indexing of an hour, measure the index; print the report."""
    keyring = Keyring.load(
        archive=config.archive_keys, private=True, search=config.search_key_file, create=False
    )
    loader = loader or Loader(args, keyring, config.database_url)
    db = Database(config.database_url)
    try:
        whole, parts = queries(loader, args.queries)
        time_queries(db, keyring, whole[:3])  # warm the connection pool and the caches
        report["one_word_first_page"] = time_queries(db, keyring, whole)
        report["partial_word_first_page"] = time_queries(db, keyring, parts)
        report["index_one_hour_s"] = round(time_indexing(db, keyring, args.testimonies), 3)
        report["size"] = sizes(config.database_url, args.testimonies)
    finally:
        db.dispose()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
