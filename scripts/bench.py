"""Benchmark: one configuration, or ours against the reference configuration, on the same frames in one
process. Prints one JSON line per configuration; with --compare the last line holds the ratios.

    python scripts/bench.py --compare --input clip.mp4 --style painting.jpg --max-side 64 --frames 4

Reference configuration (artistic-videos defaults): plain L-BFGS (step 1, no line search, no temporal
preconditioning), 2000 iterations for the first frame and 1000 for later ones, one scale, stop when the
loss improves by less than 1e-4 (relative) over 50 iterations, short-term temporal loss, later frames
initialized from the warped previous result. Loss weights, first-frame init and flow are ours in both, so
the final losses are the same objective and directly comparable.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from dataclasses import replace

import torch

from videostyle import OptimConfig, StylizeConfig, stylize_video

REFERENCE_OPTIM = OptimConfig(iterations_first=2000, iterations_later=1000, tolerance=1e-4, first_tolerance=1e-4,
                              check_every=50, learning_rate=1.0, precondition=0.0, scales=(1.0,))


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak so far (Linux: KiB)


def run(name: str, config: StylizeConfig, args) -> dict:
    if config.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        report = stylize_video(args.input, args.style, os.path.join(tmp, "out.mp4"), config,
                               frames=(args.start, args.start + args.frames))
    frames = report["frames"]
    later = frames[1:] or frames
    n = len(frames)
    out = {
        "config": name, "frames": n, "size": report["size"], "device": config.device,
        "precondition": config.optim.precondition,
        "seconds_per_frame": report["totals"]["seconds_per_frame"],
        "evaluations_per_frame": sum(f["evaluations"] for f in frames) / n,
        "evaluations_per_later_frame": sum(f["evaluations"] for f in later) / len(later),
        # Optimizer seconds per VGG evaluation on later frames: the network's speed without start-up costs
        # (model load, style Grams, --compile's compiles).
        "seconds_per_evaluation_later": sum(f["seconds"] for f in later) / max(sum(f["evaluations"] for f in later), 1),
        "stages_seconds": report["stages_seconds"],
        "waited_fraction": report["stages_seconds"]["waited"] / max(report["totals"]["seconds"], 1e-9),
        "peak_memory_mb": round(peak_memory_mb(config.device), 1),
        "final_loss": [f["terms"]["total"] for f in frames],
        "warping_error": report["totals"]["warping_error"],
        "source_warping_error": report["totals"]["source_warping_error"],
        "content_distance": report["totals"]["content_distance"],
        "style_distance": report["totals"]["style_distance"],
        "seconds": report["totals"]["seconds"],
    }
    print(json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--max-side", type=int, default=128)
    p.add_argument("--frames", type=int, default=4, help="number of frames")
    p.add_argument("--start", type=int, default=0, help="first frame (0-based)")
    p.add_argument("--device", default="auto")
    p.add_argument("--compare", action="store_true", help="also run the reference configuration and print ratios")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (our configuration only)")
    p.add_argument("--precondition", type=float, default=OptimConfig.precondition,
                   help="temporal preconditioning strength of our configuration (default %(default)s; 0 = off)")
    args = p.parse_args(argv)
    from videostyle.device import resolve_device
    device = str(resolve_device(args.device))
    ours = StylizeConfig(max_side=args.max_side, device=device, optim=OptimConfig(precondition=args.precondition))
    a = run("default+compile" if args.compile else "default", replace(ours, compile=args.compile), args)
    if not args.compare:
        return 0
    b = run("reference", replace(ours, optim=REFERENCE_OPTIM), args)
    later = slice(1, None) if a["frames"] > 1 else slice(None)
    ratios = {
        "eval_ratio": a["evaluations_per_later_frame"] / b["evaluations_per_later_frame"],
        "loss_ratio": sum(a["final_loss"][later]) / sum(b["final_loss"][later]),
        "warp_ratio": (a["warping_error"] / b["warping_error"]) if b["warping_error"] else None,
        "seconds_ratio": a["seconds"] / b["seconds"],
        "first_frame_loss_ratio": a["final_loss"][0] / b["final_loss"][0],
    }
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in ratios.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
