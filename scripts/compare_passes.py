"""Single pass against multi-pass on the same frames, in one process: warping error at offsets 1, 2, 4 of
the written output as a ratio to the source's own (the floor of flow and mask), content and style
distance, seconds. One JSON line per configuration.

    python scripts/compare_passes.py --input clip.mp4 --style painting.jpg --max-side 128 --frames 100:112 \\
        --passes 1 4 6
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import replace

from videostyle import StylizeConfig, stylize_video
from videostyle.config import MultiPassConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--max-side", type=int, default=128)
    p.add_argument("--frames", default="0:12")
    p.add_argument("--passes", type=int, nargs="+", default=[1, 4])
    p.add_argument("--long-term", default=",".join(str(j) for j in StylizeConfig().long_term),
                   help="offsets of the temporal targets (default: the defaults of the day)")
    p.add_argument("--device", default="auto")
    p.add_argument("--iterations", help="FIRST,LATER caps (default: videostyle's)")
    p.add_argument("--blend-weight", type=float, default=MultiPassConfig().blend_weight)
    p.add_argument("--pass-iterations", type=int, default=MultiPassConfig().pass_iterations)
    p.add_argument("--pass-targets", default=MultiPassConfig().pass_targets, choices=("both", "processed"))
    a = p.parse_args()
    optim = StylizeConfig().optim
    if a.iterations:
        first, later = (int(v) for v in a.iterations.split(","))
        optim = replace(optim, iterations_first=first, iterations_later=later)
    long_term = tuple(int(v) for v in a.long_term.split(","))
    for passes in a.passes:
        config = StylizeConfig(max_side=a.max_side, device=a.device, long_term=long_term, optim=optim,
                               multipass=MultiPassConfig(passes=passes, blend_weight=a.blend_weight,
                                                         pass_iterations=a.pass_iterations,
                                                         pass_targets=a.pass_targets))
        with tempfile.TemporaryDirectory() as tmp:
            # Lossless 16-bit output, so the codec does not blur the comparison.
            r = stylize_video(a.input, a.style, os.path.join(tmp, "out.mkv"), config, frames=a.frames,
                              codec="ffv1", depth=16, report=os.path.join(tmp, "r.json"))
        ev, t = r["evaluation"], r["totals"]
        print(json.dumps({
            "passes": passes, "blend_weight": a.blend_weight, "pass_targets": a.pass_targets, "pass_iterations": a.pass_iterations,
            "long_term": list(long_term), "frames": a.frames, "size": r["size"],
            "warp_ratio_to_floor": {d: round(ev["warping_error"][d] / ev["source_warping_error"][d], 3)
                                    for d in ev["warping_error"]},
            "warping_error": ev["warping_error"], "flicker": ev["flicker"],
            "content_distance": t["content_distance"], "style_distance": t["style_distance"],
            "evaluations": t["evaluations"], "seconds": t["seconds"], "device": config.device,
        }), flush=True)


if __name__ == "__main__":
    main()
