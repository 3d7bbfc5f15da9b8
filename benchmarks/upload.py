"""Wall time, throughput and web-worker memory of one large upload through the real server.

    .venv/bin/python benchmarks/upload.py [--size 1GiB] [--file PATH] [--keep] [--json OUT]
        [--workers N]

What it does:

1. makes a throwaway instance in a temporary folder (`testimony init`, embedded
   SQLite defaults) and starts `testimony serve` (gunicorn, gthread workers) on a free loopback
   port, in a session of its own;
2. writes a test recording of --size bytes (default 1 GiB): a valid 48 kHz stereo 16-bit WAV of
   tones and noise, about 93 minutes per GiB, written block by block (or uses --file PATH);
3. measures the disk under the same temporary folder: writing --size bytes in 8 MiB blocks with
   an fsync at the end, then reading them back (nothing is dropped from the page cache, so the
   read figure is usually the cache's);
4. posts the intake form (`/submit`, CSRF token and session cookie from `GET /`) with the
   recording as a streamed multipart body of known Content-Length over loopback, and checks
   for the receipt code on the page it answers with (after its redirect).

While the upload runs, a thread samples the RSS of every process in the server's tree every
50 ms. The web worker that handled the request is the one that used the most CPU during it;
its growth is its peak RSS (sampled, and the kernel's VmHWM high-water mark as a cross-check)
minus its RSS just before the upload. The receipt code's Argon2id hash allocates 64 MiB for
about 0.1 s near the end of every submission, whatever its size, so the table also gives the
highest level held for 250 ms or more, which leaves that spike out.

The upload's wall time is split into sending the body (the server spools it into an
`EncryptedTempFile` as it arrives; loopback is never the limit) and waiting for the response
after the last byte (validation, re-encoding to the FLAC access copy, the receipt hash and the
encrypted, fsynced writes to the store). The worker's CPU seconds in each part are printed
under the table: CPU close to wall time means the app, not the disk, sets the pace.

Targets (from the issue): worker growth under 64 MiB, and throughput limited by the disk, not
by the app. The machine's load (load average, and CPU used by processes outside the server and
this script during the upload) is printed too, since a busy machine slows everything.

Everything (temporary folder, server) is removed at the end, also on Ctrl-C or an error; with
--keep the temporary folder (instance, recording, server log) is left in place.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import psutil

MIB = 1024 * 1024
SAMPLE_RATE = 48000
CHANNELS = 2
SAMPLE_BYTES = 2
WAV_HEADER_BYTES = 44
GEN_BLOCK = 4 * MIB  # bytes per write of the generated WAV
CYCLE_S = 77  # seconds after which the generated audio repeats
SEND_BLOCK = 1 * MIB
DISK_BLOCK = 8 * MIB
SAMPLE_INTERVAL_S = 0.05
SUSTAINED_SAMPLES = 5  # 250 ms: longer than the receipt hash's 64 MiB Argon2id spike
TARGET_GROWTH_MIB = 64.0

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Arguments and small helpers


def parse_size(text: str) -> int:
    """Bytes from '1073741824', '1GiB', '1G', '512MiB', '512M' (binary units throughout)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"cannot read {text!r} as a size")
    number, unit = float(match.group(1)), match.group(2).lower()
    power = " kmgt".index(unit) if unit else 0
    size = int(number * 1024**power)
    if size < 1 * MIB:
        raise argparse.ArgumentTypeError("the size must be at least 1 MiB")
    return size


def fmt_bytes(n: float) -> str:
    """'1.00 GiB', '37.2 MiB'."""
    if n >= 1024**3:
        return f"{n / 1024**3:.2f} GiB"
    return f"{n / MIB:.1f} MiB"


def fmt_duration(seconds: float | None) -> str:
    """'1 h 33 min 12 s' style, or '?' when unknown."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def testimony_command() -> list[str]:
    """The `testimony` entry point of the interpreter running this script."""
    beside = Path(sys.executable).parent / "testimony"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("testimony")
    if found:
        return [found]
    return [sys.executable, "-c", "from intake.cli import main; main()"]


def busy_cpu_s() -> float:
    """System-wide CPU seconds spent not idle (all cores), since boot."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def iowait_s() -> float:
    """System-wide CPU seconds spent waiting for I/O, since boot."""
    return float(getattr(psutil.cpu_times(), "iowait", 0.0))


# --------------------------------------------------------------------------------------------
# The test recording


def tone_cycle() -> bytes:
    """77 s of stereo 16-bit audio that loops seamlessly: a gliding tone per channel plus noise.

    The glides repeat every 7 s and 11 s and the carriers complete whole cycles in 77 s, so the
    end joins the start without a click; the noise repeats too, which no codec here notices.
    """
    t = np.arange(CYCLE_S * SAMPLE_RATE, dtype=np.float64) / SAMPLE_RATE
    block = np.empty((t.size, CHANNELS), dtype=np.float64)
    block[:, 0] = 0.3 * np.sin(2 * np.pi * (220.0 * t + 40.0 * np.sin(2 * np.pi * t / 7.0)))
    block[:, 1] = 0.3 * np.sin(2 * np.pi * (330.0 * t + 60.0 * np.sin(2 * np.pi * t / 11.0)))
    block += np.random.default_rng(12345).normal(0.0, 0.01, size=block.shape)
    return bytes((block * 32767.0).astype("<i2").tobytes())


def write_wav(path: Path, size: int) -> float:
    """Write a 48 kHz stereo 16-bit WAV of `size` bytes in blocks; returns its duration in s.

    The audio is a slowly gliding tone per channel plus noise about 30 dB below it: neither
    silence (which every codec makes trivial) nor pure noise (the worst case for FLAC).
    Only one 77 s cycle (about 14 MiB) is ever in memory.
    """
    frame_bytes = CHANNELS * SAMPLE_BYTES
    frames = (size - WAV_HEADER_BYTES) // frame_bytes
    if frames <= 0:
        raise ValueError("size too small for a WAV file")
    cycle = memoryview(tone_cycle())
    with wave.open(str(path), "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(SAMPLE_BYTES)
        out.setframerate(SAMPLE_RATE)
        out.setnframes(frames)  # header written right first time: no patch-up seek
        left, pos = frames * frame_bytes, 0
        while left > 0:
            n = min(left, GEN_BLOCK, len(cycle) - pos)
            out.writeframesraw(cycle[pos : pos + n])
            pos = (pos + n) % len(cycle)
            left -= n
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    return frames / SAMPLE_RATE


def wav_duration(path: Path) -> float | None:
    """The duration a WAV header states, or None if `path` is not a WAV the module reads."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError, OSError):
        return None


# --------------------------------------------------------------------------------------------
# Disk


@dataclass
class DiskResult:
    """Plain sequential write (with fsync) and read-back of `bytes` bytes."""

    bytes: int
    write_s: float
    read_s: float

    @property
    def write_mib_s(self) -> float:
        return self.bytes / MIB / self.write_s

    @property
    def read_mib_s(self) -> float:
        return self.bytes / MIB / self.read_s


def measure_disk(folder: Path, size: int) -> DiskResult:
    """Write `size` bytes in 8 MiB blocks and fsync, then read them back; the file is removed."""
    path = folder / "disk-test.bin"
    block = os.urandom(DISK_BLOCK)
    view = memoryview(block)
    try:
        start = time.perf_counter()
        with open(path, "wb", buffering=0) as fh:
            left = size
            while left > 0:
                n = min(left, DISK_BLOCK)
                fh.write(view[:n])
                left -= n
            os.fsync(fh.fileno())
        write_s = time.perf_counter() - start
        buf = bytearray(DISK_BLOCK)
        start = time.perf_counter()
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
        read_s = time.perf_counter() - start
    finally:
        path.unlink(missing_ok=True)
    return DiskResult(size, write_s, read_s)


# --------------------------------------------------------------------------------------------
# The server


class Server:
    """`testimony serve` on a loopback port, in its own session, with a throwaway instance."""

    def __init__(self, root: Path, port: int, workers: int, size: int) -> None:
        self.root = root
        self.port = port
        self.log_path = root / "server.log"
        self.env = dict(os.environ)
        self.env.update(
            TESTIMONY_INSTANCE_PATH=str(root / "instance"),
            TESTIMONY_HOST="127.0.0.1",
            TESTIMONY_PORT=str(port),
            TESTIMONY_WEB_WORKERS=str(workers),
            # Room for the file and the form around it, whatever --size is.
            TESTIMONY_MAX_UPLOAD_BYTES=str(max(2 * 1024**3, size + 16 * MIB)),
            TESTIMONY_MAX_DURATION_S=str(max(6 * 3600.0, 2.0 * size / (SAMPLE_RATE * 4))),
        )
        for name in ("TESTIMONY_DATABASE_URL", "TESTIMONY_BROKER_URL", "TESTIMONY_STORAGE_PATH"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def init(self) -> None:
        """`testimony init` for the instance."""
        done = subprocess.run(
            [*testimony_command(), "init"],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if done.returncode:
            err = done.stderr.decode(errors="replace")
            raise RuntimeError(f"testimony init failed ({done.returncode}):\n{err}")

    def start(self, timeout_s: float = 60.0) -> None:
        """Start serving and wait until `GET /` answers 200."""
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*testimony_command(), "serve"],
            env=self.env,
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer within {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def process(self) -> psutil.Process:
        """The gunicorn arbiter (the `testimony serve` process itself)."""
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM to the whole session (graceful), SIGKILL after 15 s; idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        if proc is not None:
            # Workers left behind by a dead arbiter share its process group id.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


# --------------------------------------------------------------------------------------------
# Memory sampling


@dataclass
class ProcStats:
    """What the sampler saw of one process of the server's tree."""

    pid: int
    role: str
    baseline_rss: int = 0
    peak_rss: int = 0
    peak_rss_send: int = 0
    peak_rss_process: int = 0
    cpu_start_s: float = 0.0
    cpu_sent_s: float = 0.0
    cpu_end_s: float = 0.0
    hwm_before: int | None = None
    hwm_after: int | None = None
    timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def cpu_s(self) -> float:
        return self.cpu_end_s - self.cpu_start_s

    def sustained_peak_rss(self, samples: int = SUSTAINED_SAMPLES) -> int:
        """The highest RSS held for `samples` consecutive samples (a short spike filtered out)."""
        rss = [r for _, r in self.timeline]
        if len(rss) < samples:
            return max(rss, default=self.baseline_rss)
        return max(min(rss[i : i + samples]) for i in range(len(rss) - samples + 1))

    @property
    def cpu_send_s(self) -> float:
        return self.cpu_sent_s - self.cpu_start_s

    @property
    def cpu_process_s(self) -> float:
        return self.cpu_end_s - self.cpu_sent_s


def vm_hwm(pid: int) -> int | None:
    """The kernel's peak-RSS mark (VmHWM) of a process in bytes, where /proc has it."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


class Sampler(threading.Thread):
    """Samples the RSS of every process in the server's tree every 50 ms."""

    def __init__(self, root: psutil.Process) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.root = root
        self.stats: dict[int, ProcStats] = {}
        self.phase = "baseline"
        self.t0 = time.perf_counter()
        self._halt = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self.samples = 0

    def _tree(self) -> list[psutil.Process]:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            self._procs.setdefault(p.pid, p)
        return [self._procs[p.pid] for p in procs]

    def sample_once(self) -> None:
        now = time.perf_counter() - self.t0
        for proc in self._tree():
            try:
                rss = int(proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            st = self.stats.get(proc.pid)
            if st is None:
                role = "arbiter" if proc.pid == self.root.pid else "worker"
                st = ProcStats(proc.pid, role)
                self.stats[proc.pid] = st
            if self.phase == "baseline":
                st.baseline_rss = rss
                st.peak_rss = rss
                continue
            st.peak_rss = max(st.peak_rss, rss)
            if self.phase == "send":
                st.peak_rss_send = max(st.peak_rss_send, rss)
            else:
                st.peak_rss_process = max(st.peak_rss_process, rss)
            st.timeline.append((round(now, 3), rss))
        self.samples += 1

    def mark_start(self) -> None:
        """Take the baseline (and CPU and VmHWM marks) just before the upload starts."""
        self.sample_once()
        for st in list(self.stats.values()):
            st.hwm_before = vm_hwm(st.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                st.cpu_start_s = cpu_s(self._procs[st.pid])
        self.phase = "send"

    def mark_sent(self) -> None:
        """The last byte of the body is sent: CPU marks, and later samples count as processing."""
        for st in list(self.stats.values()):
            with contextlib.suppress(psutil.NoSuchProcess, KeyError):
                st.cpu_sent_s = cpu_s(self._procs[st.pid])
        self.phase = "process"

    def mark_end(self) -> None:
        """Final sample and CPU and VmHWM marks, right after the response is read."""
        self.sample_once()
        for st in list(self.stats.values()):
            st.hwm_after = vm_hwm(st.pid)
            try:
                st.cpu_end_s = cpu_s(self._procs[st.pid])
            except psutil.NoSuchProcess:
                st.cpu_end_s = st.cpu_start_s
            if not st.cpu_sent_s:  # the body was never sent whole
                st.cpu_sent_s = st.cpu_end_s

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_INTERVAL_S):
            self.sample_once()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# --------------------------------------------------------------------------------------------
# The upload


@dataclass
class UploadResult:
    """One POST /submit of the recording."""

    status: int
    receipt_ok: bool
    body_bytes: int
    send_s: float
    wait_s: float
    read_s: float
    wall_s: float
    error: str = ""


def form_page(port: int) -> tuple[str, str, str]:
    """GET / and return (cookie header, CSRF token, the form's one-time token)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        html = resp.read().decode("utf-8", "replace")
        cookies = SimpleCookie()
        for header in resp.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
    finally:
        conn.close()
    match = _TOKEN.search(html)
    form = _FORM_TOKEN.search(html)
    if resp.status != 200 or not match or not form:
        raise RuntimeError(f"GET / answered {resp.status} without a CSRF or form token")
    return _cookie_header(cookies), match.group(1), form.group(1)


def _cookie_header(cookies: SimpleCookie) -> str:
    return "; ".join(f"{k}={m.value}" for k, m in cookies.items())


def follow_to_receipt(port: int, location: str, cookie: str, set_cookies: list[str]) -> bytes:
    """GET the page the intake form redirects to (the receipt), with the session it set."""
    cookies = SimpleCookie()
    for pair in filter(None, cookie.split("; ")):
        cookies.load(pair)
    for header in set_cookies:
        cookies.load(header)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", location, headers={"Cookie": _cookie_header(cookies)})
        return conn.getresponse().read()
    finally:
        conn.close()


def multipart_parts(
    fields: dict[str, str], file_field: str, filename: str, boundary: str
) -> tuple[bytes, bytes]:
    """The bytes before and after the file's content in a multipart/form-data body."""
    head = bytearray()
    for name, value in fields.items():
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return bytes(head), tail


def file_blocks(path: Path, block: int = SEND_BLOCK) -> Iterator[memoryview]:
    """The file's content in blocks, one reused buffer (never the whole file in memory)."""
    buf = bytearray(block)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            yield view[:n]


def upload(port: int, path: Path, sampler: Sampler) -> UploadResult:
    """POST the intake form with `path` streamed as the audio part; time its phases."""
    cookie, token, form_token = form_page(port)
    boundary = "bench" + uuid.uuid4().hex
    fields = {
        "csrf_token": token,
        "form_token": form_token,
        "language": "en",
        "transcribe": "y",
        "archive": "y",
    }
    head, tail = multipart_parts(fields, "audio", path.name, boundary)
    length = len(head) + path.stat().st_size + len(tail)

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    sampler.mark_start()
    start = time.perf_counter()
    status, body, error = 0, b"", ""
    sent_at = start
    try:
        conn.putrequest("POST", "/submit")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(length))
        conn.putheader("Cookie", cookie)
        conn.endheaders()
        conn.send(head)
        for block in file_blocks(path):
            conn.send(block)
        conn.send(tail)
        sent_at = time.perf_counter()
        sampler.mark_sent()
        resp = conn.getresponse()
        answered_at = time.perf_counter()
        status = resp.status
        body = resp.read()
        if status == 303:  # the intake form answers with a redirect to its receipt page
            set_cookies = resp.headers.get_all("Set-Cookie") or []
            body = follow_to_receipt(port, resp.headers["Location"], cookie, set_cookies)
    except (OSError, http.client.HTTPException) as exc:
        # The server may answer early (413, 400) and close; say what it said if it did.
        error = f"{type(exc).__name__}: {exc}"
        answered_at = time.perf_counter()
        if sent_at == start:
            sent_at = answered_at
    finally:
        done_at = time.perf_counter()
        sampler.mark_end()
        conn.close()
    return UploadResult(
        status=status,
        receipt_ok=status in (200, 303) and b'id="receipt-code"' in body,
        body_bytes=length,
        send_s=sent_at - start,
        wait_s=answered_at - sent_at,
        read_s=done_at - answered_at,
        wall_s=done_at - start,
        error=error,
    )


# --------------------------------------------------------------------------------------------
# Report


def report_rows(
    size: int, duration_s: float | None, up: UploadResult, worker: ProcStats, disk: DiskResult
) -> list[tuple[str, str]]:
    growth = (worker.peak_rss - worker.baseline_rss) / MIB
    hwm = (
        f" (VmHWM {(worker.hwm_after - worker.baseline_rss) / MIB:+.1f} MiB)"
        if worker.hwm_after is not None
        else ""
    )
    ok = "under" if growth < TARGET_GROWTH_MIB else "OVER"
    return [
        ("File size", fmt_bytes(size)),
        ("Audio duration", fmt_duration(duration_s)),
        ("Upload wall time", f"{up.wall_s:.1f} s"),
        ("Throughput", f"{size / MIB / up.wall_s:.1f} MiB/s"),
        ("Send time (body, spooled as it arrives)", f"{up.send_s:.1f} s"),
        ("Processing after the last byte", f"{up.wait_s + up.read_s:.1f} s"),
        (
            "Web worker peak RSS growth",
            f"{growth:.1f} MiB{hwm}, {ok} the {TARGET_GROWTH_MIB:.0f} MiB target",
        ),
        (
            "  the same, held for 250 ms or more",
            f"{(worker.sustained_peak_rss() - worker.baseline_rss) / MIB:.1f} MiB",
        ),
        ("Disk write throughput (8 MiB blocks + fsync)", f"{disk.write_mib_s:.0f} MiB/s"),
        ("Disk read-back throughput (page cache not dropped)", f"{disk.read_mib_s:.0f} MiB/s"),
    ]


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    vwidth = max(len(v) for _, v in rows)
    print(f"| {'Measure'.ljust(width)} | {'Value'.ljust(vwidth)} |")
    print(f"|{'-' * (width + 2)}|{'-' * (vwidth + 2)}|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value.ljust(vwidth)} |")


# --------------------------------------------------------------------------------------------
# Main


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=parse_size, default=1024**3, help="size of the test file (default 1GiB)"
    )
    parser.add_argument(
        "--file", type=Path, help="upload this file instead of generating one (kept)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn web workers (default 2, as configured)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    root = Path(tempfile.mkdtemp(prefix="testimony-upload-bench-"))
    server: Server | None = None
    try:
        if args.file is not None:
            audio_path = args.file.resolve()
            size = audio_path.stat().st_size
            duration = wav_duration(audio_path)
        else:
            size = args.size
            audio_path = root / "recording.wav"
            print(f"writing a {fmt_bytes(size)} WAV to {audio_path} ...", flush=True)
            t = time.perf_counter()
            duration = write_wav(audio_path, size)
            print(f"  {fmt_duration(duration)} of audio in {time.perf_counter() - t:.1f} s")

        print(f"measuring the disk under {root} ({fmt_bytes(size)}) ...", flush=True)
        disk = measure_disk(root, size)
        print(f"  write+fsync {disk.write_mib_s:.0f} MiB/s, read {disk.read_mib_s:.0f} MiB/s")
        os.sync()

        port = free_port()
        server = Server(root, port, args.workers, size)
        server.init()
        server.start()
        print(f"server on 127.0.0.1:{port} (log {server.log_path})", flush=True)

        sampler = Sampler(server.process())
        # A first request warms up a worker (imports, templates) before the baseline.
        form_page(port)
        time.sleep(0.5)
        sampler.start()
        time.sleep(0.3)

        load_before = os.getloadavg()
        busy0, iowait0, me0 = busy_cpu_s(), iowait_s(), cpu_s(psutil.Process())
        print(f"uploading (load average {load_before[0]:.2f}) ...", flush=True)
        up = upload(port, audio_path, sampler)
        busy1, iowait1, me1 = busy_cpu_s(), iowait_s(), cpu_s(psutil.Process())
        load_after = os.getloadavg()
        sampler.stop()

        stats = list(sampler.stats.values())
        workers = [s for s in stats if s.role == "worker"] or stats
        worker = max(workers, key=lambda s: s.cpu_s)
        server_cpu = sum(s.cpu_s for s in stats)
        other_cpu = max(0.0, (busy1 - busy0) - server_cpu - (me1 - me0))

        print()
        if up.error or not up.receipt_ok:
            print(f"UPLOAD FAILED: HTTP {up.status} {up.error}".rstrip())
            print(server.log_tail())
        rows = report_rows(size, duration, up, worker, disk)
        print_table(rows)
        print()
        print(
            f"Response HTTP {up.status}, receipt code on the page: {up.receipt_ok}. "
            f"Worker pid {worker.pid}: RSS {worker.baseline_rss / MIB:.1f} MiB before, peak "
            f"{worker.peak_rss_send / MIB:.1f} MiB while receiving, "
            f"{worker.peak_rss_process / MIB:.1f} MiB while processing "
            f"({sampler.samples} samples); CPU {worker.cpu_s:.1f} s ({worker.cpu_send_s:.1f} s "
            f"while receiving, {worker.cpu_process_s:.1f} s after the last byte)."
        )
        print(
            f"Machine: {psutil.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after; during the upload the server used "
            f"{server_cpu:.1f} CPU-s, this script {me1 - me0:.1f} CPU-s, other processes "
            f"{other_cpu:.1f} CPU-s, I/O wait {iowait1 - iowait0:.1f} CPU-s "
            f"over {up.wall_s:.1f} s wall."
        )
        disk_bound_s = 2 * size / MIB / disk.write_mib_s
        print(
            f"For scale: writing the upload twice at the measured disk rate (spool + stored "
            f"original) takes {disk_bound_s:.1f} s; the upload took {up.wall_s:.1f} s."
        )

        if args.json is not None:
            result = {
                "size_bytes": size,
                "audio_duration_s": duration,
                "upload": asdict(up),
                "throughput_mib_s": size / MIB / up.wall_s,
                "worker": {k: v for k, v in asdict(worker).items() if k != "timeline"}
                | {
                    "growth_mib": (worker.peak_rss - worker.baseline_rss) / MIB,
                    "sustained_growth_mib": (worker.sustained_peak_rss() - worker.baseline_rss)
                    / MIB,
                    "cpu_s": worker.cpu_s,
                    "cpu_send_s": worker.cpu_send_s,
                    "cpu_process_s": worker.cpu_process_s,
                },
                "worker_timeline": worker.timeline,
                "processes": [
                    {k: v for k, v in asdict(s).items() if k != "timeline"} for s in stats
                ],
                "disk": asdict(disk)
                | {"write_mib_s": disk.write_mib_s, "read_mib_s": disk.read_mib_s},
                "machine": {
                    "cpus": psutil.cpu_count(),
                    "load_before": load_before,
                    "load_after": load_after,
                    "server_cpu_s": server_cpu,
                    "bench_cpu_s": me1 - me0,
                    "other_cpu_s": other_cpu,
                    "iowait_s": iowait1 - iowait0,
                },
                "table": dict(rows),
            }
            args.json.write_text(json.dumps(result, indent=2) + "\n")
            print(f"results written to {args.json}")
        return 0 if up.receipt_ok and not up.error else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
