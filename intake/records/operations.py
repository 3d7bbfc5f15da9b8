"""What operators ask: how much work is waiting, where, and what needs a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from intake.config import Config
from intake.db import Database
from intake.models import Job, JobStatus, Testimony, TestimonyState
from intake.records.queues import queue_names
from intake.storage import Store


def broker_queue_lengths(config: Config) -> dict[str, int | None]:
    """Messages waiting in each work queue of the broker; None where it cannot be reached."""
    from kombu import Connection

    lengths: dict[str, int | None] = {}
    queues = queue_names()
    try:
        # One try: a broker that is down is reported as such, not retried for seconds.
        with Connection(
            config.broker_url, connect_timeout=3, transport_options={"max_retries": 0}
        ) as conn:
            channel = conn.default_channel
            for queue in queues:
                try:
                    lengths[queue] = int(channel.queue_declare(queue, passive=True).message_count)
                except Exception:  # noqa: BLE001 - a queue not declared yet holds nothing
                    lengths[queue] = 0
    except Exception:  # noqa: BLE001 - broker down: say so rather than fail the report
        return {queue: None for queue in queues}
    return lengths


def status_report(config: Config) -> dict[str, Any]:
    """Counts by state, the outbox and the broker, and the records that need attention."""
    db = Database(config.database_url)
    try:
        with db.session() as session:
            by_state = dict(
                session.execute(
                    select(Testimony.state, func.count()).group_by(Testimony.state)
                ).all()
            )
            jobs_by_status = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
            outbox = session.scalar(
                select(func.count()).where(
                    Job.status == JobStatus.queued, Job.published_at.is_(None)
                )
            )
            in_progress = session.execute(
                select(Testimony.pseudonym, Testimony.progress)
                .where(Testimony.state == TestimonyState.transcribing)
                .order_by(Testimony.updated_at)
            ).all()
            attention = session.execute(
                select(Testimony.pseudonym, Testimony.attention_reason, Testimony.updated_at)
                .where(Testimony.state == TestimonyState.needs_attention)
                .order_by(Testimony.updated_at)
            ).all()
    finally:
        db.dispose()
    return {
        "testimonies": {state.value: by_state.get(state, 0) for state in TestimonyState},
        "jobs": {status.value: jobs_by_status.get(status, 0) for status in JobStatus},
        "outbox_unpublished": outbox or 0,
        "broker_queues": broker_queue_lengths(config),
        "transcribing": [{"pseudonym": p, "progress": g} for p, g in in_progress],
        "needs_attention": [
            {"pseudonym": p, "reason": r, "since": u.isoformat()} for p, r, u in attention
        ],
        "store": store_report(config),
    }


def store_report(config: Config) -> dict[str, Any]:
    """How full the store is: bytes used, the quota, the disk's free space, and a warning."""
    usage = Store.for_config(config).usage(count_used=True)
    return {
        "used_bytes": usage.used_bytes,
        "quota_bytes": usage.quota_bytes or None,
        "free_bytes": usage.free_bytes,
        "reserve_bytes": usage.reserve_bytes,
        "warning": usage.warning(),
    }


def _mib(size: int) -> str:
    return f"{size / 1024**2:,.1f} MiB"


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text for a terminal."""
    lines = ["Testimonies by state:"]
    lines += [f"  {state:22} {count}" for state, count in report["testimonies"].items() if count]
    lines.append("Jobs:")
    lines += [f"  {status:22} {count}" for status, count in report["jobs"].items() if count]
    lines.append(
        f"Waiting in the outbox (not yet sent to the broker): {report['outbox_unpublished']}"
    )
    for queue, length in report["broker_queues"].items():
        shown = "broker unreachable" if length is None else str(length)
        lines.append(f"Broker queue {queue}: {shown}")
    for item in report["transcribing"]:
        done = "?" if item["progress"] is None else f"{item['progress'] * 100:.0f}%"
        lines.append(f"  transcribing {item['pseudonym']}: {done}")
    store = report["store"]
    quota = "none" if store["quota_bytes"] is None else _mib(store["quota_bytes"])
    lines.append(
        f"Store: used {_mib(store['used_bytes'])}, quota {quota}, "
        f"disk free {_mib(store['free_bytes'])} (reserve {_mib(store['reserve_bytes'])})"
    )
    if store["warning"]:
        lines.append(f"  WARNING: {store['warning']}")
    lines.append(f"Needs attention: {len(report['needs_attention'])}")
    for item in report["needs_attention"]:
        lines.append(f"  {item['pseudonym']} since {item['since']}: {item['reason']}")
    return "\n".join(lines)
