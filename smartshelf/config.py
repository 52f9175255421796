"""Typed configuration, parsed and validated once from YAML at the edge.

Every threshold is a named field whose comment says what raising it trades away. Unknown keys
are errors. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from smartshelf.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class ZoneConfig:
    name: str
    polygon: tuple[tuple[float, float], ...]  # source-frame pixels, >= 3 points, simple polygon
    sku: str | None = None
    capacity: int | None = None  # items when full: turns the fill estimate into a count


@dataclass(frozen=True)
class CameraConfig:
    name: str
    source: str | int  # file path, rtsp:// / http(s):// URL, or a V4L2 device index
    zones: tuple[ZoneConfig, ...] = ()
    loop: bool = False  # files only: start again at the end (demos)
    target_fps: float = 15.0  # below this processed rate the camera is reported overloaded
    stall_timeout_s: float = 10.0  # no frame for this long on a live source means reconnect
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    # Shelf calibration snapshots (`smartshelf calibrate`), resolved against the config folder.
    calibration_dir: str | None = None


@dataclass(frozen=True)
class HandDetectorConfig:
    type: Literal["palm", "tf_od"] = "palm"
    # Default: models/palm_detection_full.tflite in the models folder (`smartshelf models fetch`).
    model: str | None = None
    # Raising it drops weak hands (fewer false hands on busy shelves, more missed hands).
    score_threshold: float = 0.5
    threads: int = 2
    roi: tuple[float, float, float, float] | None = None  # xyxy pixels: only look here
    tile: bool = False  # split large ROIs into overlapping tiles (finds small hands, costs time)
    classes: tuple[int, ...] = ()  # tf_od: keep only these class ids (empty: all)
    labels: str | None = None  # tf_od: label map file (one name per line, or pbtxt)
    # Hand box = palm box grown by this factor about its centre (palm covers ~1/2.6 of a hand).
    hand_scale: float = 2.0
    # A hand seen within this many seconds but missed now is looked for again in a zoomed-in
    # crop around where it was (one extra model run per lost hand; 0 turns it off). Raising it
    # keeps hands through longer detector gaps but spends more time on hands that really left.
    redetect_s: float = 0.5
    # A zone that moved with no hand near it (in the frame before) is looked at again, zoomed in,
    # and a hand found where it moved is kept: a hand the whole-frame pass never found. Costs one
    # model run per such zone and frame; off saves that and misses those hands.
    look_at_moving_zones: bool = True
    # A new hand (one that continues no hand kept a moment before) is dropped where the picture
    # under it has not changed in this many seconds: a hand printed on a pack or a poster (0
    # turns it off). Lowering it drops real hands that the detector only finds after they held
    # still that long; raising it keeps printed hands that something passed over in that time.
    still_after_s: float = 2.0


@dataclass(frozen=True)
class ShelfDetectorConfig:
    type: Literal["reference", "tf_od"] = "reference"
    model: str | None = None  # tf_od only
    score_threshold: float = 0.3  # tf_od only
    classes: tuple[int, ...] = ()
    # Seconds between measurements; 0 measures every frame. Raising it saves CPU, delays events.
    interval_s: float = 0.0
    patch_size_px: int = 32  # zones are compared at this size (bigger: finer, slower, noisier)
    # Mean per-pixel change (normalised units) between consecutive samples that counts as motion.
    motion_threshold: float = 0.06
    # The same for the largest change of one cell (1/8 x 1/8 of the zone): a hand the detector
    # has not found yet moving into a corner of the zone. Raising it lets such a hand into the
    # look "before" an interaction (a touch read as a pick or return); lowering it lets sensor
    # noise keep the zone from settling.
    cell_motion_threshold: float = 0.15
    # A zone must be still (and hand-free) this long before its settled appearance updates.
    settle_s: float = 0.3
    # A cell whose settled appearance moved this much counts as changed (raising it: fewer false
    # changes from lighting, small items missed).
    change_threshold: float = 0.15
    # ... or whose texture energy (edges, print) rose or fell this much, and by half or more: an
    # item the colour of the shelf back behind it (raising it: such items read as touches).
    texture_change_threshold: float = 0.08
    # Boxes (hands) this many pixels around a zone count as "near" it: the zone is occluded.
    near_margin_px: float = 12.0
    # Front view (shoppers reach up from below the picture): a zone under a hand is covered by
    # its arm, which no detector sees, so it is not measured then. Turn off for top-down views.
    arm_shadow: bool = True


@dataclass(frozen=True)
class TrackerConfig:
    max_age_s: float = 0.6  # a hand unseen this long is deleted (raising: survives occlusion)
    min_hits: int = 2  # detections before a track is confirmed (raising: fewer ghosts, later)
    iou_threshold: float = 0.1  # minimum IoU to associate (hands move fast between frames)


@dataclass(frozen=True)
class FusionConfig:
    # A hand must be in a zone this long to start an interaction (raising: ignores passers-by).
    enter_s: float = 0.2
    # Share of a hand box inside a zone polygon that counts as "in" (raising: needs a deeper reach).
    min_overlap: float = 0.25
    # A hand only starts an interaction while slower than this, in hand-box heights per second:
    # an arm on its way to another shelf passes through lower zones fast (raising: passers-by
    # count as touches; lowering: quick grabs are missed).
    max_reach_speed: float = 1.5
    # No hand in or near the zone this long ends it (raising: tolerates detector gaps, slower).
    exit_s: float = 0.2
    # An interaction whose zone never settles after the hand left is closed (flagged) after this.
    settle_timeout_s: float = 4.0
    # A hand that vanishes inside the zone (occluded by goods) keeps it open this long.
    occlusion_grace_s: float = 1.5
    # Share of the zone that must change for a pick/return; below it the event is a `touch`.
    min_changed_fraction: float = 0.04
    # Change in fill needed to call the direction (raising: fewer wrong directions, more touches).
    min_fill_delta: float = 0.02
    # Events below this confidence get `review: true` (and, with recording on, a snapshot path).
    review_below: float = 0.5


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # skip hostname verification (self-signed lab brokers only)


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    embedded: bool = False  # start an in-process broker on loopback (demo default)
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "smartshelf"
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None  # default: smartshelf-<node>
    username: str | None = None
    password_file: str | None = None
    password_env: str = "SMARTSHELF_MQTT_PASSWORD"
    keepalive_s: int = 30
    stats_interval_s: float = 30.0
    discovery: bool = False  # Home Assistant MQTT discovery
    discovery_prefix: str = "homeassistant"
    tls: TLSConfig | None = None


@dataclass(frozen=True)
class OutboxConfig:
    path: str = "../state/outbox.sqlite"
    max_events: int = 100_000  # when full the oldest undelivered events are dropped (counted)


@dataclass(frozen=True)
class OutputConfig:
    stdout: bool = False  # print every event as one JSON line
    jsonl: str | None = None  # append every event to this file


@dataclass(frozen=True)
class RecordingConfig:
    enabled: bool = False
    dir: str = "../recordings"
    pre_roll_s: float = 2.0
    post_roll_s: float = 2.0
    max_age_days: float = 7.0
    max_total_mb: float = 2048.0


@dataclass(frozen=True)
class MetricsConfig:
    port: int = 0  # 0: no metrics endpoint
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class DetectorsConfig:
    hands: HandDetectorConfig = field(default_factory=HandDetectorConfig)
    shelf: ShelfDetectorConfig = field(default_factory=ShelfDetectorConfig)


@dataclass(frozen=True)
class Config:
    cameras: tuple[CameraConfig, ...]
    node: str = "shelf-node"
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    # Where the config file lives; relative paths in it resolve against this folder.
    base_dir: str = "."
    path: str = "<memory>"

    def resolve(self, p: str) -> Path:
        """A path from the config, resolved against the config file's folder."""
        path = Path(os.path.expanduser(p))
        return path if path.is_absolute() else (Path(self.base_dir) / path).resolve()

    def camera(self, name: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)


# Keys that are filled in by the loader, never read from the file.
_INTERNAL = {"base_dir", "path"}

# ---------------------------------------------------------------------------------------------
# Generic, strict dataclass parsing


def _type_name(tp: object) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, key: str, file: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            try:
                return _convert(arm, value, key, file)
            except ConfigError as exc:
                errors.append(exc)
        # a nested error (deeper key) is more useful than "expected X"
        deeper = [e for e in errors if e.key != key]
        if deeper:
            raise deeper[0]
        raise ConfigError(file, key, value, f"expected {_type_name(tp)}")
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) in {type(a) for a in typing.get_args(tp)}:
            return value
        raise ConfigError(file, key, value, f"expected one of {_type_name(tp)}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(file, key, value, f"expected {_type_name(tp)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]", file) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(file, key, value, f"expected a list of {len(args)} numbers")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{key}[{i}]", file) for i, (a, v) in pairs)
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(tp, value, key, file)  # type: ignore[arg-type]
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(file, key, value, "expected null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(file, key, value, "expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(file, key, value, "expected an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            f = float(value)
            if f != f or f in (float("inf"), float("-inf")):
                raise ConfigError(file, key, value, "expected a finite number")
            return f
        raise ConfigError(file, key, value, "expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(file, key, value, "expected a string")
    raise TypeError(f"config type {tp!r} is not supported")  # a bug in this module


def _parse_dataclass(cls: type, raw: Any, key: str, file: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(file, key, raw, "expected a mapping")
    hints = typing.get_type_hints(cls)
    internal = _INTERNAL if cls is Config else set()
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in internal}
    for name in raw:
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(file, _join(key, str(name)), raw[name], f"unknown key (known: {known})")
    kwargs = {}
    for name, f in fields.items():
        sub = _join(key, name)
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], sub, file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(file, sub, None, "required key is missing")
    return cls(**kwargs)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


# ---------------------------------------------------------------------------------------------
# Semantic validation (geometry, names, files, URLs)


def _segments_cross(p1: tuple[float, float], p2: tuple[float, float],
                    q1: tuple[float, float], q2: tuple[float, float]) -> bool:
    def orient(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return (d1 * d2 < 0) and (d3 * d4 < 0)


def polygon_problem(points: tuple[tuple[float, float], ...]) -> str | None:
    """Why a polygon is unusable as a zone, or None. Pure."""
    if len(points) < 3:
        return f"a zone polygon needs at least 3 points, got {len(points)}"
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            if abs(i - j) <= 1 or {i, j} == {0, n - 1}:
                continue  # adjacent edges share a vertex
            if _segments_cross(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                return f"the polygon is self-intersecting (edge {i} crosses edge {j})"
    area2 = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
                for i in range(n))
    if abs(area2) < 1e-9:
        return "the polygon has zero area"
    return None


_URL_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp")


def _validate(cfg: Config, file: str) -> Config:
    if not cfg.cameras:
        raise ConfigError(file, "cameras", [], "at least one camera is required")
    seen_cams: set[str] = set()
    cameras = []
    for ci, cam in enumerate(cfg.cameras):
        ckey = f"cameras[{ci}]"
        if not cam.name or not all(c.isalnum() or c in "-_." for c in cam.name):
            raise ConfigError(file, f"{ckey}.name", cam.name,
                              "camera names use letters, digits, '-', '_' and '.' only")
        if cam.name in seen_cams:
            raise ConfigError(file, f"{ckey}.name", cam.name, "duplicate camera name")
        seen_cams.add(cam.name)
        source: str | int = cam.source
        if isinstance(source, int):
            if source < 0:
                raise ConfigError(file, f"{ckey}.source", source, "a device index is >= 0")
        elif "://" in source:
            parts = urlsplit(source)
            if parts.scheme not in _URL_SCHEMES or not parts.hostname:
                raise ConfigError(file, f"{ckey}.source", source,
                                  "expected an rtsp://, http(s)://, rtmp://, udp:// or tcp:// URL "
                                  "with a host")
        elif source.isdigit():
            source = int(source)
        else:
            resolved = cfg.resolve(source)
            if not resolved.is_file():
                raise ConfigError(file, f"{ckey}.source", source,
                                  f"video file not found (looked at {resolved})")
            source = str(resolved)
        seen_zones: set[str] = set()
        for zi, zone in enumerate(cam.zones):
            zkey = f"{ckey}.zones[{zi}]"
            if not zone.name:
                raise ConfigError(file, f"{zkey}.name", zone.name, "zone names must not be empty")
            if zone.name in seen_zones:
                raise ConfigError(file, f"{zkey}.name", zone.name, "duplicate zone name")
            seen_zones.add(zone.name)
            problem = polygon_problem(zone.polygon)
            if problem:
                raise ConfigError(file, f"{zkey}.polygon", [list(p) for p in zone.polygon], problem)
            if zone.capacity is not None and zone.capacity <= 0:
                raise ConfigError(file, f"{zkey}.capacity", zone.capacity, "capacity must be > 0")
        for fname in ("target_fps", "stall_timeout_s", "reconnect_min_s", "reconnect_max_s"):
            if getattr(cam, fname) <= 0:
                raise ConfigError(file, f"{ckey}.{fname}", getattr(cam, fname), "must be > 0")
        cameras.append(dataclasses.replace(cam, source=source))
    hands = cfg.detectors.hands
    if not 0.0 < hands.score_threshold < 1.0:
        raise ConfigError(file, "detectors.hands.score_threshold", hands.score_threshold,
                          "expected a number between 0 and 1")
    if hands.threads < 1:
        raise ConfigError(file, "detectors.hands.threads", hands.threads, "expected >= 1")
    if hands.roi is not None and (hands.roi[2] <= hands.roi[0] or hands.roi[3] <= hands.roi[1]):
        raise ConfigError(file, "detectors.hands.roi", list(hands.roi), "expected x1 < x2 and y1 < y2")
    if hands.type == "tf_od" and not hands.model:
        raise ConfigError(file, "detectors.hands.model", None, "type tf_od needs a model path")
    if hands.still_after_s < 0:
        raise ConfigError(file, "detectors.hands.still_after_s", hands.still_after_s,
                          "expected >= 0 (0 turns it off)")
    shelf = cfg.detectors.shelf
    if shelf.type == "tf_od" and not shelf.model:
        raise ConfigError(file, "detectors.shelf.model", None, "type tf_od needs a model path")
    if shelf.cell_motion_threshold <= 0:
        raise ConfigError(file, "detectors.shelf.cell_motion_threshold", shelf.cell_motion_threshold,
                          "expected > 0")
    if shelf.texture_change_threshold <= 0:
        raise ConfigError(file, "detectors.shelf.texture_change_threshold",
                          shelf.texture_change_threshold, "expected > 0")
    if shelf.patch_size_px < 4:
        raise ConfigError(file, "detectors.shelf.patch_size_px", shelf.patch_size_px, "expected >= 4")
    if cfg.tracker.min_hits < 1:
        raise ConfigError(file, "tracker.min_hits", cfg.tracker.min_hits, "expected >= 1")
    if not 0.0 <= cfg.tracker.iou_threshold < 1.0:
        raise ConfigError(file, "tracker.iou_threshold", cfg.tracker.iou_threshold, "expected 0 <= x < 1")
    if not 1 <= cfg.mqtt.port <= 65535:
        raise ConfigError(file, "mqtt.port", cfg.mqtt.port, "expected a TCP port 1..65535")
    if cfg.metrics.port and not 1 <= cfg.metrics.port <= 65535:
        raise ConfigError(file, "metrics.port", cfg.metrics.port, "expected 0 (off) or a TCP port")
    if cfg.outbox.max_events < 1:
        raise ConfigError(file, "outbox.max_events", cfg.outbox.max_events, "expected >= 1")
    for key, value in (("mqtt.password_file", cfg.mqtt.password_file),
                       ("mqtt.tls.ca_file", cfg.mqtt.tls.ca_file if cfg.mqtt.tls else None),
                       ("mqtt.tls.cert_file", cfg.mqtt.tls.cert_file if cfg.mqtt.tls else None),
                       ("mqtt.tls.key_file", cfg.mqtt.tls.key_file if cfg.mqtt.tls else None)):
        if value and not cfg.resolve(value).is_file():
            raise ConfigError(file, key, value, f"file not found (looked at {cfg.resolve(value)})")
    return dataclasses.replace(cfg, cameras=tuple(cameras))


# ---------------------------------------------------------------------------------------------
# Entry points


def parse_config(raw: Any, *, file: str = "<memory>", base_dir: str | Path = ".") -> Config:
    """Build a validated Config from an already-loaded YAML document."""
    cfg = _parse_dataclass(Config, raw, "", file)
    cfg = dataclasses.replace(cfg, base_dir=str(Path(base_dir).resolve()), path=file)
    return _validate(cfg, file)


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file. Raises ConfigError with one clear line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), "", str(p), f"cannot read the file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(str(p), where, getattr(exc, "problem", str(exc)), "not valid YAML") from None
    return parse_config(raw, file=str(p), base_dir=p.parent)
