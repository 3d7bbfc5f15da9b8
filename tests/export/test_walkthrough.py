"""docs/export.md's walkthrough for a receiving archive, run as written (every command taken
from the page) on a real export: validate the bag, check the profile, verify the custody
offline, play the OHMS file's audio in a real Chromium, open the preservation bag."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET  # noqa: S405 - parses what the export wrote
from pathlib import Path

import pytest
from flask import Flask

from intake import crypto
from intake.config import Config
from intake.export.ohms import NAMESPACE, validate_ohms
from intake.records import checkpoints
from tests.export.approved import approved_record
from tests.export.docs_support import snippet
from tests.export.test_export_runs import NAMED, _export

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "intake" / "export" / "schemas" / "bagit-profile.json"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def _run(name: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - the documented command, on our own export
        ["/bin/bash", "-c", snippet(name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our local server
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _plays_in_chromium(url: str) -> dict[str, float]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium (install the Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            return dict(
                page.evaluate(
                    """async (src) => {
                        const audio = new Audio(src);
                        await new Promise((ok, fail) => {
                            audio.oncanplay = ok;
                            audio.onerror = () => fail(new Error("error " + audio.error.code));
                        });
                        await audio.play();
                        await new Promise((ok) => setTimeout(ok, 400));
                        audio.pause();
                        return {duration: audio.duration, played: audio.currentTime};
                    }""",
                    url,
                )
            )
        finally:
            browser.close()


def test_the_documented_walkthrough_runs_on_a_real_export(
    app: Flask, migrated: Config, tmp_path: Path
) -> None:
    private, public = crypto.new_key_pair()
    migrated.preservation_public_key_file.parent.mkdir(parents=True, exist_ok=True)
    migrated.preservation_public_key_file.write_text(public.hex())
    pseudonym = approved_record(app, seconds=3.0, consent=NAMED)  # the audio leaves
    out = tmp_path / "export"
    _export(app, out)

    # What the receiving archive has: its private key, the published checkpoint key, the
    # two scripts of the page.
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "archive-private.key").write_text(private.hex())
    published = checkpoints.public_key_file(migrated.checkpoint_key_file)
    shutil.copy(published, archive / "checkpoint.pub")
    shutil.copy(ROOT / "docs" / "verify_bag.py", archive / "verify_bag.py")
    (archive / "open_sealed.py").write_text(snippet("open-sealed"))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "BAG": str(out / pseudonym),
        "PRESERVATION": str(out / "preservation" / pseudonym),
        "PROFILE": str(PROFILE),
    }

    _run("walk-validate", archive, env)
    assert "follows the profile" in _run("walk-profile", archive, env)
    assert _run("walk-custody", archive, env).count("ok    ") == 5

    # Step 4 on a copy, as the page says; the payload served by the documented command.
    viewer = tmp_path / "viewer" / pseudonym
    shutil.copytree(out / pseudonym, viewer)
    port = str(_free_port())
    served = {**env, "BAG": str(viewer), "PORT": port}
    server = subprocess.Popen(  # noqa: S603 - the documented command
        ["/bin/bash", "-c", "exec " + snippet("walk-serve").strip()],
        cwd=archive,
        env=served,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/")
        _run("walk-media-url", archive, served)
        document = (viewer / "data" / "metadata" / f"{pseudonym}.ohms.xml").read_bytes()
        validate_ohms(document)
        rec = ET.fromstring(document).find("o:record", {"o": NAMESPACE})  # noqa: S314
        assert rec is not None
        media_url = rec.findtext("o:media_url", namespaces={"o": NAMESPACE}) or ""
        assert media_url == f"http://127.0.0.1:{port}/audio/{pseudonym}.mp3"
        played = _plays_in_chromium(media_url)
        assert abs(played["duration"] - 3.0) < 0.3 and played["played"] > 0
    finally:
        server.terminate()
        server.wait(timeout=10)

    _run("walk-preservation", archive, env)
    assert (archive / f"{pseudonym}-01.bin").read_bytes()[:4] == b"RIFF"
    assert (archive / f"{pseudonym}.en.json").read_bytes().startswith(b"{")
