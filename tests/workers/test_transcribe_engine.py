"""The transcription engine with the real bundled Whisper base model (no mocks).

Speech comes from espeak-ng, generated per session; nothing here reads the shared recordings.
The model is assembled and loaded once per session. The model-assembly failure cases use small
fake parts through `locate_model_parts`, the one seam the engine offers for where the parts live.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from workers import engine as engine_mod
from workers import model_bundle
from workers.engine import (
    Engine,
    EngineSettings,
    Segment,
    TranscriptResult,
    Word,
    split_segment,
)
from workers.model_bundle import DEFAULT_MODEL_SHA256, ModelError, ensure_default_model

SR = 16000
SENTENCE_1 = "The purple elephant visited London on a rainy Tuesday morning."
SENTENCE_2 = "Seven yellow bicycles crossed the narrow bridge at midnight."
MINUTE_OF_SPEECH = (
    f"{SENTENCE_1} {SENTENCE_2} My grandmother kept a small garden behind the old library. "
    "Every autumn the farmers brought apples, walnuts and honey to the market square. "
    "The train to the mountains left at six, and nobody wanted to miss it. "
    "A doctor from the village wrote long letters to her brother in the capital. "
    "We waited three days for the storm to pass before the boats could sail again. "
    "The teacher asked the children to draw a map of the river and its bridges. "
    "On the first day of spring the whole street smelled of fresh bread. "
    "Two old friends played chess every evening under the plane trees. "
    "The radio announced that the road through the valley was closed for repairs. "
    "Later that winter the lake froze so hard that people walked across it to the island."
)


# --------------------------------------------------------------------------------------------
# Fixtures


def _espeak(text: str, out: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: sudo apt-get install espeak-ng (.ci/run does)")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(out), text], check=True)
    return out


def _decode16k(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(str(path), sampling_rate=SR), dtype=np.float32)


def _flac_bytes(audio: np.ndarray) -> bytes:
    """16 kHz mono FLAC in memory, the format the intake stores."""
    buf = io.BytesIO()
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with av.open(buf, mode="w", format="flac") as out:
        stream = out.add_stream("flac", rate=SR, layout="mono")
        for start in range(0, pcm.shape[0], 4096):
            chunk = pcm[start : start + 4096]
            frame = av.AudioFrame(format="s16", layout="mono", samples=chunk.shape[0])
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate = SR
            frame.time_base = Fraction(1, SR)
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    ensure_default_model(cache)
    return cache


@pytest.fixture(scope="session")
def engine(model_cache: Path) -> Engine:
    eng = Engine(EngineSettings(cache_dir=model_cache, batch_size=8, window_s=600.0))
    eng.model  # noqa: B018 - load once for the session
    return eng


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    _espeak(SENTENCE_1, folder / "one.wav")
    _espeak(SENTENCE_2, folder / "two.wav")
    return folder


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _check_segments(result: TranscriptResult) -> None:
    assert result.segments
    previous_end = 0.0
    for seg in result.segments:
        assert 0.0 <= seg.start < seg.end <= result.duration_s + 0.5
        assert seg.start >= previous_end - 1e-6, "segments overlap or are out of order"
        previous_end = seg.end
        assert seg.avg_logprob <= 0.0
        assert 0.0 <= seg.no_speech_prob <= 1.0
        assert seg.words
        assert seg.text == "".join(w.word for w in seg.words).strip()
        for word in seg.words:
            assert seg.start - 1e-6 <= word.start <= word.end <= seg.end + 1e-6
            assert 0.0 <= word.probability <= 1.0


# --------------------------------------------------------------------------------------------
# Model assembly


def test_default_model_is_assembled_with_the_published_hash(model_cache: Path) -> None:
    target = model_cache / "whisper-base"
    digest = hashlib.sha256()
    with open(target / "model.bin", "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == DEFAULT_MODEL_SHA256
    part1, _ = model_bundle.locate_model_parts()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (target / name).read_bytes() == (part1 / name).read_bytes()
    # A second start trusts the stamp instead of hashing again, and changes nothing.
    before = (target / "model.bin").stat().st_mtime_ns
    assert ensure_default_model(model_cache) == target
    assert (target / "model.bin").stat().st_mtime_ns == before
    assert not [p for p in model_cache.iterdir() if p.name.startswith(".")]


def _fake_parts(root: Path, second: bytes = b"second half") -> tuple[Path, Path]:
    one, two = root / "part1" / "data", root / "part2" / "data"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (one / "model.bin.part1").write_bytes(b"first half, ")
    (two / "model.bin.part2").write_bytes(second)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (one / name).write_text(f"fake {name}")
    return one, two


def test_corrupt_part_raises_model_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _fake_parts(tmp_path / "pkg")
    monkeypatch.setattr(model_bundle, "locate_model_parts", lambda: parts)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="corrupt"):
        ensure_default_model(cache)
    assert list(cache.iterdir()) == []


def test_assembly_is_idempotent_repairs_damage_and_survives_a_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _fake_parts(tmp_path / "pkg")
    whole = b"first half, second half"
    monkeypatch.setattr(model_bundle, "locate_model_parts", lambda: parts)
    monkeypatch.setattr(model_bundle, "DEFAULT_MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    cache = tmp_path / "cache"

    results: list[Path] = []
    errors: list[BaseException] = []

    def start_worker() -> None:
        try:
            results.append(ensure_default_model(cache))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    target = cache / "whisper-base"
    assert results == [target] * 4
    assert (target / "model.bin").read_bytes() == whole
    assert (target / "config.json").read_text() == "fake config.json"
    assert sorted(p.name for p in cache.iterdir()) == ["whisper-base"]

    # Damage of the same size is not noticed (by design: no re-hash per start); damage that
    # changes the size, or a lost stamp, is, and the folder is rebuilt.
    (target / "model.bin").write_bytes(b"truncated")
    assert ensure_default_model(cache) == target
    assert (target / "model.bin").read_bytes() == whole
    (target / "model.bin.sha256").unlink()
    ensure_default_model(cache)
    assert (target / "model.bin.sha256").read_text().split()[0] == hashlib.sha256(whole).hexdigest()
    assert sorted(p.name for p in cache.iterdir()) == ["whisper-base"]


# --------------------------------------------------------------------------------------------
# Pure parts


def _seg(words: list[Word]) -> Segment:
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text="".join(w.word for w in words).strip(),
        avg_logprob=-0.3,
        no_speech_prob=0.05,
        words=words,
    )


def _even_words(start: float, end: float, step: float = 0.5, prefix: str = "w") -> list[Word]:
    out = []
    t = start
    i = 0
    while t + step <= end + 1e-9:
        out.append(Word(start=t, end=t + step, word=f" {prefix}{i}", probability=0.9))
        t += step
        i += 1
    return out


def test_short_segment_is_left_alone() -> None:
    seg = _seg(_even_words(0.0, 10.0))
    assert split_segment(seg) == [seg]


def test_long_segment_is_split_at_the_largest_pause_near_the_middle() -> None:
    # 0-12 s of words, a 0.8 s pause, 12.8-26 s of words; and an even larger pause at 1 s that
    # is too far from the middle to be chosen.
    words = _even_words(0.0, 1.0, prefix="a")
    words += _even_words(2.5, 12.0, prefix="b")
    words += _even_words(12.8, 26.0, prefix="c")
    parts = split_segment(_seg(words))
    assert len(parts) == 2
    assert parts[0].end == pytest.approx(12.0)
    assert parts[1].start == pytest.approx(12.8)
    assert parts[0].words + parts[1].words == words
    for part in parts:
        assert part.end - part.start <= 15.0
        assert part.text == "".join(w.word for w in part.words).strip()
        assert (part.avg_logprob, part.no_speech_prob) == (-0.3, 0.05)


def test_splitting_recurses_and_prefers_sentence_ends_without_pauses() -> None:
    words = _even_words(0.0, 30.0)  # no gaps at all, like DTW timings of fast speech
    words[27] = Word(words[27].start, words[27].end, " end.", 0.9)  # ends at 14.0 s
    parts = split_segment(_seg(words), max_s=10.0)
    # First cut after "end." at 14 s (a sentence end beats the exact middle, 15 s), then each
    # half at its middle: 0-7, 7-14, 14-22, 22-30.
    assert [p.end for p in parts] == pytest.approx([7.0, 14.0, 22.0, 30.0])
    assert parts[1].words[-1].word == " end."
    assert all(p.end - p.start <= 10.0 for p in parts)
    assert [w for p in parts for w in p.words] == words
    assert all(a.end <= b.start for a, b in zip(parts, parts[1:], strict=False))


def test_quiet_cut_lands_in_the_pause() -> None:
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.3, 40 * SR).astype(np.float32)
    audio[int(31.0 * SR) : int(31.6 * SR)] = 0.0
    cut = engine_mod._quiet_cut(audio, 36 * SR)
    assert 31.0 * SR < cut < 31.6 * SR


def test_settings_from_config(tmp_path: Path) -> None:
    from intake.config import Config

    config = Config(instance_path=tmp_path, whisper_batch_size=4, whisper_window_s=300.0)
    settings = EngineSettings.from_config(config)
    assert settings.batch_size == 4
    assert settings.window_s == 300.0
    assert settings.cache_dir == tmp_path / "models"
    assert (settings.model, settings.device, settings.compute_type) == ("base", "cpu", "int8")


# --------------------------------------------------------------------------------------------
# The real model


@pytest.mark.model
def test_english_speech_is_transcribed_with_word_timings(engine: Engine, speech_dir: Path) -> None:
    fractions: list[float] = []
    with open(speech_dir / "one.wav", "rb") as fh:  # a file object, as the worker passes
        result = engine.transcribe(fh, language="en", progress=fractions.append)
    text = " ".join(s.text for s in result.segments)
    assert {"purple", "elephant", "london", "tuesday", "morning"} <= _words(text), text
    assert result.language == "en"
    assert result.task == "transcribe"
    assert result.duration_s == pytest.approx(_decode16k(speech_dir / "one.wav").shape[0] / SR)
    _check_segments(result)
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    data = result.to_json()
    assert data["language"] == "en"
    assert set(data["segments"][0]) == {
        "start",
        "end",
        "text",
        "avg_logprob",
        "no_speech_prob",
        "words",
    }


@pytest.mark.model
def test_restricted_detection_says_english(engine: Engine, speech_dir: Path) -> None:
    lang, prob = engine.detect_language(_decode16k(speech_dir / "one.wav"))
    assert lang == "en"
    assert 0.5 < prob <= 1.0
    result = engine.transcribe(speech_dir / "two.wav", language="auto")
    assert result.language == "en"
    assert {"yellow", "bicycles", "bridge"} <= _words(" ".join(s.text for s in result.segments))


@pytest.mark.model
def test_windows_cut_in_silence_and_offset_timestamps(engine: Engine, speech_dir: Path) -> None:
    one = _decode16k(speech_dir / "one.wav")
    two = _decode16k(speech_dir / "two.wav")
    silence = np.zeros(int(8 * SR), dtype=np.float32)
    audio = np.concatenate([one, silence, two])
    second_onset = (one.shape[0] + silence.shape[0]) / SR
    flac = _flac_bytes(audio)
    # Two windows: the first (about 10 s) ends inside the silence, not at exactly 10 s.
    windows = [(offset, len(a)) for offset, a in engine_mod._WindowReader(io.BytesIO(flac), 10)]
    assert len(windows) == 2
    assert one.shape[0] / SR < windows[1][0] < second_onset
    assert sum(n for _, n in windows) == audio.shape[0]

    windowed = engine.with_settings(window_s=10.0)
    progress: list[float] = []
    result = windowed.transcribe(io.BytesIO(flac), language="en", progress=progress.append)
    _check_segments(result)
    assert result.duration_s == pytest.approx(audio.shape[0] / SR, abs=0.01)
    words = [w for s in result.segments for w in s.words]
    later = [w for w in words if w.word.strip(" .,").lower() in {"bicycles", "bridge"}]
    earlier = [w for w in words if w.word.strip(" .,").lower() in {"elephant", "london"}]
    assert len(later) == 2 and len(earlier) == 2, [w.word for w in words]
    assert all(w.start < one.shape[0] / SR + 0.5 for w in earlier)
    assert all(w.start > second_onset - 0.5 for w in later)
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert len(progress) >= 3  # at least one report per window plus the final one


@pytest.mark.model
def test_sequential_mode_gives_the_same_words(engine: Engine, speech_dir: Path) -> None:
    sequential = engine.with_settings(batch_size=1)
    result = sequential.transcribe(str(speech_dir / "one.wav"), language="en")
    _check_segments(result)
    assert {"purple", "elephant", "london"} <= _words(" ".join(s.text for s in result.segments))


@pytest.mark.model
def test_silence_gives_no_segments_and_unknown_language(engine: Engine) -> None:
    progress: list[float] = []
    silence = io.BytesIO(_flac_bytes(np.zeros(3 * SR, dtype=np.float32)))
    result = engine.transcribe(silence, language=None, progress=progress.append)
    assert result.segments == []
    assert (result.language, result.language_probability) == ("unknown", 0.0)
    assert result.duration_s == pytest.approx(3.0, abs=0.01)
    assert progress[-1] == 1.0


def test_unknown_task_is_refused(engine: Engine, speech_dir: Path) -> None:
    with pytest.raises(ValueError, match="task"):
        engine.transcribe(speech_dir / "one.wav", language="en", task="summarise")


@pytest.mark.model
def test_progress_is_reported_while_a_window_is_decoded(
    engine: Engine, tmp_path: Path
) -> None:
    """Two minutes of speech in one window, two 30 s chunks per batch: progress must arrive
    batch by batch, not all at once when the window is done."""
    # Varied sentences: text that repeats itself within a chunk would look like a repetition
    # loop to the engine and be decoded again, sequentially.
    speech = _espeak(f"{MINUTE_OF_SPEECH} {MINUTE_OF_SPEECH}", tmp_path / "minutes.wav")
    audio = _decode16k(speech)
    assert 90 * SR < audio.shape[0] < 180 * SR
    flac = _flac_bytes(audio)
    small_batches = engine.with_settings(batch_size=2, window_s=600.0)
    seen: list[tuple[float, float]] = []
    start = time.monotonic()

    def note(fraction: float) -> None:
        seen.append((time.monotonic() - start, fraction))

    result = small_batches.transcribe(io.BytesIO(flac), language="en", progress=note)
    elapsed = time.monotonic() - start
    assert result.segments
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    partial = [(t, f) for t, f in seen if f < 1.0]
    assert len(partial) >= 2, seen
    # The first report comes after the first batch, well before the window is done.
    assert partial[0][0] < 0.75 * elapsed, (seen, elapsed)
