"""The `testimony` command: init on a fresh instance, status, and transcribe on a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from intake import crypto
from intake.cli import main
from intake.config import Config
from tests.conftest import espeak_wav


def _env(config: Config) -> dict[str, str]:
    return {
        "TESTIMONY_INSTANCE_PATH": str(config.instance_path),
        "TESTIMONY_DATABASE_URL": config.database_url,
        "TESTIMONY_BROKER_URL": config.broker_url,
        "TESTIMONY_MODEL_CACHE_DIR": str(config.model_cache_dir),
    }


def test_init_creates_schema_and_private_secrets(config: Config) -> None:
    result = CliRunner().invoke(main, ["init"], env=_env(config))
    assert result.exit_code == 0, result.output
    engine = create_engine(config.database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"testimony", "consent", "identity", "audio_file", "job", "event"} <= tables
    private = (
        config.archive_private_key_file,
        config.secret_key_file,
        config.receipt_pepper_file,
        config.staff_key_file,
        config.search_key_file,
    )
    for path in private:
        assert path.stat().st_mode & 0o077 == 0
    key = config.archive_private_key_file.read_bytes()
    assert config.archive_public_key_file.read_bytes() == crypto.public_key_of(key)
    again = CliRunner().invoke(main, ["init"], env=_env(config))
    assert again.exit_code == 0
    assert config.archive_private_key_file.read_bytes() == key


def test_status_reports_states_outbox_and_attention(config: Config) -> None:
    CliRunner().invoke(main, ["init"], env=_env(config))
    result = CliRunner().invoke(main, ["status", "--json"], env=_env(config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["testimonies"]["received"] == 0
    assert report["outbox_unpublished"] == 0
    assert set(report["broker_queues"]) >= {"transcribe", "default"}
    assert report["needs_attention"] == []


@pytest.mark.model
def test_transcribe_command_on_a_file(config: Config, tmp_path: Path) -> None:
    wav = espeak_wav(
        tmp_path / "speech.wav", "Good morning. Today I will speak about my father and the prison."
    )
    exe = Path(sys.executable).with_name("testimony")
    result = subprocess.run(
        [str(exe), "transcribe", str(wav), "--language", "auto", "--json"],
        env={**os.environ, **_env(config)},
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    assert data["language"] == "en"
    import wave

    with wave.open(str(wav)) as w:
        assert data["duration"] == pytest.approx(w.getnframes() / w.getframerate(), abs=0.05)
    text = " ".join(seg["text"] for seg in data["segments"]).lower()
    assert "morning" in text and "father" in text and "prison" in text
    for seg in data["segments"]:
        assert {"start", "end", "text", "avg_logprob", "no_speech_prob"} <= set(seg)


def test_init_for_a_public_host_creates_only_what_it_needs(config: Config, tmp_path: Path) -> None:
    # Without the archive's public key (made on the staff host) a public host cannot seal.
    refused = CliRunner().invoke(main, ["init", "--audience", "public"], env=_env(config))
    assert refused.exit_code != 0 and "copy it from the staff host" in refused.output
    staff_host = tmp_path / "staff-host"
    staff_env = {**_env(config), "TESTIMONY_INSTANCE_PATH": str(staff_host)}
    made = CliRunner().invoke(main, ["init", "--audience", "staff"], env=staff_env)
    assert made.exit_code == 0, made.output
    staff_config = Config.from_env({**os.environ, **staff_env})
    assert staff_config.staff_key_file.exists() and staff_config.archive_private_key_file.exists()
    assert staff_config.search_key_file.exists()
    assert not staff_config.secret_key_file.exists()
    assert not staff_config.receipt_pepper_file.exists()
    config.archive_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.archive_public_key_file.write_bytes(staff_config.archive_public_key_file.read_bytes())
    result = CliRunner().invoke(main, ["init", "--audience", "public"], env=_env(config))
    assert result.exit_code == 0, result.output
    assert config.secret_key_file.exists() and config.receipt_pepper_file.exists()
    assert not config.staff_key_file.exists()
    assert not config.search_key_file.exists()
    assert not config.archive_private_key_file.exists()


def test_a_database_that_cannot_be_opened_is_one_sentence(tmp_path: Path) -> None:
    # As when the command is run from another folder: ./instance does not exist there.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIMONY_")}
    env["TESTIMONY_INSTANCE_PATH"] = str(tmp_path / "elsewhere" / "instance")
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "status"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "cannot open the database" in lines[0] and "testimony init" in lines[0]
    assert "Traceback" not in done.stderr
