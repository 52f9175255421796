"""The command line as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HAGRID = REPO.parent / "shared" / "data" / "hands" / "hagrid"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartshelf", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("command", ["run", "replay", "eval", "check-config", "models", "detect",
                                     "calibrate", "zones", "record"])
def test_every_command_has_help(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: smartshelf" in proc.stdout


def test_compose_takes_its_own_options(tmp_path):
    """Regression: `smartshelf compose --seed 3 ...` was rejected ('unrecognized arguments')."""
    out = tmp_path / "clip.mp4"
    proc = cli("compose", "--seed", "3", "--out", str(out), "--interactions", "1")
    assert proc.returncode == 0, proc.stderr
    labels = json.loads(out.with_name("clip.labels.json").read_text())
    assert out.stat().st_size > 0 and len(labels["events"]) == 1


def test_detect_hands_only_json(models_dir):
    if not HAGRID.is_dir():
        pytest.skip(f"HaGRID images not found at {HAGRID} (../shared is absent)")
    image = HAGRID / "four" / "105f8f8e-ccd6-45a0-b22a-e314930bc13e.jpg"
    shelf = REPO / "docs" / "annotated.png"
    proc = cli("detect", str(image), str(shelf), "--hands-only", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in lines] == [str(image), str(shelf)]
    assert len(lines[0]["hands"]) == 1
    x1, y1, x2, y2 = lines[0]["hands"][0]["xyxy"]
    assert x1 < 240 < x2 and y1 < 140 < y2  # the hand in this photo
    assert lines[0]["hands"][0]["score"] >= 0.5


def test_detect_missing_file_is_one_line_exit_2(tmp_path):
    proc = cli("detect", str(tmp_path / "nope.jpg"), "--hands-only", "--json")
    assert proc.returncode == 2
    assert "nope.jpg" in proc.stderr and "Traceback" not in proc.stderr
