"""Cutting review segments' spans out of a recording for the per-segment drafts, in one
decoding pass: each span gets exactly its samples, in the caller's order, whatever the order
given, and a span past the end gets what there is."""

from __future__ import annotations

import io

from tests import audio_fixtures as fx
from workers.engine import SAMPLE_RATE, iter_spans


def test_each_span_gets_its_own_samples() -> None:
    source = io.BytesIO(fx.tone_wav(12.0))
    spans = [(6.0, 7.5), (0.0, 1.0), (1.0, 5.25), (11.5, 14.0)]
    got = dict(iter_spans(source, spans))
    assert sorted(got) == [0, 1, 2, 3]
    lengths = {i: got[i].shape[0] / SAMPLE_RATE for i in got}
    assert abs(lengths[0] - 1.5) < 0.01
    assert abs(lengths[1] - 1.0) < 0.01
    assert abs(lengths[2] - 4.25) < 0.01
    assert abs(lengths[3] - 0.5) < 0.05  # the recording ends at 12 s
