"""The timeline of a whole recording, drawn on the server as SVG.

One bar per recording: the segments the machine was unsure of and the redacted spans, each
a link to the editor page and anchor of its segment, so a reviewer sees at a glance where to
listen and jumps there without JavaScript. Drawn from clear columns only (times, minimum word
probability, mark times): no segment is opened, so the cost stays small for a 3-hour
recording. Colours come from CSS classes (the staff pages' CSP allows no inline style).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import AudioFile, RedactionMark, Segment, Testimony, Transcript

WIDTH = 1000
HEIGHT = 24


@dataclass(frozen=True)
class Stretch:
    """A span of the recording to draw, with the segment it links to."""

    start_s: float
    end_s: float
    kind: str  # "low" or "redact"
    segment_id: int
    page: int


@dataclass
class Timeline:
    """One recording's bar: its length, the current page's window and the stretches."""

    audio_position: int
    duration_s: float
    stretches: list[Stretch] = field(default_factory=list)

    def svg(self, base_url: str, labels: dict[str, str]) -> Markup:
        """The bar as inline SVG: a link per stretch (to `base_url?page=N#seg-ID`), with a
        <title> for its kind and time that screen readers and tooltips show."""
        scale = WIDTH / self.duration_s if self.duration_s > 0 else 0.0
        parts = [
            Markup(
                '<svg class="timeline" viewBox="0 0 %d %d" preserveAspectRatio="none" '
                'role="group" aria-label="%s"><rect class="track" x="0" y="0" width="%d" '
                'height="%d"/>'
            )
            % (WIDTH, HEIGHT, labels["timeline"], WIDTH, HEIGHT)
        ]
        for s in self.stretches:
            x = s.start_s * scale
            width = max((s.end_s - s.start_s) * scale, 2.0)
            y, height = (0, HEIGHT // 2) if s.kind == "redact" else (HEIGHT // 2, HEIGHT // 2)
            parts.append(
                Markup(
                    '<a href="%s?page=%d#seg-%d" class="%s"><rect x="%.1f" y="%d" width="%.1f" '
                    'height="%d"><title>%s %s</title></rect></a>'
                )
                % (
                    base_url,
                    s.page,
                    s.segment_id,
                    s.kind,
                    x,
                    y,
                    width,
                    height,
                    labels[s.kind],
                    _clock(s.start_s),
                )
            )
        parts.append(Markup("</svg>"))
        return Markup("").join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def timelines(
    session: Session, testimony: Testimony, threshold: float, per_page: int
) -> list[Timeline]:
    """The bars of every recording of a testimony, with the editor page of each segment
    (segments are paged in file and time order, `per_page` to a page)."""
    rows = session.execute(
        select(
            Segment.id,
            Segment.start_s,
            Segment.end_s,
            Segment.min_word_probability,
            AudioFile.position,
            Transcript.duration_s,
        )
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .join(AudioFile, AudioFile.id == Transcript.audio_file_id)
        .where(Transcript.testimony_id == testimony.id)
        .order_by(AudioFile.position, Segment.position)
    ).all()
    marks: dict[int, list[tuple[float, float]]] = {}
    for segment_id, start_s, end_s in session.execute(
        select(RedactionMark.segment_id, RedactionMark.start_s, RedactionMark.end_s).where(
            RedactionMark.testimony_id == testimony.id
        )
    ):
        marks.setdefault(segment_id, []).append((start_s, end_s))
    bars: dict[int, Timeline] = {}
    for index, (seg_id, start_s, end_s, low, position, duration) in enumerate(rows):
        bar = bars.setdefault(position, Timeline(position, duration))
        page = index // per_page + 1
        if low is not None and low < threshold:
            bar.stretches.append(Stretch(start_s, end_s, "low", seg_id, page))
        for mark_start, mark_end in marks.get(seg_id, []):
            bar.stretches.append(Stretch(mark_start, mark_end, "redact", seg_id, page))
    for bar in bars.values():
        bar.stretches = _joined(bar.stretches, bar.duration_s / WIDTH)
    return list(bars.values())


def _joined(stretches: list[Stretch], gap_s: float) -> list[Stretch]:
    """Join stretches of one kind that touch or lie within a pixel of each other: a run of
    unsure segments is one stretch linking to its first segment, so the drawing stays small
    (a badly heard 3-hour recording is not 1,500 links) and each link is wide enough to hit."""
    joined: list[Stretch] = []
    last: dict[str, int] = {}
    for s in sorted(stretches, key=lambda x: (x.start_s, x.kind)):
        index = last.get(s.kind)
        if index is not None and s.start_s <= joined[index].end_s + gap_s:
            prev = joined[index]
            joined[index] = Stretch(
                prev.start_s, max(prev.end_s, s.end_s), prev.kind, prev.segment_id, prev.page
            )
            continue
        last[s.kind] = len(joined)
        joined.append(s)
    return joined
