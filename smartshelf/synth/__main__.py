"""`python -m smartshelf.synth --seed N --out clip.mp4 [--config clip.yaml]` (= `smartshelf compose`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from smartshelf.errors import UserError
from smartshelf.synth.composer import compose, config_text, write_config


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartshelf compose", description=(
        "Write a seeded, labelled clip of a shelf with a real hand picking and putting back goods "
        "(<out>.mp4 and <out>.labels.json; the same seed gives the same frames)."))
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="video file to write (.mp4, mp4v)")
    p.add_argument("--config", help="also write a smartshelf config for the clip here")
    p.add_argument("--embedded-default", action="store_true", help=(
        "write --config in the embedded default's shape (in-process broker, events on stdout), "
        "as configs/default.yaml"))
    p.add_argument("--interactions", type=int, help="how many (default 6, or as many as fit)")
    p.add_argument("--duration", type=float, help="clip length in seconds")
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--size", default="640x480", help="WxH")
    p.add_argument("--flicker", type=float, default=0.0, help="brightness flicker amplitude (0.05)")
    p.add_argument("--ramp", type=float, default=0.0, help="exposure drift over the clip (0.2)")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise sigma, grey levels")
    rest = list(sys.argv[1:] if argv is None else argv)
    if rest[:1] == ["--"]:  # `smartshelf compose -- --seed 1 ...` hands the separator on
        rest = rest[1:]
    args = p.parse_args(rest)
    try:
        w, _, h = args.size.partition("x")
        size_wh = (int(w), int(h))
    except ValueError:
        raise UserError(f"--size: expected WxH, e.g. 640x480 (got {args.size!r})") from None
    out = Path(args.out)
    spec = compose(args.seed, out, duration_s=args.duration, fps=args.fps, size_wh=size_wh,
                   interactions=args.interactions, flicker=args.flicker, exposure_ramp=args.ramp,
                   noise_sigma=args.noise)
    if args.config and args.embedded_default:
        cfg = Path(args.config)
        cfg.parent.mkdir(parents=True, exist_ok=True)
        source = os.path.relpath(out.resolve(), cfg.parent.resolve())
        cfg.write_text(config_text(spec, source, demo=True), encoding="utf-8")
    elif args.config:
        write_config(spec, Path(args.config))
    print(f"wrote {out} ({spec.frames} frames, {spec.duration_s:.1f} s, "
          f"{len(spec.interactions)} interactions) and its labels", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
