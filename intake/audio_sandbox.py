"""Parsing uploads in a process of their own, which holds no key and cannot reach one.

FFmpeg's demuxers and decoders are large C programs fed with whatever a visitor sends. One
memory-safety bug there must not give the sender the web process, which holds the master key,
the session key and the receipt pepper. So `make_access_copy` runs `intake.audio` in a fresh
Python process that:

* starts from `exec`, not `fork`: it has none of the parent's memory, and an empty environment
  (no database URL, no broker URL, nothing of the operator's shell);
* inherits no descriptor but its three pipes and the two files it works on: the encrypted
  spool of the upload and an empty encrypted temporary file for the access copy. It gets
  their one-time keys over its stdin (never in argv or the environment), so it can read this
  upload and write this copy, and nothing else that is stored;
* before it reads a byte of the upload, limits itself (`_confine`): CPU seconds, address
  space, size of the files it writes, no core dumps, no new privileges, killed with its
  parent; and, where the kernel has Landlock (Linux 5.13 and later), gives up every access to
  the file system, TCP, abstract Unix sockets and signals outside itself: the key files on
  the same disk, under the same user, stay out of reach;
* is killed, with anything it started, after a wall-clock limit.

Under gevent (`testimony serve`), `subprocess` is gevent's: writing the request, waiting for
the child and reading its answer yield to the event loop, so other visitors are served while a
file is parsed. It must be called from a greenlet, not from gevent's thread pool
(`intake.offload`): gevent watches child processes on the main loop only.

Whatever goes wrong in it is the upload's fault and is refused as 'damaged': a crash, a
limit reached, an answer that does not parse. A bug of ours (a Python exception other than
a rejection) still surfaces as an error, as it did in the same process.

The child writes the access copy through the temporary file the parent made, so the copy,
like the upload, is never on disk in plaintext. Its answer (`AccessCopyInfo`) is checked
like any other input. The cost is a Python start-up per file: about 0.15 CPU-seconds
(benchmarks/audio_sandbox.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib
import io
import json
import os
import pkgutil
import resource
import signal
import subprocess
import sys
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import av

from intake import audio, crypto, offload
from intake.config import Config

# The child is started as `python -I -B -c _BOOTSTRAP PACKAGE_DIR`. `-I` ignores every
# PYTHON* variable and the user's site folder; the bootstrap registers `intake` as a bare
# package so that importing `intake.audio` does not run `intake/__init__.py`, which would
# load Flask and the database layer (0.9 s and a far larger attack surface) for nothing.
_BOOTSTRAP: Final = (
    "import sys, types; package = types.ModuleType('intake'); "
    "package.__path__ = [sys.argv[1]]; sys.modules['intake'] = package; "
    "import intake.audio_sandbox as sandbox; sandbox.child_main()"
)
_PACKAGE_DIR: Final = str(Path(__file__).resolve().parent)

# How much of a file object that is not a spool is copied into one at a time.
_COPY_BLOCK = 1024 * 1024
# The child's answer is a few hundred bytes; more than this is not an answer.
_MAX_ANSWER = 64 * 1024
# Descriptors the child may open beyond the ones it inherits (Python needs a few).
_MAX_OPEN_FILES = 64
# Headroom on the largest access copy a file within the duration limit can make (16-bit mono
# at 16 kHz, FLAC never larger than that, plus its header).
_ACCESS_SLACK_BYTES = 1024 * 1024


class SandboxError(RuntimeError):
    """The child failed in a way that is our fault, not the upload's (it could not start, or
    a bug raised in it); the message carries the end of its error output."""


@dataclass(frozen=True)
class Limits:
    """What one child may use. `from_config` reads them from the settings."""

    cpu_s: int
    memory_bytes: int
    wall_s: float

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        """The limits the operator configured (`Config.audio_*_limit_*`)."""
        return cls(
            cpu_s=config.audio_cpu_limit_s,
            memory_bytes=config.audio_memory_limit_bytes,
            wall_s=config.audio_wall_limit_s,
        )


def make_access_copy(
    source: audio.SeekableFile,
    dest: crypto.EncryptedTempFile,
    *,
    max_duration_s: float,
    limits: Limits,
    temp_dir: Path,
) -> audio.AccessCopyInfo:
    """`intake.audio.make_access_copy` in a confined child process; same contract.

    `source` is handed over as it is when it is an `EncryptedTempFile` (the uploads' spool);
    any other file object is first copied into one under `temp_dir`. `dest` must be empty.
    Raises `audio.AudioRejected` with the same reasons, and 'damaged' for a file that made
    the child crash or pass a limit.
    """
    if dest.seek(0, io.SEEK_END) != 0:
        raise ValueError("dest must be empty")
    spool = source if isinstance(source, crypto.EncryptedTempFile) else None
    if spool is None:
        spool = crypto.EncryptedTempFile(temp_dir)
        offload.blocking(_copy_into, source, spool)
    try:
        given, made = spool.share(), dest.share()
        answer = _run_child(
            {
                "source": given.as_json(),
                "dest": made.as_json(),
                "max_duration_s": max_duration_s,
                "limits": _child_limits(limits, max_duration_s),
            },
            limits,
            pass_fds=(given.fd, made.fd),
        )
    finally:
        if spool is not source:
            spool.close()
        dest.reload_size()
        dest.seek(0)
    return _read_answer(answer, max_duration_s)


def _copy_into(source: audio.SeekableFile, spool: crypto.EncryptedTempFile) -> None:
    source.seek(0)
    while block := source.read(_COPY_BLOCK):
        spool.write(block)


def probe(limits: Limits, paths: list[str]) -> dict[str, Any]:
    """Start a confined child that reports itself instead of parsing anything: its
    environment, its open descriptors, its limits, and which of `paths` it could open.

    For tests and for an operator who wants to see the confinement hold on this kernel.
    """
    return _run_child({"probe": paths, "limits": _child_limits(limits, 1.0)}, limits, pass_fds=())


def _child_limits(limits: Limits, max_duration_s: float) -> dict[str, int]:
    largest_copy = int(max_duration_s * audio.ACCESS_SAMPLE_RATE * 2) + _ACCESS_SLACK_BYTES
    return {
        "cpu_s": limits.cpu_s,
        "memory_bytes": limits.memory_bytes,
        "file_bytes": largest_copy,
    }


def _run_child(request: dict[str, Any], limits: Limits, pass_fds: tuple[int, ...]) -> Any:
    """Start the child, send `request`, and return its parsed answer (or raise)."""
    try:
        child = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, _PACKAGE_DIR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},
            cwd="/",
            close_fds=True,
            pass_fds=pass_fds,
            # A group of its own, so that the timeout kills whatever it started too.
            start_new_session=True,
        )
    except OSError as exc:
        raise SandboxError(f"could not start the audio process: {exc}") from exc
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    try:
        try:
            # A few hundred bytes: the pipe takes them whole, so this never blocks.
            child.stdin.write(json.dumps(request).encode())
            child.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; its exit status below says why
        try:
            status = child.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            raise audio.AudioRejected(
                "damaged", f"parsing took more than {limits.wall_s:g} s"
            ) from None
        # Both pipes hold at most a pipe's buffer: a child that writes more blocks, and
        # the wall-clock limit ends it.
        out = child.stdout.read(_MAX_ANSWER)
        err = child.stderr.read(_MAX_ANSWER)
    finally:
        _kill_group(child)
        for pipe in (child.stdin, child.stdout, child.stderr):
            pipe.close()
    if status < 0:
        raise audio.AudioRejected("damaged", f"the parser died of {_signal_name(-status)}")
    if status != 0:
        tail = err.decode("utf-8", "replace")[-2000:]
        raise SandboxError(f"the audio process exited with status {status}: {tail}")
    try:
        return json.loads(out)
    except ValueError:
        raise audio.AudioRejected("damaged", "the parser gave no answer") from None


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group (it, and anything it started) and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read_answer(answer: Any, max_duration_s: float) -> audio.AccessCopyInfo:
    """The child's answer as `AccessCopyInfo`, or its rejection raised; anything malformed
    (a child that was taken over can say anything) is 'damaged'."""
    if not isinstance(answer, dict):
        raise audio.AudioRejected("damaged", "the parser's answer is not an object")
    if "rejected" in answer:
        reason = answer["rejected"]
        if reason not in audio.REASONS:
            raise audio.AudioRejected("damaged", "the parser gave an unknown reason")
        raise audio.AudioRejected(reason, str(answer.get("detail", ""))[:500])
    info = answer.get("info")
    try:
        assert isinstance(info, dict)
        duration_s = float(info["duration_s"])
        source_format = info["source_format"]
        source_codec = info["source_codec"]
        sample_rate = info["sample_rate"]
        channels = info["channels"]
        assert 0 < duration_s <= max_duration_s
        assert isinstance(source_format, str) and isinstance(source_codec, str)
        assert isinstance(sample_rate, int) and isinstance(channels, int)
        assert audio.MIN_SAMPLE_RATE <= sample_rate <= audio.MAX_SAMPLE_RATE and channels > 0
    except (AssertionError, KeyError, TypeError, ValueError):
        raise audio.AudioRejected("damaged", "the parser's answer is malformed") from None
    return audio.AccessCopyInfo(
        duration_s=duration_s,
        source_format=source_format[:64],
        source_codec=source_codec[:64],
        sample_rate=sample_rate,
        channels=channels,
    )


# --- in the child ------------------------------------------------------------------------------


def child_main() -> None:
    """The child's whole life: read the request, confine itself, answer, exit."""
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    try:
        # What the process holds is listed before it confines itself, since afterwards it
        # cannot read /proc either; confining closes nothing and opens nothing that lasts.
        held = _held() if "probe" in request else {}
        _preload()
        _confine(request["limits"])
        if "probe" in request:
            answer: dict[str, Any] = {
                **held,
                **_report_self(request["probe"]),
                **_try_limits(request["limits"]),
            }
        else:
            answer = _copy(request)
    except MemoryError:
        # The address-space limit, reached in Python; FFmpeg's own failed allocations come
        # back as FFmpeg errors, which intake.audio already maps.
        answer = {"rejected": "damaged", "detail": "parsing needed more memory than allowed"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


def _copy(request: dict[str, Any]) -> dict[str, Any]:
    source = crypto.EncryptedTempFile.attach(crypto.TempFileHandle.from_json(request["source"]))
    dest = crypto.EncryptedTempFile.attach(crypto.TempFileHandle.from_json(request["dest"]))
    try:
        info = audio.make_access_copy(source, dest, max_duration_s=request["max_duration_s"])
    except audio.AudioRejected as exc:
        return {"rejected": exc.reason, "detail": exc.detail}
    return {"info": asdict(info)}


# PyAV modules that it imports only when a file needs them (a subtitle or video stream in a
# container, for one); the demo downloader and the command line are never needed.
_AV_SKIP = frozenset({"av.__main__", "av.datasets"})


def _preload() -> None:
    """Import now whatever could be imported later: once confined, this process can open no
    file, so a module first needed half-way through a file could not be loaded. A tenth of a
    second of silence through the whole path loads what PyAV's own modules load lazily."""
    for module in pkgutil.walk_packages(av.__path__, "av."):
        if module.name not in _AV_SKIP:
            importlib.import_module(module.name)
    silence = io.BytesIO()
    with wave.open(silence, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(audio.ACCESS_SAMPLE_RATE)
        writer.writeframes(bytes(2 * audio.ACCESS_SAMPLE_RATE // 10))
    audio.make_access_copy(silence, io.BytesIO(), max_duration_s=1.0)


def _confine(limits: dict[str, int]) -> None:
    """Take every limit on this process before it reads the upload; none can be undone."""
    for which, value in (
        (resource.RLIMIT_CPU, limits["cpu_s"]),
        (resource.RLIMIT_AS, limits["memory_bytes"]),
        (resource.RLIMIT_FSIZE, limits["file_bytes"]),
        (resource.RLIMIT_NOFILE, _MAX_OPEN_FILES),
        (resource.RLIMIT_CORE, 0),
    ):
        # Soft and hard alike: an unprivileged process cannot raise a hard limit again.
        resource.setrlimit(which, (value, value))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    # Die with the web process rather than outlive it as an orphan.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _landlock(libc)


def _held() -> dict[str, Any]:
    """The environment and the open descriptors of this process, for `probe`."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        fds.append({"fd": int(name), "target": target})
    return {"environ": dict(os.environ), "fds": fds}


def _report_self(paths: list[str]) -> dict[str, Any]:
    """The limits this process is under and which of `paths` it can open, for `probe`."""
    limits = {
        name: resource.getrlimit(getattr(resource, name))
        for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")
    }
    opened = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            opened[path] = True
        except OSError:
            opened[path] = False
    return {
        "limits": limits,
        "opened": opened,
        "landlock": _LANDLOCKED[0],
    }


def _try_limits(limits: dict[str, int]) -> dict[str, Any]:
    """Whether the file-size and open-files limits bite in this process, for `probe`: a write
    to the last byte allowed and one past it (in an anonymous memory file, which needs no
    path), and descriptors taken until the kernel refuses one."""
    size = limits["file_bytes"]
    memory = os.memfd_create("probe")
    try:
        os.pwrite(memory, b"x", size - 1)
        try:
            os.pwrite(memory, b"x", size)
            past = "written"
        except OSError as exc:
            past = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    finally:
        os.close(memory)
    taken: list[int] = []
    refused = None
    try:
        while len(taken) < 4 * _MAX_OPEN_FILES:
            taken.append(os.dup(1))
    except OSError as exc:
        refused = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    finally:
        for fd in taken:
            os.close(fd)
    return {
        "write_past_file_limit": past,
        "descriptors": {"highest": max(taken, default=2), "refused": refused},
    }


# Landlock (linux/landlock.h). The system call numbers are the same on every architecture.
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_SYS_CREATE_RULESET = 444
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
# Every file-system right each ABI version knows: 13 in version 1, then REFER (2), TRUNCATE
# (3), IOCTL_DEV (5). Network (4): TCP bind and connect. Scopes (6): abstract Unix sockets
# and signals to processes outside the domain.
_FS_RIGHTS_BY_ABI = ((1, (1 << 13) - 1), (2, (1 << 14) - 1), (3, (1 << 15) - 1), (5, (1 << 16) - 1))
_NET_ALL = 0b11
_SCOPE_ALL = 0b11
# Whether this process is confined by Landlock (a list, so the child can set it).
_LANDLOCKED = [False]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def _landlock(libc: ctypes.CDLL) -> None:
    """Give up all file-system, TCP, abstract-socket and signal access, if the kernel can.

    A ruleset that handles every right and grants none: files already open (the pipes, the
    two temporary files, the loaded libraries) keep working, nothing new can be opened. An
    older kernel without Landlock leaves the other limits in place and `probe` says so.
    """
    abi = libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    if abi < 1:
        return
    attr = _RulesetAttr()
    for version, rights in _FS_RIGHTS_BY_ABI:
        if abi >= version:
            attr.handled_access_fs = rights
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_ALL
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ALL
        size = 24
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    _LANDLOCKED[0] = True
