"""The package imports and renders where ``fcntl`` does not exist (Windows): staging locks are lock
files (io/locks.py), never ``flock`` on folders."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from mediagen import make_video

pytestmark = pytest.mark.slow


def test_a_render_runs_with_fcntl_unavailable(tmp_path):
    video = make_video(tmp_path / "in.mp4", n=3)
    style = str(tmp_path / "style.png")
    cv2.imwrite(style, np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    script = textwrap.dedent(f"""
        import sys
        sys.modules["fcntl"] = None  # import fcntl now raises ImportError, as on Windows
        from videostyle.cli import main
        assert "fcntl" not in [m for m in sys.modules if sys.modules[m] is not None]
        common = ["--iterations", "2,1", "--max-side", "32", "--quiet", "--device", "cpu"]
        assert main(["stylize", {video!r}, "--style", {style!r}, "-o", {str(tmp_path / "frames")!r} + "/", *common]) == 0
        assert main(["stylize", {video!r}, "--style", {style!r}, "-o", {str(tmp_path / "out.mp4")!r}, *common]) == 0
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "frames")) == ["000001.png", "000002.png", "000003.png"]
    assert os.path.getsize(tmp_path / "out.mp4") > 0
    assert not [n for n in os.listdir(tmp_path) if ".partial" in n or n.endswith(".lock")]
