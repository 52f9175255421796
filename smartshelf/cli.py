"""Command line: argv -> config -> run; exit codes (0 ok, 1 failed goal, 2 bad input).

Heavy modules (OpenCV, the interpreters) are imported inside the commands so `--help` is quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smartshelf import __version__
from smartshelf.errors import UserError

if TYPE_CHECKING:
    from smartshelf.config import Config
    from smartshelf.detectors.base import HandDetector
    from smartshelf.events.record import Event
    from smartshelf.publishers.base import Publisher

log = logging.getLogger(__name__)


def _load(path: str) -> Config:
    from smartshelf.config import load_config

    return load_config(path)


def _models_dir() -> Path:
    from smartshelf.models import default_models_dir

    return default_models_dir()


def _hand_detector(cfg: Config) -> HandDetector:
    from smartshelf.detectors.factory import build_hand_detector

    return build_hand_detector(cfg.detectors.hands, _models_dir(), cfg.resolve)


# --------------------------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load(args.file)
    zones = sum(len(c.zones) for c in cfg.cameras)
    print(f"{args.file}: ok ({len(cfg.cameras)} camera(s), {zones} zone(s))")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from smartshelf import models

    target = Path(args.dir) if args.dir else _models_dir()
    if args.action == "fetch":
        models.fetch(target)
    statuses = models.verify(target)
    bad = 0
    for st in statuses:
        print(f"{st.state:<8} {st.name:<28} {st.actual_sha256 or '-':<64} {st.path}")
        bad += st.state != "ok"
    if bad:
        print(f"{bad} model(s) missing or wrong: run `smartshelf models fetch`", file=sys.stderr)
        return 2
    return 0


def _sinks(cfg: Config, events_out: str | None, *, stdout: bool) -> list[Publisher]:
    from smartshelf.publishers.jsonl import JsonlPublisher, output_sinks

    sinks: list[Publisher] = list(output_sinks(cfg, stdout=stdout))
    if events_out:
        out = Path(events_out)
        out.unlink(missing_ok=True)  # a replay's file holds that replay only
        sinks.append(JsonlPublisher(path=out))
    return sinks


def cmd_replay(args: argparse.Namespace) -> int:
    import dataclasses

    from smartshelf.runtime.daemon import start_mqtt
    from smartshelf.runtime.pipeline import FrameResult
    from smartshelf.runtime.replay import replay, replay_camera

    cfg = _load(args.config)
    if args.no_mqtt:
        cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = replay_camera(cfg, Path(args.video) if args.video else None, args.camera)
    hands = _hand_detector(cfg)
    sinks = _sinks(cfg, args.events_out, stdout=cfg.output.stdout and not args.quiet)
    mqtt = start_mqtt(cfg)
    if mqtt is not None:
        sinks.append(mqtt.publisher)
    collected: list[Event] = []
    clips = None
    if cfg.recording.enabled:
        from smartshelf.recorders.clips import ClipRecorder

        # a replay at full speed finishes clips faster than real time: a deeper queue
        clips = ClipRecorder(cam.name, cfg.recording, cfg.resolve(cfg.recording.dir), queue_clips=64)
    annotator = None
    if args.annotate:
        from smartshelf.recorders.annotate import AnnotatedWriter

        annotator = AnnotatedWriter(Path(args.annotate), cam)

    def on_result(result: FrameResult) -> None:
        collected.extend(result.events)
        if annotator is not None:
            annotator.write(result)
        if clips is not None:
            clips.push(result)

    try:
        stats = replay(cfg, cam, hands, sinks, speed=args.speed, on_result=on_result,
                       progress=not args.quiet)
    finally:
        if annotator is not None:
            annotator.close()
        if clips is not None:
            clips.close(timeout_s=30.0)
        for sink in sinks:
            sink.close()
        if mqtt is not None:
            mqtt.close()
    print(f"replayed {stats.frames} frames ({stats.stream_s:.1f} s of video) in {stats.wall_s:.1f} s "
          f"({stats.speed_x:.1f}x real time): {stats.events} event(s)", file=sys.stderr)
    if args.expect:
        return _report_eval(collected, Path(args.expect), None)
    return 0


def _report_eval(events: list[Event], labels_path: Path, min_f1: float | None) -> int:
    from smartshelf.evaluation import load_labels, score

    result = score(events, load_labels(labels_path))
    print(result.summary())
    if min_f1 is not None and result.f1 < min_f1:
        print(f"F1 {result.f1:.3f} is below --min-f1 {min_f1}", file=sys.stderr)
        return 1
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import dataclasses

    from smartshelf.runtime.replay import replay, replay_camera

    cfg = _load(args.config)
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = replay_camera(cfg, Path(args.video), args.camera)
    events: list[Event] = []
    replay(cfg, cam, _hand_detector(cfg), [], on_result=lambda r: events.extend(r.events))
    return _report_eval(events, Path(args.labels), args.min_f1)


def cmd_detect(args: argparse.Namespace) -> int:
    from smartshelf.runtime.inspect import detect_paths

    cfg = _load(args.config) if args.config else None
    for record in detect_paths([Path(p) for p in args.inputs], cfg, hands_only=args.hands_only,
                               models_dir=_models_dir()):
        print(json.dumps(record, sort_keys=True, separators=(",", ":")))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from smartshelf.runtime.inspect import calibrate

    cfg = _load(args.config)
    path = calibrate(cfg, args.camera, args.zone, "empty" if args.empty else "full",
                     Path(args.video) if args.video else None)
    print(f"stored {path}")
    return 0


def cmd_zones(args: argparse.Namespace) -> int:
    from smartshelf.recorders.annotate import zones_snapshot

    cfg = _load(args.config)
    out = zones_snapshot(cfg, args.camera, Path(args.snapshot))
    print(f"wrote {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from smartshelf.runtime.daemon import run_daemon

    cfg = _load(args.config)
    return run_daemon(cfg, args.config)


def cmd_record(args: argparse.Namespace) -> int:
    from smartshelf.recorders.record import record

    source = int(args.source) if args.source.isdigit() else args.source
    stats = record(source, Path(args.out), args.duration, args.fps)
    print(f"{stats.frames} frames, {stats.duration_s:.1f} s at {stats.fps} fps -> {stats.path} "
          f"(+ {stats.timestamps_path.name})")
    return 0


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smartshelf", description=(
        "Smart-shelf monitor: hand and shelf-occupancy detection fused into pick / put-back "
        "events, published over MQTT."))
    p.add_argument("--version", action="version", version=f"smartshelf {__version__}")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("run", help="run the daemon on every configured camera")
    s.add_argument("-c", "--config", required=True, metavar="FILE")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("replay", help="replay a recorded video through the pipeline, every frame")
    s.add_argument("video", nargs="?", help="video file (default: the camera's own file source)")
    s.add_argument("-c", "--config", required=True, metavar="FILE")
    s.add_argument("--camera", help="replay as this camera (default: the first)")
    s.add_argument("--events-out", metavar="FILE.jsonl", help="write the events here (replaced)")
    s.add_argument("--speed", choices=["max", "realtime"], default="max")
    s.add_argument("--annotate", metavar="OUT.mp4", help="write an annotated video")
    s.add_argument("--expect", metavar="LABELS.json", help="score the events against labels")
    s.add_argument("--no-mqtt", action="store_true", help="do not publish to MQTT")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress, no events on stdout")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("eval", help="score a video's events against its labels")
    s.add_argument("video")
    s.add_argument("--labels", required=True, metavar="LABELS.json")
    s.add_argument("-c", "--config", required=True, metavar="FILE")
    s.add_argument("--camera")
    s.add_argument("--min-f1", type=float, help="exit 1 when the overall F1 is below this")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("check-config", help="validate a config file")
    s.add_argument("file")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("models", help="provision (fetch) or check (verify) the bundled models")
    s.add_argument("action", choices=["fetch", "verify"])
    s.add_argument("--dir", help="models folder (default: $SMARTSHELF_MODELS or ./models)")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("detect", help="print the detections for images or video frames as JSON")
    s.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO")
    s.add_argument("-c", "--config", metavar="FILE", help="detector settings and zones")
    s.add_argument("--hands-only", action="store_true", help="skip the shelf occupancy")
    s.add_argument("--json", action="store_true", help="one JSON line per image or frame (default)")
    s.set_defaults(func=cmd_detect)

    s = sub.add_parser("calibrate", help="store a zone's empty or full appearance")
    s.add_argument("-c", "--config", required=True, metavar="FILE")
    s.add_argument("--zone", required=True)
    s.add_argument("--camera")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--empty", action="store_true")
    g.add_argument("--full", action="store_true")
    s.add_argument("--video", help="take the snapshot from this file instead of the camera")
    s.set_defaults(func=cmd_calibrate)

    s = sub.add_parser("zones", help="draw the configured zones over a frame")
    s.add_argument("-c", "--config", required=True, metavar="FILE")
    s.add_argument("--camera")
    s.add_argument("--snapshot", required=True, metavar="OUT.png")
    s.set_defaults(func=cmd_zones)

    s = sub.add_parser("record", help="save a live camera to a file with its timestamps, for replay")
    s.add_argument("source", help="rtsp:// or http(s):// URL, V4L2 device index, or a file")
    s.add_argument("out", help="video file to write (.mp4, mp4v) + OUT.timestamps.json")
    s.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    s.add_argument("--fps", type=float, help="keep at most this many frames per second")
    s.set_defaults(func=cmd_record)

    # `compose` is dispatched to the composer's own parser in main(); listed here for --help.
    sub.add_parser("compose", help="make a labelled synthetic shelf clip (compose --help)",
                   add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compose"]:  # its options belong to the composer's own parser
        from smartshelf.synth.__main__ import main as synth_main

        return synth_main([a for a in argv[1:] if a != "--"])
    args = build_parser().parse_args(argv)
    from smartshelf.runtime.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"smartshelf: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
