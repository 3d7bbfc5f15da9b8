"""Slow and stalled uploads against `testimony serve`: does anyone else still get in?

Starts `testimony serve` on a free loopback port with a fresh instance in a temporary folder,
opens 200 uploads that send at 10 KB/s each and 100 that send their headers and then nothing,
and meanwhile fetches the home page on new connections, twice a second. Prints the uploads in
flight and the home page's p50/p95/max (the target: p95 under 1 s). Runs for --seconds (20),
stops by itself, and talks to 127.0.0.1 only.

With --trickle N it runs a slowloris instead: N connections, each sending one byte of a request
line and headers that never end every --interval seconds (2), and opening a new connection
whenever the server closes one (as an attacker would), so N are always trying. Prints how many
connections the server held at once, how many it closed at the header deadline, and the home
page's figures meanwhile. N is at most 10,000 (loopback only).

    .venv/bin/python benchmarks/slow_clients.py [--slow 200] [--stalled 100] [--seconds 20]
    .venv/bin/python benchmarks/slow_clients.py --trickle 10000 [--interval 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEAD = (
    b"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
    b"Content-Length: 50000000\r\n\r\n"
    b'--XyZ\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\nRIFF'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_home(port: int) -> float:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if not s.recv(64).startswith(b"HTTP/1.1 200"):
            raise RuntimeError("home page did not answer 200")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--stalled", type=int, default=100)
    parser.add_argument("--rate", type=int, default=10_000, help="bytes/s per slow upload")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--trickle", type=int, default=0, help="slowloris connections (max 10000)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between header bytes")
    args = parser.parse_args()
    args.trickle = min(args.trickle, 10_000)
    # Our own sockets: the usual soft limit of 1024 would stop the client first.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    exe = Path(sys.executable).with_name("testimony")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TESTIMONY_INSTANCE_PATH": folder, "PYTHONUNBUFFERED": "1"}
        subprocess.run([str(exe), "init"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    get_home(port)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            if args.trickle:
                trickle_attack(port, args)
            else:
                run(port, args)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def run(port: int, args: argparse.Namespace) -> None:
    def open_upload() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(HEAD)
        return s

    stalled = [open_upload() for _ in range(args.stalled)]
    slow = [open_upload() for _ in range(args.slow)]
    stop = threading.Event()
    tick = 0.1
    chunk = b"\0" * int(args.rate * tick)
    dropped = [0]

    def trickle() -> None:
        alive = list(slow)
        while not stop.is_set():
            started = time.monotonic()
            for s in list(alive):
                try:
                    s.sendall(chunk)
                except OSError:
                    alive.remove(s)
                    dropped[0] += 1
            stop.wait(max(0.0, tick - (time.monotonic() - started)))

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    timings: list[float] = []
    end = time.monotonic() + args.seconds
    try:
        time.sleep(1.0)
        while time.monotonic() < end:
            timings.append(get_home(port))
            time.sleep(0.5)
    finally:
        stop.set()
        sender.join(timeout=10)
        for s in stalled + slow:
            s.close()
    timings.sort()
    p95 = timings[max(0, int(round(0.95 * len(timings))) - 1)]
    print(f"uploads in flight: {args.slow} at {args.rate / 1000:.0f} KB/s "
          f"({dropped[0]} dropped by the server) + {args.stalled} stalled")
    p50 = statistics.median(timings)
    print(f"home page over {len(timings)} requests: p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms (target: p95 under 1 s)")


# A request line and a header that never ends: one byte of it goes out per interval.
TRICKLE = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "


def _next_byte(position: int) -> bytes:
    return TRICKLE[position : position + 1] if position < len(TRICKLE) else b"a"


def trickle_attack(port: int, args: argparse.Namespace) -> None:
    """Keep `args.trickle` slowloris connections going for `args.seconds`, fetching the home
    page twice a second meanwhile."""

    def connect() -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            return None
        s.setblocking(False)
        return s

    conns: dict[socket.socket, int] = {}
    failed_connects = [0]
    closed_by_server = [0]
    held: list[int] = []
    stop = threading.Event()

    opened = threading.Event()

    def attack() -> None:
        while len(conns) < args.trickle and not stop.is_set():
            s = connect()
            if s is None:
                failed_connects[0] += 1
                continue
            conns[s] = 0
        opened.set()
        while not stop.is_set():
            started = time.monotonic()
            # The server's closes show as sockets that read b"" (or reset); an open one has
            # nothing to read (the server never answers a request that never ends).
            for s in list(conns):
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed_by_server[0] += 1
                    del conns[s]
                    s.close()
            held.append(len(conns))
            for s, position in list(conns.items()):
                try:
                    s.send(_next_byte(position))
                    conns[s] = position + 1
                except OSError:
                    closed_by_server[0] += 1
                    del conns[s]
                    s.close()
            while len(conns) < args.trickle and not stop.is_set():
                if time.monotonic() - started > args.interval:
                    break  # reconnect the rest on the next round
                s = connect()
                if s is None:
                    failed_connects[0] += 1
                    break
                conns[s] = 0
            stop.wait(max(0.0, args.interval - (time.monotonic() - started)))

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    timings: list[float] = []
    failures = 0
    end = time.monotonic() + args.seconds
    try:
        opened.wait(timeout=120)  # measure once all N are open
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            try:
                timings.append(get_home(port))
            except (OSError, RuntimeError):
                failures += 1
            time.sleep(0.5)
    finally:
        stop.set()
        attacker.join(timeout=60)
        for s in list(conns):
            s.close()
    timings.sort()
    print(f"slowloris: {args.trickle} connections, one header byte every {args.interval:g} s, "
          f"for {args.seconds:g} s")
    if held:
        print(f"connections held open at once: max {max(held)}, median "
              f"{statistics.median(held):.0f}; closed by the server at the header deadline: "
              f"{closed_by_server[0]}; connects refused or timed out: {failed_connects[0]}")
    if timings:
        p95 = timings[max(0, int(round(0.95 * len(timings))) - 1)]
        print(f"home page over {len(timings)} requests ({failures} failed): p50 "
              f"{statistics.median(timings) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max "
              f"{timings[-1] * 1000:.0f} ms (target: p95 under 1 s)")
    else:
        print(f"home page: no answer in {failures} tries")


if __name__ == "__main__":
    main()
