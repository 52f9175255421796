"""`python -m smartshelf.synth --seed N --out clip.mp4 [--config clip.yaml]` (= `smartshelf compose`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smartshelf.synth.composer import Lighting, compose, write_config


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smartshelf compose", description=(
        "Write a seeded, labelled clip of a shelf with a real hand picking and putting back goods "
        "(<out>.mp4 and <out>.labels.json; the same seed gives the same frames)."))
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="video file to write (.mp4, mp4v)")
    p.add_argument("--config", help="also write a smartshelf config for the clip here")
    p.add_argument("--interactions", type=int, default=6)
    p.add_argument("--flicker", type=float, default=0.0, help="brightness flicker amplitude (0.05)")
    p.add_argument("--ramp", type=float, default=0.0, help="exposure drift over the clip (0.2)")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise sigma, grey levels")
    args = p.parse_args(argv)
    out = Path(args.out)
    spec = compose(args.seed, out, interactions=args.interactions,
                   lighting=Lighting(args.flicker, args.ramp, args.noise))
    if args.config:
        write_config(spec, Path(args.config), out)
    print(f"wrote {out} ({spec.frames} frames, {spec.duration_s:.1f} s, "
          f"{len(spec.interactions)} interactions) and its labels", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
