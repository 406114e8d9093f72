"""How fast the fast mode renders a frame, by part, at each size (issue 25: ≤ 0.1 s a frame at 256 px on
the CPU; 1080p frames per second on a GPU): the student network (its weights do not change its cost) as
the render batches it, against eight frames at a time, in the same run; and the keyframe carry's work per
frame on the CPU (two keyframes warped in, their light matched, the seam softened, and the chain of
flows grown by one step on each side).

    python scripts/student_speed.py --sizes 128x72 256x144 256x192 512x288 --frames 16

On a GPU the network runs in half precision, as the render does. Results: docs/performance.md, "Fast
mode (issue 25)".
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from videostyle.flow.warp import compose  # noqa: E402
from videostyle.method import carry as carry_paint  # noqa: E402
from videostyle.method import student as network  # noqa: E402
from videostyle.method.device import resolve_device  # noqa: E402
from videostyle.run.drivers.student import render_batch_size  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_frame(fn, n: int, device: torch.device, repeats: int = 3) -> float:
    """Best of ``repeats`` (the machine is shared), seconds a frame."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def carry_cost(w: int, h: int, rng: np.random.Generator) -> float:
    frame = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    paint = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    flow = rng.normal(0, 2, (h, w, 2)).astype(np.float32)
    weight = rng.uniform(0, 1, (h, w)).astype(np.float32)
    sides = [carry_paint.Side(paint, frame, flow, weight, 0.5) for _ in range(2)]

    def once():
        for _ in range(2):  # one more step of each side's chain
            compose(flow, weight, flow, weight)
        carry_paint.carry(frame, paint, sides, 0.75)
    once()
    return per_frame(once, 1, torch.device("cpu"), repeats=5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["256x144", "256x192"], help="WxH each")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--width", type=int, default=32, help="the student's width (--student-width)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {name}", flush=True)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    net = network.StudentNet(args.width).to(device)
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split("x"))
        frames = [rng.uniform(0, 255, (h, w, 3)).astype(np.float32) for _ in range(args.frames)]
        batch = render_batch_size(w, h)  # the frames the driver hands the painter at once
        used = network.batch_on(device, batch, h, w)
        network.render(net, frames[:batch], device, batch)  # warm-up (oneDNN / cuDNN pick their kernels)
        t_used = per_frame(lambda: network.render(net, frames, device, batch), len(frames), device)
        t_eight = t_used
        if used != 8:
            network.CPU_BATCH_PIXELS, kept = 8 * w * h, network.CPU_BATCH_PIXELS
            try:
                t_eight = per_frame(lambda: network.render(net, frames, device, 8), len(frames), device)
            finally:
                network.CPU_BATCH_PIXELS = kept
        t_carry = carry_cost(w, h, rng)
        print(f"{w}x{h}: network {t_used * 1e3:.1f} ms/frame {used} at a time, {t_eight * 1e3:.1f} eight at a time "
              f"(ratio {t_used / t_eight:.2f}); carry {t_carry * 1e3:.1f} ms/frame (CPU); both "
              f"{(t_used + t_carry) * 1e3:.1f} ms/frame = {1 / (t_used + t_carry):.1f} frames/s "
              f"(the network alone {1 / t_used:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
