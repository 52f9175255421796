"""Config parsing: the minimal file is valid; every bad file gets one line naming file, key, value."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smartshelf.config import load_config
from smartshelf.errors import ConfigError

MINIMAL = """\
cameras:
  - name: shelf-1
    source: {source}
    zones:
      - name: B2
        polygon: [[120, 80], [300, 80], [300, 200], [120, 200]]
        sku: "optional product id"
"""
BASE = MINIMAL.format(source="../recordings/demo.mp4")


@pytest.fixture
def video(tmp_path: Path) -> Path:
    p = tmp_path / "recordings" / "demo.mp4"
    p.parent.mkdir()
    p.write_bytes(b"not decoded by the config loader")
    return p


def write(tmp_path: Path, text: str) -> Path:
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir(exist_ok=True)
    p = cfg_dir / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_minimal_file_is_valid_and_defaults_the_rest(tmp_path, video):
    cfg = load_config(write(tmp_path, MINIMAL.format(source="../recordings/demo.mp4")))
    cam = cfg.cameras[0]
    assert cam.source == str(video.resolve())  # relative to the config file's folder
    assert cam.zones[0].sku == "optional product id"
    assert cfg.detectors.hands.type == "palm"
    assert cfg.mqtt.qos == 1


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (BASE.replace("sku:", "skew:"), "cameras[0].zones[0].skew", "unknown key"),
        (BASE + "tracker: {min_hits: 'three'}\n", "tracker.min_hits", "expected an integer"),
        (BASE.replace("[[120, 80], [300, 80], [300, 200], [120, 200]]", "[[1, 2], [3, 4]]"),
         "cameras[0].zones[0].polygon", "at least 3 points"),
        (BASE.replace("[[120, 80], [300, 80], [300, 200], [120, 200]]",
                         "[[120, 80], [300, 200], [300, 80], [120, 200]]"),
         "cameras[0].zones[0].polygon", "self-intersecting"),
        (BASE + "      - name: B2\n        polygon: [[0, 0], [9, 0], [9, 9]]\n",
         "cameras[0].zones[1].name", "duplicate zone name"),
        (BASE.replace("../recordings/demo.mp4", "../recordings/missing.mp4"),
         "cameras[0].source", "video file not found"),
        (BASE.replace("../recordings/demo.mp4", "rtsp://"), "cameras[0].source", "URL"),
        (BASE.replace("../recordings/demo.mp4", "ftp://cam.local/x"), "cameras[0].source", "URL"),
        (BASE + "mqtt: {qos: 3}\n", "mqtt.qos", "expected one of"),
        (BASE + "detectors: {shelf: {cell_motion_threshold: 0}}\n",
         "detectors.shelf.cell_motion_threshold", "expected > 0"),
        ("cameras: []\n", "cameras", "at least one camera"),
        ("cameras: {name: x}\n", "cameras", "expected list"),
    ],
)
def test_bad_config_names_file_key_and_value(tmp_path, video, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: ")
    assert fragment in message
    assert "\n" not in message
    assert "(got " in message


def test_duplicate_camera_names(tmp_path, video):
    text = MINIMAL.format(source="../recordings/demo.mp4")
    text += text.split("\n", 1)[1]
    with pytest.raises(ConfigError, match=r"cameras\[1\]\.name: duplicate camera name"):
        load_config(write(tmp_path, text))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml: line \d+: not valid YAML"):
        load_config(write(tmp_path, "cameras:\n  - name: [unclosed\n"))


def test_cli_check_config_prints_one_line_and_exits_2(tmp_path, video):
    path = write(tmp_path, MINIMAL.format(source="../recordings/demo.mp4") + "bogus: 1\n")
    proc = subprocess.run([sys.executable, "-m", "smartshelf", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bogus" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_check_config_ok(tmp_path, video):
    path = write(tmp_path, MINIMAL.format(source="../recordings/demo.mp4"))
    proc = subprocess.run([sys.executable, "-m", "smartshelf", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_nested_path_keys_are_read(tmp_path, video):
    """Regression: `path` is filled in by the loader on the top level only; outbox.path was
    rejected as an unknown key."""
    text = BASE + "outbox: {path: ../state/o.sqlite}\noutput: {jsonl: ../out/e.jsonl}\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.outbox.path == "../state/o.sqlite"
    assert cfg.resolve(cfg.outbox.path) == (tmp_path / "state" / "o.sqlite").resolve()
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(write(tmp_path, BASE + "base_dir: /etc\n"))
