"""The benchmark script still runs and prints what the README quotes (one JSON line per configuration)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2

from mediagen import make_video, texture

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prints_one_json_line_with_the_stage_timings(tmp_path):
    video = make_video(tmp_path / "in.mp4", n=2)
    style = str(tmp_path / "style.png")
    cv2.imwrite(style, texture(32, 32, (4, 4), seed=3))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--input", video, "--style", style,
                        "--max-side", "48", "--frames", "2", "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["frames"] == 2 and out["size"] == [48, 32]
    assert set(out["stages_seconds"]) >= {"decode", "flow", "optimize", "encode", "waited"}
    assert out["evaluations_per_later_frame"] > 0 and out["seconds_per_evaluation_later"] > 0
    assert len(out["final_loss"]) == 2 and out["warping_error"] is not None
