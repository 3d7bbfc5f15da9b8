"""The transcription engine: faster-whisper over a bounded-memory audio stream.

Nothing here knows about Celery, Flask or the database, so that the worker task, the command line
and the benchmarks all run exactly the same code.

Why the engine decodes audio itself instead of handing a path to faster-whisper: faster-whisper
decodes a whole file into one array (a 3-hour recording is 690 MB of float32 samples, more during
resampling) and the archive takes recordings of several hours. We decode with PyAV in windows of
`window_s` seconds, cut each window at a quiet point so no word is split, and transcribe window by
window, so memory is bounded by the window length, not the recording length.

The bundled model's files are assembled by `workers.model_bundle`; workers never download from a
model hub.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np

from workers.model_bundle import ModelError, ensure_default_model

if TYPE_CHECKING:  # pragma: no cover - imported lazily so that importing the module stays cheap
    from faster_whisper import BatchedInferencePipeline, WhisperModel

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ARCHIVE_LANGUAGES = ("fa", "en")
AUTO_LANGUAGES = (None, "", "auto", "unknown")
# Review segments must be short enough to check by ear (SPEC section 4).
MAX_SEGMENT_S = 15.0
# The quiet point that ends a window is searched for in its last QUIET_SEARCH_S seconds, in
# frames of QUIET_FRAME_S seconds: long enough to span the gap between two words, short enough to
# land inside a pause rather than merely near one.
QUIET_SEARCH_S = 20.0
QUIET_FRAME_S = 0.2
QUIET_HOP_S = 0.05
MIN_WINDOW_S = 5.0
# Whisper's own threshold for "this text repeats itself" (gzip compression ratio of the text).
LOOP_COMPRESSION_RATIO = 2.4
# Restricted language detection looks at up to this many 30 s pieces of speech.
DETECT_PIECES = 3

ProgressCallback = Callable[[float], None]


class AudioSource(Protocol):
    """What PyAV needs of a file object: read and seek (a BinaryIO, or an io.RawIOBase such as
    the decrypting reader over an encrypted access copy)."""

    def read(self, size: int = ..., /) -> bytes | None: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...


# --------------------------------------------------------------------------------------------
# Settings and results


@dataclass(frozen=True)
class EngineSettings:
    """How to run Whisper; mirrors the `whisper_*` settings of `intake.config.Config`.

    Memory is set by `batch_size` × `beam_size`, not by the recording's length: every
    hypothesis in a batch holds its own copy of the encoder's cross-attention keys and values.
    Measured on 2 CPU cores with Whisper base int8 and beam 5, peak RSS per worker was about
    1.0 GiB with batch 4 and 1.6-1.8 GiB with batch 8, at the same speed; more batch only pays
    on a GPU or many cores.
    """

    model: str = "base"  # "base" = the bundled default; else a faster-whisper name or a path
    device: str = "cpu"  # cpu | cuda
    compute_type: str = "int8"
    beam_size: int = 5
    batch_size: int = 4  # BatchedInferencePipeline batch; 0 or 1 = sequential
    cpu_threads: int = 0  # 0 = CTranslate2's default
    window_s: float = 600.0  # decode long recordings in windows of this length
    cache_dir: Path = Path("instance/models")

    @classmethod
    def from_config(cls, config: Any) -> EngineSettings:
        """Settings from an `intake.config.Config` (typed loosely: this module stays standalone)."""
        cache = getattr(config, "model_cache_dir", None)
        if cache is None:
            cache = Path(config.instance_path) / "models"
        return cls(
            model=config.whisper_model,
            device=config.whisper_device,
            compute_type=config.whisper_compute_type,
            beam_size=int(config.whisper_beam_size),
            batch_size=int(config.whisper_batch_size),
            cpu_threads=int(config.whisper_cpu_threads),
            window_s=float(config.whisper_window_s),
            cache_dir=Path(cache),
        )


@dataclass
class Word:
    start: float
    end: float
    word: str  # as Whisper writes it, usually with its leading space
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: list[Word] = field(default_factory=list)


@dataclass
class TranscriptResult:
    language: str
    language_probability: float
    duration_s: float
    task: str  # "transcribe" | "translate"
    segments: list[Segment]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; times rounded to the millisecond, probabilities to 4 places."""
        return {
            "language": self.language,
            "language_probability": round(self.language_probability, 4),
            "duration": round(self.duration_s, 3),
            "task": self.task,
            "segments": [
                {
                    "start": round(s.start, 3),
                    "end": round(s.end, 3),
                    "text": s.text,
                    "avg_logprob": round(s.avg_logprob, 4),
                    "no_speech_prob": round(s.no_speech_prob, 4),
                    "words": [
                        {
                            "start": round(w.start, 3),
                            "end": round(w.end, 3),
                            "word": w.word,
                            "probability": round(w.probability, 4),
                        }
                        for w in s.words
                    ],
                }
                for s in self.segments
            ],
        }


# --------------------------------------------------------------------------------------------
# Splitting long segments

_SENTENCE_END = (".", "?", "!", "؟", "。", "…", "!")
_CLAUSE_END = (",", "،", "؛", ";", ":")
# A pause after sentence (clause) punctuation counts as this much longer than it measured: Whisper
# word timestamps often run one word into the next, so punctuation is the better cue then.
_SENTENCE_BONUS_S = 0.3
_CLAUSE_BONUS_S = 0.1


def _words_text(words: list[Word]) -> str:
    return "".join(w.word for w in words).strip()


def split_segment(segment: Segment, max_s: float = MAX_SEGMENT_S) -> list[Segment]:
    """Split `segment` at pauses until every part is at most `max_s` long (where words allow).

    The batched pipeline returns one segment per VAD chunk, up to 30 s, too long to review by ear.
    The cut goes at the largest gap between two words in the middle half of the segment (a pause
    after a full stop or comma counts as a little longer), then each half is split again the same
    way. Cutting near the middle rather than at the first gap keeps parts of similar length, so
    few cuts are needed. Text is rebuilt from the words; each part keeps the chunk's
    avg_logprob and no_speech_prob (Whisper has no finer figure).
    """
    words = segment.words
    if segment.end - segment.start <= max_s or len(words) < 2:
        return [segment]
    span_start = words[0].start
    span_end = words[-1].end
    middle = (span_start + span_end) / 2
    quarter = (span_end - span_start) / 4
    candidates = range(1, len(words))
    central = [i for i in candidates if abs(words[i - 1].end - middle) <= quarter]
    if not central:
        central = list(candidates)

    def score(i: int) -> tuple[float, float]:
        gap = max(0.0, words[i].start - words[i - 1].end)
        tail = words[i - 1].word.rstrip()
        if tail.endswith(_SENTENCE_END):
            gap += _SENTENCE_BONUS_S
        elif tail.endswith(_CLAUSE_END):
            gap += _CLAUSE_BONUS_S
        return (round(gap, 3), -abs(words[i - 1].end - middle))

    cut = max(central, key=score)
    left_words, right_words = words[:cut], words[cut:]
    left = Segment(
        start=min(segment.start, left_words[0].start),
        end=left_words[-1].end,
        text=_words_text(left_words),
        avg_logprob=segment.avg_logprob,
        no_speech_prob=segment.no_speech_prob,
        words=left_words,
    )
    right = Segment(
        start=right_words[0].start,
        end=max(segment.end, right_words[-1].end),
        text=_words_text(right_words),
        avg_logprob=segment.avg_logprob,
        no_speech_prob=segment.no_speech_prob,
        words=right_words,
    )
    return split_segment(left, max_s) + split_segment(right, max_s)


# --------------------------------------------------------------------------------------------
# Streaming decode


def _quiet_cut(buffer: np.ndarray, limit: int) -> int:
    """Index in `buffer[:limit]` at the centre of its quietest 0.2 s in the last ~20 s.

    Cutting a window there (rather than at exactly `limit`) keeps words whole: the remainder
    goes into the next window. The search covers at most half the window, so a short
    `window_s` still advances.
    """
    frame = int(QUIET_FRAME_S * SAMPLE_RATE)
    hop = int(QUIET_HOP_S * SAMPLE_RATE)
    search = min(int(QUIET_SEARCH_S * SAMPLE_RATE), limit // 2)
    if search < frame:
        return limit
    region = buffer[limit - search : limit].astype(np.float64)
    energy = np.concatenate(([0.0], np.cumsum(region * region)))
    starts = np.arange(0, search - frame + 1, hop)
    frame_energy = energy[starts + frame] - energy[starts]
    # The last minimum: of several equally silent frames, keep the longest window.
    best = int(starts[len(frame_energy) - 1 - int(np.argmin(frame_energy[::-1]))])
    return limit - search + best + frame // 2


def _declared_duration(container: Any, stream: Any) -> float | None:
    """The duration the container declares, in seconds, or None when it does not say."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / av.time_base
    return None


class _WindowReader:
    """Decodes a source to 16 kHz mono float32 and yields (offset_s, samples) windows.

    Only the current window plus the carried remainder (at most ~20 s) is ever held.
    """

    def __init__(self, source: AudioSource | str | Path, window_s: float) -> None:
        self.source = str(source) if isinstance(source, Path) else source
        self.window = int(max(window_s, MIN_WINDOW_S) * SAMPLE_RATE)
        self.total_s: float | None = None
        self.samples_read = 0

    def _samples(self, container: Any) -> Iterator[np.ndarray]:
        stream = container.streams.audio[0]
        self.total_s = _declared_duration(container, stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.error.InvalidDataError:  # a damaged packet: skip it, as faster-whisper does
                continue
            frame.pts = None
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        offset = 0
        parts: list[np.ndarray] = []
        buffered = 0
        with av.open(self.source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise ValueError("the recording has no audio stream")
            for samples in self._samples(container):
                parts.append(samples)
                buffered += samples.shape[0]
                self.samples_read += samples.shape[0]
                if buffered < self.window + int(QUIET_FRAME_S * SAMPLE_RATE):
                    continue
                buffer = np.concatenate(parts)
                cut = _quiet_cut(buffer, self.window)
                yield offset / SAMPLE_RATE, buffer[:cut]
                offset += cut
                rest = buffer[cut:].copy()
                parts, buffered = [rest], rest.shape[0]
                del buffer
        if buffered:
            yield offset / SAMPLE_RATE, np.concatenate(parts)


# --------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True)
class SpanDraft:
    """One span's machine translation and Whisper's own measures of it: the mean token
    log-probability (weighted by tokens), the text's gzip compression ratio (high: the model
    repeated itself), and the chance that nothing was said."""

    text: str
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float

    @classmethod
    def of(cls, segments: list[Any]) -> SpanDraft:
        """The draft made of faster-whisper's segments for one span."""
        text = " ".join(seg.text.strip() for seg in segments).strip()
        if not segments or not text:
            return cls("", -10.0, 0.0, 1.0)
        weights = [max(len(getattr(seg, "tokens", ()) or ()), 1) for seg in segments]
        total = sum(weights)
        return cls(
            text=text,
            avg_logprob=sum(
                seg.avg_logprob * w for seg, w in zip(segments, weights, strict=True)
            )
            / total,
            compression_ratio=max(seg.compression_ratio for seg in segments),
            no_speech_prob=max(seg.no_speech_prob for seg in segments),
        )


class Engine:
    """Whisper via faster-whisper, loaded lazily once per process and reused for every job.

    One transcription at a time per Engine (the batched pipeline keeps per-call state); a
    Celery prefork worker runs one job per process, which is what this is built for.
    """

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._model: WhisperModel | None = None
        self._pipeline: BatchedInferencePipeline | None = None
        self._lock = threading.Lock()

    # -- model ---------------------------------------------------------------------------------

    def model_path(self) -> str:
        """Where the model comes from: the assembled bundle, a local folder, or a cached name."""
        name = self.settings.model
        if name in ("", "base", "default"):
            return str(ensure_default_model(self.settings.cache_dir))
        return name

    @property
    def model(self) -> WhisperModel:
        """The WhisperModel, loaded on first use (seconds), never downloaded."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> WhisperModel:
        from faster_whisper import WhisperModel

        path = self.model_path()
        s = self.settings
        kwargs: dict[str, Any] = {
            "device": s.device,
            "compute_type": s.compute_type,
            "cpu_threads": s.cpu_threads,
        }
        if not Path(path).is_dir():
            # A model name: only ever look in the local cache. A worker must not reach a hub.
            kwargs.update(local_files_only=True, download_root=str(s.cache_dir))
        try:
            return WhisperModel(path, **kwargs)
        except Exception as exc:  # huggingface_hub raises its own types; say what to do
            raise ModelError(
                f"cannot load Whisper model {s.model!r} ({exc}); workers never download models: "
                f"set whisper_model to a local CTranslate2 folder or put the model in "
                f"{s.cache_dir}"
            ) from exc

    def with_settings(self, **changes: Any) -> Engine:
        """A new engine with some settings changed, sharing the loaded model when it can.

        The model is shared when model, device, compute type and threads are unchanged, so that
        tests and benchmarks can compare window or batch sizes without loading weights twice.
        """
        settings = replace(self.settings, **changes)
        other = Engine(settings)
        same = ("model", "device", "compute_type", "cpu_threads", "cache_dir")
        if self._model is not None and all(
            getattr(settings, k) == getattr(self.settings, k) for k in same
        ):
            other._model = self._model
        return other

    @property
    def batched(self) -> bool:
        return self.settings.batch_size > 1

    @property
    def pipeline(self) -> BatchedInferencePipeline:
        if self._pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(self.model)
        return self._pipeline

    # -- language ------------------------------------------------------------------------------

    def _first_speech(self, audio: np.ndarray) -> int | None:
        """Sample index where speech starts in `audio` (Silero VAD), or None if there is none."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        step = 120 * SAMPLE_RATE  # VAD a slice at a time: stop at the first speech
        for begin in range(0, audio.shape[0], step):
            chunks = get_speech_timestamps(audio[begin : begin + step], VadOptions())
            if chunks:
                return begin + int(chunks[0]["start"])
        return None

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The more probable of Persian and English in `audio` (16 kHz mono float32).

        Whisper base, asked freely, calls short Persian clips Arabic, Urdu, Turkish or Welsh;
        the archive only works in ARCHIVE_LANGUAGES, so we compare just those. Whisper's
        probabilities for up to 3 × 30 s of audio, from a second before the first speech (so a
        long silent or noisy lead-in does not vote), are averaged, weighted by length. Each
        piece is padded with silence before the mel spectrogram, as Whisper was trained: on 18
        Persian test clips that picked Persian for 14, against 12 when only the VAD's speech
        was fed in. Returns the language and its probability renormalised over the two.
        """
        return self._detect(audio, self._first_speech(audio) or 0)

    def _detect(self, audio: np.ndarray, first_speech: int) -> tuple[str, float]:
        model = self.model
        extractor = model.feature_extractor
        piece_len = extractor.n_samples  # 30 s
        start = max(0, first_speech - SAMPLE_RATE)
        totals = dict.fromkeys(ARCHIVE_LANGUAGES, 0.0)
        for k in range(DETECT_PIECES):
            piece = audio[start + k * piece_len : start + (k + 1) * piece_len]
            if k and piece.shape[0] < SAMPLE_RATE:
                break  # a last scrap under a second says little
            features = extractor(piece, padding=piece_len)[:, : extractor.nb_max_frames]
            _, _, all_probs = model.detect_language(
                features=features, language_detection_segments=1
            )
            probs = dict(all_probs or [])
            for lang in ARCHIVE_LANGUAGES:
                totals[lang] += max(piece.shape[0], 1) * probs.get(lang, 0.0)
        best = max(ARCHIVE_LANGUAGES, key=lambda lang: totals[lang])
        total = sum(totals.values())
        return best, (totals[best] / total if total > 0 else 1.0 / len(ARCHIVE_LANGUAGES))

    # -- transcription -------------------------------------------------------------------------

    def _decode_window(
        self,
        audio: np.ndarray,
        language: str,
        task: str,
        hotwords: str | None,
        initial_prompt: str | None,
    ) -> Iterator[tuple[float, Any]]:
        """Yield (offset within the window, faster-whisper segment) for one window."""
        s = self.settings
        common: dict[str, Any] = {
            "language": language,
            "task": task,
            "beam_size": s.beam_size,
            "word_timestamps": True,
            "vad_filter": True,
            "hotwords": hotwords or None,
            "initial_prompt": initial_prompt or None,
        }
        if not self.batched:
            segments, _ = self.model.transcribe(audio, **common)
            for seg in segments:
                yield 0.0, seg
            return
        batched, _ = self.pipeline.transcribe(audio, batch_size=s.batch_size, **common)
        # Taken as the pipeline yields them, one batch at a time, so that progress is reported
        # per batch rather than once per window (a 3-minute file was one window, at 0% until
        # done). Only a stretch of looping segments waits for the good segment after it.
        window_end = audio.shape[0] / SAMPLE_RATE
        previous_end = 0.0
        stretch: list[Any] = []
        for seg in batched:
            if seg.compression_ratio > LOOP_COMPRESSION_RATIO:
                stretch.append(seg)
                continue
            if stretch:
                yield from self._redecode(audio, stretch, previous_end, seg.start, common)
                stretch = []
            yield 0.0, seg
            previous_end = seg.end
        if stretch:
            yield from self._redecode(audio, stretch, previous_end, window_end, common)

    def _redecode(
        self,
        audio: np.ndarray,
        stretch: list[Any],
        begin: float,
        end: float,
        common: dict[str, Any],
    ) -> Iterator[tuple[float, Any]]:
        """Decode a stretch of looping segments again, from `begin` to `end` in the window.

        A repetition loop ("ایم ایم ایم ..."): the batched pipeline decodes once, at
        temperature 0, with no fallback. The stretch between the good neighbours is decoded
        again, sequentially, with Whisper's temperature fallback, which exists for this.
        Looping segments in a row form one stretch, so no audio is decoded twice.
        """
        if end <= begin:
            begin, end = stretch[0].start, stretch[-1].end
        log.info("repetition in %.1f-%.1f s, decoding it again sequentially", begin, end)
        piece = audio[int(begin * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        again, _ = self.model.transcribe(piece, condition_on_previous_text=False, **common)
        for redone in again:
            yield begin, redone

    def transcribe(
        self,
        source: AudioSource | str | Path,
        *,
        language: str | None,
        task: str = "transcribe",
        hotwords: str | None = None,
        initial_prompt: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> TranscriptResult:
        """Transcribe (or, with task="translate", translate to English) a whole recording.

        `source` is a path or a seekable binary file object (in production a decrypting reader,
        so plaintext audio never touches the disk). It is decoded in windows of `window_s`
        seconds; see the module docstring for why.

        `language`: "fa" or "en" forces it; None, "auto" or "unknown" detects it once, restricted
        to ARCHIVE_LANGUAGES, on the first window that has speech, then forces it for the rest so
        that one recording gets one language. Nothing said at all gives language "unknown".

        `progress` is called with the fraction done (0..1, by audio time, never decreasing) after
        each segment and each window, and with 1.0 at the end, when the container declares its
        duration (FLAC, WAV and MP3 do; that is what the intake stores). When it does not, it is
        called with the number of audio seconds done instead, and at the end with the total
        seconds: the value can then exceed 1, so a caller without its own idea of the total
        should show it as time done, not as a percentage.
        """
        if task not in ("transcribe", "translate"):
            raise ValueError(f"task must be 'transcribe' or 'translate', not {task!r}")
        lang: str | None = None if language in AUTO_LANGUAGES else language
        lang_prob = 1.0
        reader = _WindowReader(source, self.settings.window_s)
        segments: list[Segment] = []
        done_s = 0.0
        sent: float | None = None

        def report(seconds: float, final: bool = False) -> None:
            nonlocal done_s, sent
            done_s = max(done_s, seconds)
            if progress is None:
                return
            total = reader.total_s
            value = (1.0 if final else min(done_s / total, 1.0)) if total else done_s
            if value != sent:
                sent = value
                progress(value)

        for offset, audio in reader:
            window_end = offset + audio.shape[0] / SAMPLE_RATE
            if lang is None:
                first_speech = self._first_speech(audio)
                if first_speech is None:  # nothing said yet: nothing to transcribe either
                    report(window_end)
                    continue
                lang, lang_prob = self._detect(audio, first_speech)
                log.info("detected language %s (p=%.2f of %s)", lang, lang_prob, ARCHIVE_LANGUAGES)
            for shift, raw in self._decode_window(audio, lang, task, hotwords, initial_prompt):
                for seg in split_segment(_convert(raw, offset + shift)):
                    _append_ordered(segments, seg)
                report(offset + shift + raw.end)
            report(window_end)
            del audio
        duration = reader.samples_read / SAMPLE_RATE
        report(duration, final=True)
        return TranscriptResult(
            language=lang or "unknown",
            language_probability=lang_prob if lang else 0.0,
            duration_s=duration,
            task=task,
            segments=segments,
        )


    # -- translation drafts per segment ---------------------------------------------------------

    def translate_spans(
        self,
        source: AudioSource | str | Path,
        spans: list[tuple[float, float]],
        *,
        language: str,
        hotwords: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Whisper's English translation of each span, text only (see `draft_spans`)."""
        return [
            d.text
            for d in self.draft_spans(
                source, spans, language=language, hotwords=hotwords, progress=progress
            )
        ]

    def draft_spans(
        self,
        source: AudioSource | str | Path,
        spans: list[tuple[float, float]],
        *,
        language: str,
        hotwords: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[SpanDraft]:
        """Whisper's English translation of each span (start, end in seconds) of a recording,
        in the order given, with the model's own measures of it: one draft per span, an empty
        text where nothing was said.

        Each span is decoded on its own, so the drafts line up with the review segments one
        to one (a whole-file translation segments the speech its own way). Spans are cut from
        one pass over the audio holding only the current span (`iter_spans`), so memory stays
        flat in the recording's length. No VAD: the reviewers chose these spans as speech.
        The measures let `intake.review.translation.judge_draft` keep fluent nonsense from a small
        model away from the translators.
        """
        s = self.settings
        drafts = [SpanDraft("", -10.0, 0.0, 1.0)] * len(spans)
        for done, (index, audio) in enumerate(iter_spans(source, spans), start=1):
            if audio.shape[0] >= SAMPLE_RATE // 10:
                segments, _ = self.model.transcribe(
                    audio,
                    language=language,
                    task="translate",
                    beam_size=s.beam_size,
                    vad_filter=False,
                    condition_on_previous_text=False,
                    without_timestamps=True,
                    hotwords=hotwords or None,
                )
                drafts[index] = SpanDraft.of(list(segments))
            if progress is not None:
                progress(done / max(len(spans), 1))
        return drafts


def iter_spans(
    source: AudioSource | str | Path, spans: list[tuple[float, float]]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, samples) for each span of `source`, in time order, from one decoding
    pass that keeps only the samples from the earliest pending span on. A span past the end
    of the audio gets what there is."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    bounds = [
        (i, int(max(0.0, spans[i][0]) * SAMPLE_RATE), int(max(0.0, spans[i][1]) * SAMPLE_RATE))
        for i in order
    ]
    reader = _WindowReader(source, MIN_WINDOW_S)
    held = np.zeros(0, dtype=np.float32)
    held_from = 0  # sample index of held[0] in the recording
    pending = 0
    src = reader.source
    with av.open(src, mode="r", metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise ValueError("the recording has no audio stream")
        for samples in reader._samples(container):
            if pending == len(bounds):
                break
            held = np.concatenate((held, samples))
            held_end = held_from + held.shape[0]
            while pending < len(bounds) and bounds[pending][2] <= held_end:
                i, begin, end = bounds[pending]
                yield i, held[max(0, begin - held_from) : max(0, end - held_from)].copy()
                pending += 1
            keep_from = bounds[pending][1] if pending < len(bounds) else held_end
            if keep_from > held_from:
                cut = min(keep_from - held_from, held.shape[0])
                held = held[cut:]
                held_from += cut
    while pending < len(bounds):
        i, begin, end = bounds[pending]
        yield i, held[max(0, begin - held_from) : max(0, end - held_from)].copy()
        pending += 1


def _convert(raw: Any, offset: float) -> Segment:
    """A faster-whisper segment as ours, with times moved from the window to the recording."""
    words = [
        Word(
            start=offset + w.start,
            end=offset + max(w.end, w.start),
            word=w.word,
            probability=float(w.probability),
        )
        for w in (raw.words or [])
    ]
    text = _words_text(words) if words else raw.text.strip()
    return Segment(
        start=words[0].start if words else offset + raw.start,
        end=words[-1].end if words else offset + raw.end,
        text=text,
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
        words=words,
    )


def _append_ordered(segments: list[Segment], seg: Segment) -> None:
    """Append `seg`, dropping empty ones and trimming the small overlaps DTW timing can leave."""
    if not seg.text:
        return
    if segments and seg.start < segments[-1].end:
        prev = segments[-1]
        if prev.end < seg.end:
            seg.start = prev.end
        else:
            prev.end = max(prev.start, seg.start)
    segments.append(seg)
