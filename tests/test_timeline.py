"""The recording's timeline: unsure and redacted stretches as links to their segment's page
and anchor, drawn as SVG with classes only (the CSP allows no inline style)."""

from __future__ import annotations

import re

from flask import Flask

from intake.models import RedactionCategory
from intake.review import review, timeline
from tests.staff_support import segments_of, transcribed_testimony


def test_timeline_links_unsure_and_marked_spans_to_their_page(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(
        app, ["clear", "one mumbled word", "Ali came", "fine"], low_word="mumbled"
    )
    segs = segments_of(staff_app, pseudonym)
    svc = staff_app.extensions["testimony"]
    with svc.db.session() as s:
        t = review.find(s, pseudonym)
        review.mark_span(
            s, svc.keyring, t, segs[2].id, 1, RedactionCategory.person, "account:1", "Ali"
        )
        s.flush()
        (bar,) = timeline.timelines(s, t, 0.5, per_page=2)
    assert [(x.kind, x.segment_id, x.page) for x in bar.stretches] == [
        ("low", segs[1].id, 1),
        ("redact", segs[2].id, 2),
    ]
    labels = {"timeline": "Timeline", "low": "Unsure <at>", "redact": "Marked"}
    svg = str(bar.svg("/staff/review/X", labels))
    assert f'href="/staff/review/X?page=2#seg-{segs[2].id}" class="redact"' in svg
    assert f'href="/staff/review/X?page=1#seg-{segs[1].id}" class="low"' in svg
    assert "style=" not in svg and "Unsure &lt;at&gt;" in svg
    # The unsure segment runs 0.5-1.0 s of a 2 s recording: a quarter of the width, from 250.
    assert re.search(r'<rect x="250.0" y="12" width="250.0"', svg)


def test_touching_stretches_of_one_kind_are_drawn_as_one() -> None:
    stretches = [
        timeline.Stretch(0.0, 1.0, "low", 1, 1),
        timeline.Stretch(1.0, 2.0, "low", 2, 1),
        timeline.Stretch(1.5, 1.8, "redact", 2, 1),
        timeline.Stretch(5.0, 6.0, "low", 3, 1),
    ]
    assert [
        (s.kind, s.start_s, s.end_s, s.segment_id)
        for s in timeline._joined(stretches, 0.01)  # noqa: SLF001
    ] == [("low", 0.0, 2.0, 1), ("redact", 1.5, 1.8, 2), ("low", 5.0, 6.0, 3)]
