"""Benchmark: one configuration, or ours against the reference configuration, on the same frames in one
process. Prints one JSON line per configuration; with --compare the last line holds the ratios.

    python scripts/bench.py --compare --input clip.mp4 --style painting.jpg --max-side 64 --frames 4

One shot in chunks (drivers/chunked.py) against the sequential single pass on the same frames; with
--cluster on Ray workers (--workers W), else chunk after chunk in this process:

    python scripts/bench.py --input clip.mp4 --style painting.jpg --max-side 96 --frames 32 \
        --chunk-frames 8 --cluster local --workers 2

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
import statistics
import sys
import tempfile
from dataclasses import replace

import torch

from videostyle import OptimConfig, StylizeConfig, stylize_video
from videostyle.config import ChunkConfig

REFERENCE_OPTIM = OptimConfig(iterations_first=2000, iterations_later=1000, tolerance=1e-4, first_tolerance=1e-4,
                              check_every=50, learning_rate=1.0, precondition=0.0, scales=(1.0,))


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak so far (Linux: KiB)


def run(name: str, config: StylizeConfig, args, cluster=None, keep: list | None = None) -> dict:
    if config.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"cluster": cluster} if cluster is not None else {}
        # Lossless output for chunk comparisons, so the codec does not blur seams away.
        out = os.path.join(tmp, "out.mkv" if args.chunk_frames else "out.mp4")
        codec = {"codec": "ffv1", "depth": 16} if args.chunk_frames else {}
        report = stylize_video(args.input, args.style, out, config, frames=(args.start, args.start + args.frames),
                               report=os.path.join(tmp, "r.json") if args.chunk_frames else None,
                               **codec, **extra)
        if args.keep_output:  # to look at the frames, not only at the metrics
            import shutil
            os.makedirs(args.keep_output, exist_ok=True)
            safe = "".join(ch if ch.isalnum() else "_" for ch in name)
            shutil.copy(out, os.path.join(args.keep_output, safe + os.path.splitext(out)[1]))
    if keep is not None:
        keep.append(report)
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
        "waited_fraction": report["stages_seconds"].get("waited", 0.0) / max(report["totals"]["seconds"], 1e-9),
        "peak_memory_mb": round(peak_memory_mb(config.device), 1),
        "final_loss": [f["terms"]["total"] for f in frames],
        "iterations": [f["iterations"] for f in frames],
        "nonfinite_frames": [f["index"] for f in frames if f.get("nonfinite") or f.get("retried")],
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
    p.add_argument("--iterations", metavar="F,L",
                   help="our configuration's iterations for the first and later frames (default: the defaults); "
                        "a quick check that the script runs, not a measurement of the defaults")
    p.add_argument("--compare", action="store_true", help="also run the reference configuration and print ratios")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (our configuration only)")
    p.add_argument("--precondition", type=float, default=OptimConfig.precondition,
                   help="temporal preconditioning strength of our configuration (default %(default)s; 0 = off)")
    p.add_argument("--chunk-frames", type=int, default=0, help="compare chunks of K frames with the sequential run")
    p.add_argument("--draft-iterations", type=int, nargs="+", default=[ChunkConfig.draft_iterations],
                   help="several values: each is run in turn (with each --draft-anchor)")
    p.add_argument("--finish-iterations", type=int, nargs="+", default=[ChunkConfig.finish_iterations])
    p.add_argument("--draft-anchor", type=float, nargs="+", default=[ChunkConfig.draft_anchor])
    p.add_argument("--sequential-cache", metavar="JSON",
                   help="keep the sequential run here and reuse it next time (same frames and settings only)")
    p.add_argument("--cluster", help="render the chunks on Ray: local, auto or ADDRESS")
    p.add_argument("--workers", type=int, nargs="+", default=[None],
                   help="with --cluster: worker counts to time in turn (e.g. 1 2)")
    p.add_argument("--gpus-per-worker", type=float, help="with --cluster: GPUs per worker (0.5 = two per GPU)")
    p.add_argument("--cpus-per-worker", type=int, help="with --cluster: CPU cores (torch threads) per worker")
    p.add_argument("--keep-output", metavar="DIR", help="copy each configuration's output video into DIR")
    p.add_argument("--threads", type=int,
                   help="torch threads of this process (the sequential run): with --cpus-per-worker the same, "
                        "workers on a many-core CPU are compared with the sequential run on one worker's cores")
    args = p.parse_args(argv)
    if args.threads:
        import cv2
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)  # the flow, computed in this process for the sequential run
    from videostyle.method.device import resolve_device
    device = str(resolve_device(args.device))
    optim = OptimConfig(precondition=args.precondition)
    if args.iterations:
        try:
            first, later = (int(n) for n in args.iterations.split(","))
            if first < 1 or later < 1:
                raise ValueError
        except ValueError:
            p.error(f"--iterations {args.iterations}: expected F,L, two whole numbers ≥ 1 (e.g. 20,10)")
        optim = replace(optim, iterations_first=first, iterations_later=later)
    ours = StylizeConfig(max_side=args.max_side, device=device, optim=optim)
    if args.chunk_frames:
        return chunks(ours, args)
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


def seam_figures(report: dict, seam_numbers: set) -> dict:
    """Warping error of each frame pair as a ratio to the source's (the floor of flow and mask): pairs
    across seams (a keyframe and the frame before it) against the median of pairs inside chunks."""
    seams, inside = [], []
    for f in report["frames"]:
        if f.get("warping_error") is None or not f.get("source_warping_error"):
            continue
        ratio = f["warping_error"] / f["source_warping_error"]
        (seams if f["index"] in seam_numbers else inside).append(ratio)
    med = statistics.median(inside) if inside else None
    return {"seam_ratios": [round(r, 3) for r in seams], "inside_median_ratio": round(med, 3) if med else None,
            "worst_seam_over_inside_median": round(max(seams) / med, 3) if seams and med else None,
            "mean_seam_over_inside_median": round(statistics.mean(seams) / med, 3) if seams and med else None}


def chunks(ours: StylizeConfig, args) -> int:
    """Sequential single pass, then the same frames in chunks (per worker count with --cluster): wall
    time, VGG evaluations, critical path, seam figures, and ratios to the sequential run."""
    from videostyle.config import ClusterOptions
    from videostyle.run.drivers import chunked
    reports: list = []
    if args.sequential_cache and os.path.exists(args.sequential_cache):
        with open(args.sequential_cache) as f:  # the same frames and settings, measured by an earlier run
            seq, report = json.load(f)
        reports.append(report)
    else:
        seq = run("sequential", ours, args, keep=reports)
        if args.sequential_cache:
            with open(args.sequential_cache, "w") as f:
                json.dump([seq, reports[0]], f)
    grid = [(d, f, a, w) for d in args.draft_iterations for f in args.finish_iterations for a in args.draft_anchor
            for w in (args.workers if args.cluster else [None])]
    for draft, finish, anchor, workers in grid:
        cfg = replace(ours, chunks=ChunkConfig(chunk_frames=args.chunk_frames, draft_iterations=draft,
                                               finish_iterations=finish, draft_anchor=anchor))
        cluster = (ClusterOptions(cluster=args.cluster, workers=workers, gpus_per_worker=args.gpus_per_worker,
                                  cpus_per_worker=args.cpus_per_worker)
                   if args.cluster else None)
        name = (f"chunks of {args.chunk_frames}, draft {draft}, finish {finish}, anchor {anchor:g}"
                + (f", {args.cluster} x{workers}" if args.cluster else ", in process"))
        c = run(name, cfg, args, cluster=cluster, keep=reports)
        rep = reports[-1]
        evals = {f["index"]: f["evaluations"] for f in rep["frames"]}
        plan = chunked.plan(rep["frames"][0]["index"], len(rep["frames"]), args.chunk_frames)
        critical = chunked.critical_path(plan, {f["index"]: f for f in rep["frames"]})
        seams = {c.numbers[0] for c in plan[1:]}  # pairs (n − 1, n) across chunk boundaries
        seq_evals = sum(f["evaluations"] for f in reports[0]["frames"])
        ev, ev0 = rep.get("evaluation", {}), reports[0].get("evaluation", {})
        print(json.dumps({
            "config": name, "workers": workers, "chunks": len(plan),
            "wall_seconds": rep["totals"]["seconds"], "sequential_wall_seconds": reports[0]["totals"]["seconds"],
            "speedup": round(reports[0]["totals"]["seconds"] / rep["totals"]["seconds"], 3),
            "evaluations": sum(evals.values()), "sequential_evaluations": seq_evals,
            "critical_path_evaluations": critical, "critical_path_fraction": round(critical / seq_evals, 3),
            "draft_evaluations": sum(f.get("draft_evaluations", 0) for f in rep["frames"]),
            "first_frame_evaluations": {"sequential": reports[0]["frames"][0]["evaluations"],
                                        "draft": rep["frames"][0].get("draft_evaluations")},
            **seam_figures(rep, seams), "sequential_same_pairs": seam_figures(reports[0], seams),
            "warping_error_ratio": round(c["warping_error"] / seq["warping_error"], 3),
            "evaluated_warping_ratio": {d: round(ev["warping_error"][d] / ev0["warping_error"][d], 3)
                                        for d in ev.get("warping_error", {})},
            "content_ratio": round(c["content_distance"] / seq["content_distance"], 3),
            "style_ratio": round(c["style_distance"] / seq["style_distance"], 3),
            "style_per_frame": [round(f["style_distance"] / g["style_distance"], 3)
                                for f, g in zip(rep["frames"], reports[0]["frames"])],
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
