"""Do two checkouts of videostyle render bit-identical frames? Renders the same short clip with the
single pass, multi-pass and chunked drivers in each (16-bit PNG frames, CPU, one thread each so the
arithmetic is the same), and prints one JSON line per mode: frames compared, frames that differ, the
largest difference in 16-bit levels.

    python scripts/same_frames.py --ref /tmp/ref --clip ../shared/data/videos/cockatoo.mp4 \
        --style ../shared/data/styles/starry_night.jpg --frames 100-105

--ref is a checkout of the other commit (``git worktree add /tmp/ref c551d7b``); this checkout is the
other side. Each side runs in its own process with its own package on PYTHONPATH.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

MODES = {
    "single": [],
    "multipass": ["--passes", "2"],
    "chunked": ["--chunk-frames", "3", "--draft-iterations", "3", "--finish-iterations", "2"],
}


def render(tree: str, args, mode: list[str], out: str) -> None:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "videostyle", "stylize", args.clip, "--style", args.style, "-o", out + "/",
           "--frames", args.frames, "--max-side", str(args.max_side), "--iterations", args.iterations,
           "--depth", "16", "--device", "cpu", "--quiet", *mode]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(mode) or 'single'} failed: {done.stderr.strip()[-500:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=True)
    p.add_argument("--clip", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--frames", default="100-105")
    p.add_argument("--max-side", type=int, default=48)
    p.add_argument("--iterations", default="6,3")
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args.clip, args.style = os.path.abspath(args.clip), os.path.abspath(args.style)
    for name in args.modes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = os.path.join(tmp, "ref"), os.path.join(tmp, "here")
            render(os.path.abspath(args.ref), args, MODES[name], a)
            render(here, args, MODES[name], b)
            names = sorted(os.listdir(a))
            assert names == sorted(os.listdir(b)), (names, sorted(os.listdir(b)))
            diffs = [np.abs(cv2.imread(os.path.join(a, n), cv2.IMREAD_UNCHANGED).astype(np.int64)
                            - cv2.imread(os.path.join(b, n), cv2.IMREAD_UNCHANGED).astype(np.int64)).max()
                     for n in names]
            print(json.dumps({"mode": name, "frames": len(names), "differ": int(sum(d > 0 for d in diffs)),
                              "max_levels": int(max(diffs))}), flush=True)


if __name__ == "__main__":
    main()
