"""Settings, read from the environment in one place.

Every setting has an embedded default so that `make run` works on a fresh machine with no
services: SQLite for the database, a SQLite-backed Celery broker, local storage under the
instance folder and the bundled Whisper base model. Production sets the `TESTIMONY_*`
variables listed in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from intake.crypto import ArchiveKeyFiles

ENV_PREFIX = "TESTIMONY_"


# Paths left unset are derived from the instance folder in __post_init__.
UNSET = Path("")


def _default_instance() -> Path:
    return Path.cwd() / "instance"


@dataclass(frozen=True)
class Config:
    """All settings of the web app, the workers and the command line.

    Built once by `Config.from_env()` and passed to `create_app(config)`; nothing reads the
    environment anywhere else.
    """

    instance_path: Path = field(default_factory=_default_instance)
    database_url: str = ""
    broker_url: str = ""
    # Secrets live in files under the instance folder (or a path given here), never in the
    # database, so that a stolen database dump alone decrypts nothing. The archive's public
    # key is all the public app needs; its private key belongs on the workers' and the staff
    # app's hosts only (docs/security.md), and the staff key only on the staff app's.
    archive_public_key_file: Path = UNSET
    archive_private_key_file: Path = UNSET
    staff_key_file: Path = UNSET
    # Keys the blind index of approved text (`intake.review.search_index`): held by the staff
    # app and the workers, never by the public app; a new one means `testimony search reindex`.
    search_key_file: Path = UNSET
    secret_key_file: Path = UNSET
    receipt_pepper_file: Path = UNSET
    storage_path: Path = UNSET

    # Intake limits. A 1 GiB upload is about 1.5 h of 48 kHz stereo WAV; the archive takes
    # recordings of several hours, so both limits are generous and meant to be tuned.
    max_upload_bytes: int = 2 * 1024**3
    max_duration_s: float = 6 * 3600.0
    max_files_per_submission: int = 10
    # Each upload is parsed in a process of its own (intake/audio_sandbox.py) with these
    # limits: CPU seconds, address space, and wall-clock seconds. A file that needs more is
    # refused as damaged. A 93-minute WAV took about 5 CPU-seconds to copy in the web
    # process (benchmarks/README.md), and the child's start-up 0.15 s: the CPU limit leaves
    # room for six hours of costlier codecs on a slow machine. Decoding streams, so the
    # address space it needs does not grow with the file.
    audio_cpu_limit_s: int = 600
    audio_memory_limit_bytes: int = 1024**3
    audio_wall_limit_s: float = 1200.0
    # Files sent with a form that had an error are kept (encrypted, readable only with the
    # form's token) this long, so the corrected form needs no second upload.
    form_keep_s: float = 6 * 3600.0
    # An unconfirmed receipt code stays showable this long (see intake/public/form_tokens.py).
    receipt_keep_s: float = 24 * 3600.0

    # Room for the store: a cap on the bytes it holds (0 = none) and free space it always
    # leaves on its disk, so that a flood of uploads fills neither the quota nor the disk
    # that the database and the workers share. Uploads beyond either are refused up front.
    store_quota_bytes: int = 0
    store_reserve_bytes: int = 512 * 1024**2

    # Receipt codes (docs/security.md). Wrong codes across all visitors per hour: past this,
    # wrong codes are answered "too many attempts"; a correct code is always accepted. Argon2
    # lookups at once across the instance, and how long a lookup waits for its turn before it
    # goes ahead anyway.
    receipt_failures_global_per_hour: int = 1000
    receipt_lookups_at_once: int = 2
    receipt_lookup_wait_s: float = 10.0

    # Jobs and workers.
    job_lease_s: float = 120.0
    job_max_attempts: int = 3
    job_retry_base_s: float = 30.0
    upkeep_interval_s: float = 15.0
    # A queued job whose message went out this long ago and was never claimed is published
    # again (a broker can lose a message; duplicates are harmless, the claim is atomic).
    job_republish_after_s: float = 3600.0
    broker_visibility_timeout_s: int = 12 * 3600
    # How often a worker writes the progress of a transcription (it also writes at once
    # when the progress moved by 5 %), so that the submitter's page never sits still long.
    progress_interval_s: float = 5.0
    # Fair transcription order (`intake.records.jobs.claim_next`, docs/operations.md): a job's turn
    # comes this many seconds after it was queued for each second of its audio, so a clip
    # goes before hours queued shortly before it, and an hour of audio waits at most an hour
    # for shorter jobs queued after it. With `transcribe_long_slots` set (run the worker with
    # a higher --concurrency), at most that many jobs of over `whisper_window_s` of audio run
    # at once, so the other slots keep taking short clips.
    transcribe_wait_per_audio_s: float = 1.0
    transcribe_long_slots: int = 0
    # Proof of work on the intake form (`intake.public.proof_of_work`, docs/security.md "Floods"):
    # the page's script finds a nonce whose SHA-256 with the form's challenge starts with this
    # many zero bits (0: off). A submission without a valid proof (no JavaScript, an expired
    # or forged challenge) is still accepted, but its transcriptions' turn comes
    # `unproven_delay_s` later. A challenge is good for `proof_of_work_ttl_s` after the page
    # was served (as long as a form keeps its files).
    proof_of_work_bits: int = 0
    proof_of_work_ttl_s: float = 6 * 3600.0
    unproven_delay_s: float = 3600.0

    # Transcription engine.
    whisper_model: str = "base"
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = 5
    # Batch 8 peaks at 1.6-1.85 GiB on a 600 s window (batch x beam dominates memory); batch 4
    # peaks near 1 GiB and runs as fast on 2 cores (benchmarks/transcribe.py). Raise on a GPU.
    whisper_batch_size: int = 4
    whisper_cpu_threads: int = 0
    whisper_window_s: float = 600.0
    # Glossary terms (prisons, places, organisations) given to Whisper as hotwords; see
    # docs/transcription.md for whether they help.
    whisper_hotwords: str = ""
    # Give the glossary's terms (in the testimony's language) to Whisper as hotwords as well.
    whisper_glossary_hotwords: bool = False
    model_cache_dir: Path = UNSET

    # Web server.
    host: str = "127.0.0.1"
    port: int = 5000
    web_workers: int = 2
    # Connections each web worker holds at once (gevent: one greenlet each, so a slow upload
    # costs little), and how long a request may send nothing before it is dropped.
    web_connections: int = 10_000
    upload_stall_timeout_s: float = 30.0
    # A request's line and headers must have arrived this long after the connection opened
    # (in total, however the bytes trickle in), or the connection is closed: a slowloris that
    # sends a header byte every few seconds never resets it.
    request_header_timeout_s: float = 10.0
    # How long publishing a job may wait to connect to the broker; the outbox keeps the job
    # when it cannot, so a submitter's reply never waits on a broker that is down.
    broker_connect_timeout_s: float = 0.5

    # The staff app: its own port, so an operator can put it behind a VPN or an onion
    # service with client authorisation; a session idle this long must sign in again.
    staff_port: int = 5001
    staff_idle_timeout_s: int = 30 * 60
    # Words the model gave a probability under this are marked for the reviewer to listen to.
    review_low_confidence: float = 0.5
    # A segment is at most about 15 s of speech; anything this long is not a correction.
    review_max_segment_chars: int = 4000
    # The cost of stretching a custodian's passphrase (Argon2id) when their key is made; the
    # cost is stored with the locked key. libsodium's "moderate": about a second, 256 MiB.
    custodian_kdf_passes: int = 3
    custodian_kdf_mib: int = 256
    # Archival export (docs/export.md). Exports started from the staff app are written under
    # `export_path`, one folder per export. Preservation bags are sealed to the receiving
    # archive's X25519 public key (PyNaCl SealedBox), a key of the preservation system, not
    # this server's archive key pair: its private half never belongs on this server. Without
    # that file no preservation bag is written, and the export says so.
    export_path: Path = UNSET
    preservation_public_key_file: Path = UNSET
    export_source_organisation: str = "Testimony archive"
    export_collection_name: str = ""
    # Where the archive publishes the BagIt profile its bags follow (a copy of
    # intake/export/schemas/bagit-profile.json); every bag names it in
    # `BagIt-Profile-Identifier`, and `Contact-Email` is required by it.
    export_bagit_profile_url: str = (
        "https://testimony-intake.example.org/bagit-profile/testimony-access-v1.json"
    )
    export_contact_email: str = "archive@example.org"
    # The checkpoint key (Ed25519) that signs the audit log's Merkle checkpoints, and the
    # append-only file of checkpoints: both on the worker host, beside the archive key, never
    # in the database (intake/custody_log.py).
    checkpoint_key_file: Path = UNSET
    checkpoint_log_file: Path = UNSET
    # Set when the app is served over HTTPS (or as an onion service behind a TLS proxy).
    secure_cookies: bool = False
    testing: bool = False

    # Redacted access copies (`intake.redaction`): seconds of audio removed on each side of a
    # marked span, silence (0) or a tone of this frequency, and the voice disguise's pitch
    # move (semitones, up) and formant ratio.
    redaction_margin_s: float = 0.15
    redaction_tone_hz: float = 0.0
    disguise_semitones: float = 4.0
    disguise_formant_ratio: float = 1.12
    # The redaction proof (`intake.review.redaction_proof`): a marked span passes when its RMS level
    # is at or below this (dBFS), and each mark is listened to again with this many seconds
    # of audio on either side. A reviewer may widen a mark by ear by up to
    # `redaction_pad_limit_s` on each side.
    redaction_proof_threshold_dbfs: float = -60.0
    redaction_proof_window_s: float = 1.5
    redaction_pad_limit_s: float = 2.0
    # Retention defaults (`intake.records.retention`), until an admin saves settings of their own:
    # days after archiving before an original is deleted where consent does not allow
    # keeping it, whether machine drafts go once a translation is approved, and days after
    # withdrawal before the tombstone is reduced to pseudonym and "withdrawn".
    retention_original_days: int = 30
    retention_drop_drafts: bool = True
    retention_tombstone_days: int = 365
    # The sweep applies the retention rules at most this often (each run writes an event).
    retention_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        inst = Path(self.instance_path)
        object.__setattr__(self, "instance_path", inst)
        defaults = {
            "database_url": f"sqlite:///{inst / 'testimony.sqlite'}",
            "broker_url": f"sqla+sqlite:///{inst / 'broker.sqlite'}",
        }
        for name, url in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, url)
        paths = {
            "archive_public_key_file": inst / "secrets" / "archive.pub",
            "archive_private_key_file": inst / "secrets" / "archive.key",
            "staff_key_file": inst / "secrets" / "staff.key",
            "search_key_file": inst / "secrets" / "search.key",
            "secret_key_file": inst / "secrets" / "session.key",
            "receipt_pepper_file": inst / "secrets" / "receipt.pepper",
            "storage_path": inst / "storage",
            "model_cache_dir": inst / "models",
            "export_path": inst / "exports",
            "preservation_public_key_file": inst / "secrets" / "preservation-public.key",
            "checkpoint_key_file": inst / "secrets" / "checkpoint.key",
            "checkpoint_log_file": inst / "checkpoints.jsonl",
        }
        for name, derived in paths.items():
            current = getattr(self, name)
            unset = current is None or Path(current) == UNSET
            object.__setattr__(self, name, derived if unset else Path(current))

    @property
    def archive_keys(self) -> ArchiveKeyFiles:
        """The files of the archive key pair and of a rotation under way."""
        return ArchiveKeyFiles(self.archive_private_key_file, self.archive_public_key_file)

    @property
    def lock_path(self) -> Path:
        """Folder for the lock files of gates shared by the instance's processes."""
        return self.instance_path / "locks"

    @property
    def temp_path(self) -> Path:
        """Folder for encrypted spool files; inside the instance so it shares its disk."""
        return self.instance_path / "tmp"

    @property
    def spool_path(self) -> Path:
        """Folder of the files kept for unfinished forms (encrypted, see intake/public/spool.py)."""
        return self.instance_path / "spool"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build the configuration from `TESTIMONY_*` variables, then apply `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.type, raw, f.name)
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with some settings changed (used by tests and the command line)."""
        return replace(self, **overrides)


def _parse(type_name: Any, raw: str, name: str) -> Any:
    text = str(type_name)
    try:
        if text.startswith("bool"):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
        if "Path" in text:
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: cannot read {raw!r} as {text}") from exc
    return raw
