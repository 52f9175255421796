"""Model provisioning: fetch MediaPipe's palm detectors from the pinned wheel, verify checksums.

The BlazePalm .tflite files ship inside the `mediapipe==0.10.14` wheel (Apache-2.0). We only
download that wheel (never install it: its protobuf pin clashes with TensorFlow's) and copy the
two model files out of it. Nothing here runs at import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from smartshelf.errors import ModelError

log = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.14"
# The wheel's actual tags are cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64; asking pip
# for one fixed platform makes the download the same file on any host (the .tflite inside is
# identical across platforms anyway).
WHEEL_PLATFORM = "manylinux_2_17_x86_64"
WHEEL_PYTHON = "3.11"

PALM_FULL = "palm_detection_full.tflite"
PALM_LITE = "palm_detection_lite.tflite"

# name -> sha256 of the file as it is inside mediapipe-0.10.14 (same values in models/README.md).
PINNED_SHA256: dict[str, str] = {
    PALM_FULL: "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    PALM_LITE: "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
}
_WHEEL_DIR = "mediapipe/modules/palm_detection/"

State = Literal["ok", "missing", "mismatch"]


@dataclass(frozen=True)
class ModelStatus:
    """What `verify` found for one pinned model file."""

    name: str
    path: Path
    expected_sha256: str
    actual_sha256: str | None  # None when the file is missing
    state: State


def default_models_dir() -> Path:
    """`$SMARTSHELF_MODELS`, else the repo's `models/` folder."""
    env = os.environ.get("SMARTSHELF_MODELS")
    if env:
        return Path(env).expanduser()
    import smartshelf

    return Path(smartshelf.__file__).resolve().parents[1] / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(models_dir: Path, names: Iterable[str] | None = None) -> list[ModelStatus]:
    """Check each pinned model file in `models_dir` against its sha256."""
    out = []
    for name in names if names is not None else PINNED_SHA256:
        path = Path(models_dir) / name
        expected = PINNED_SHA256[name]
        if not path.is_file():
            out.append(ModelStatus(name, path, expected, None, "missing"))
            continue
        actual = sha256_file(path)
        out.append(ModelStatus(name, path, expected, actual, "ok" if actual == expected else "mismatch"))
    return out


def require_models(models_dir: Path, names: Iterable[str] = (PALM_FULL,)) -> dict[str, Path]:
    """Paths of the named models, or ModelError naming the first file that is missing or wrong."""
    found = {}
    for st in verify(models_dir, names):
        if st.state == "missing":
            raise ModelError(str(st.path), "not found: run `smartshelf models fetch`")
        if st.state == "mismatch":
            raise ModelError(str(st.path), f"sha256 {st.actual_sha256} is not the pinned "
                             f"{st.expected_sha256}: run `smartshelf models fetch`")
        found[st.name] = st.path
    return found


def download_wheel(dest: Path) -> Path:
    """pip-download the pinned mediapipe wheel (no deps, no install) into `dest`."""
    cmd = [sys.executable, "-m", "pip", "download", f"mediapipe=={MEDIAPIPE_VERSION}", "--no-deps",
           "--only-binary=:all:", "--platform", WHEEL_PLATFORM, "--python-version", WHEEL_PYTHON,
           "--implementation", "cp", "--quiet", "-d", str(dest)]
    log.info("downloading mediapipe==%s wheel: %s", MEDIAPIPE_VERSION, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel was saved"]
        raise ModelError(f"mediapipe=={MEDIAPIPE_VERSION}", f"pip download failed: {tail[0]}")
    return wheels[0]


def extract_models(wheel: Path, models_dir: Path, names: Iterable[str]) -> None:
    """Copy the named palm models out of the wheel, checking each sha256 before it lands."""
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise ModelError(str(wheel), "not a valid wheel (zip) file") from None
    with zf:
        for name in names:
            try:
                data = zf.read(_WHEEL_DIR + name)
            except KeyError:
                raise ModelError(str(wheel), f"has no {_WHEEL_DIR}{name}") from None
            actual = hashlib.sha256(data).hexdigest()
            if actual != PINNED_SHA256[name]:
                raise ModelError(f"{wheel}!{_WHEEL_DIR}{name}",
                                 f"sha256 {actual} is not the pinned {PINNED_SHA256[name]}")
            # write then rename, so an interrupted fetch never leaves a half file behind
            tmp = models_dir / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(models_dir / name)
            log.info("extracted %s (%d bytes) into %s", name, len(data), models_dir)


def fetch(models_dir: Path | None = None, wheel: Path | None = None) -> list[ModelStatus]:
    """Provision the pinned palm models into `models_dir`; a no-op when they verify already.

    `wheel` uses an already-downloaded mediapipe wheel instead of pip (offline installs).
    """
    target = Path(models_dir) if models_dir is not None else default_models_dir()
    todo = [st.name for st in verify(target) if st.state != "ok"]
    if todo:
        if wheel is not None:
            extract_models(Path(wheel), target, todo)
        else:
            with tempfile.TemporaryDirectory(prefix="smartshelf-wheel-") as tmp:
                extract_models(download_wheel(Path(tmp)), target, todo)
    statuses = verify(target)
    bad = [st for st in statuses if st.state != "ok"]
    if bad:  # only reachable if the disk changed under us
        raise ModelError(str(bad[0].path), f"is {bad[0].state} after fetching")
    return statuses
