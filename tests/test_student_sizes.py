"""--keyframe-side and --stroke-scale (issue 25): the keyframes stylized at a smaller size than the frames
are rendered at, and the strokes sized to the picture (the keyframes' paint enlarged) or to the pixel
(the student trained at the keyframes' size). Tiny frames, real flow and network code."""
import os

import cv2
import numpy as np
import pytest
import torch

from mediagen import make_video
from test_student import FAST, inked, shapes
from test_student_carry import pan
from videostyle.cli import main
from videostyle.config import StudentConfig, StylizeConfig
from videostyle.io.bundled import paintings
from videostyle.run.drivers.core import Prepared
from videostyle.method.student import render
from videostyle.run.drivers.student import Job, enlarged, stylize_keyframes, train
from videostyle.run.flows import EstimatedFlows
from videostyle.run.keyframes import Keyframe
from videostyle.run.store import WorkStore

W, H = 48, 32


def test_keyframes_are_stylized_at_their_side_and_enlarged_for_the_render(tmp_path):
    """The optimizer is handed the keyframes (and the flow linking them) at --keyframe-side; the carry
    gets their paint enlarged to the frames' size."""
    frames = [Prepared(t, pan(t, W, H), {}, {}, 0.0) for t in range(5)]
    handed = []

    def solve(frame, start, temporal, iterations, cold):
        handed.append((frame.shape, start.shape))
        return np.clip(start + 40.0, 0, 255), {"evaluations": 1}

    cfg = StylizeConfig(max_side=W, device="cpu", method="student", follow_light=0.0,
                        student=StudentConfig(keyframe_side=24))
    job = Job(device=None, work_dir=str(tmp_path))
    out = stylize_keyframes(solve, cfg, frames, [Keyframe(0, "first"), Keyframe(4, "every 4 frames")],
                            WorkStore(str(tmp_path / "w")), EstimatedFlows("dis", "medium"), job)
    assert [h[0] for h in handed] == [(16, 24, 3)] * 2 and all(h[1] == (16, 24, 3) for h in handed), handed
    assert job.summary["keyframe_size"] == [24, 16]
    for k in (0, 4):
        assert job.small_keys[k].shape == (16, 24, 3) and out[k].shape == (H, W, 3)
        assert np.array_equal(out[k], enlarged(job.small_keys[k], (W, H)))


def trained_ink(scale: str, work) -> float:
    """The share of a 2× frame's pixels the student paints dark, trained with ``scale`` on one keyframe
    made at the frame's half size: its edges drawn as 1-px black lines."""
    big = [cv2.resize(shapes(t), (2 * W, 2 * H), interpolation=cv2.INTER_NEAREST) for t in range(4)]
    frames = [Prepared(t, f, {}, {}, 0.0) for t, f in enumerate(big)]
    small = inked(shapes(0)).astype(np.float32)
    cfg = StylizeConfig(max_side=2 * W, device="cpu", method="student", seed=3,
                        student=StudentConfig(keyframe_side=W, stroke_scale=scale, no_carry=scale == "pixel",
                                              steps=150, patch=24, width=24, temporal=0.0))
    os.makedirs(work / scale / "student")
    job = Job(device=torch.device("cpu"), work_dir=str(work / scale), keys={0: enlarged(small, (2 * W, 2 * H))},
              small_keys={0: small})
    net = train(cfg, frames, job.keys, job)
    out = render(net, [big[3]], torch.device("cpu"))[0]
    assert job.summary["stroke_scale"]["trained_at"] == ([W, H] if scale == "pixel" else [2 * W, 2 * H])
    return float((out.mean(-1) < 0.5 * big[3].astype(np.float32).mean(-1)).mean())


def test_pixel_strokes_are_as_wide_in_pixels_as_the_keyframes_picture_strokes_as_wide_in_the_picture(tmp_path):
    """Lines 1 px wide at the keyframes' half size: the picture scale paints them about 2 px wide on the
    full-size frame (as the enlarged keyframe shows them), the pixel scale about 1 px."""
    picture, pixel = trained_ink("picture", tmp_path), trained_ink("pixel", tmp_path)
    assert pixel < 0.7 * picture, (pixel, picture)
    assert pixel > 0.01, pixel  # it does draw the lines


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizes")
    path = root / "clip.mp4"
    make_video(path, n=6, image=lambda i, w, h: shapes(i))
    return root, str(path), paintings()["starry_night"]


def test_a_render_larger_than_its_keyframes_writes_frames_at_the_render_size(clip, capsys):
    root, video, style = clip
    out = root / "big"
    assert main(["stylize", video, "--style", style, "-o", str(out / "%02d.png"), "--method", "student",
                 *FAST, "--keyframe-side", "24"]) == 0
    frames = sorted(os.listdir(out))
    assert len(frames) == 6 and all(cv2.imread(str(out / f)).shape == (H, W, 3) for f in frames)


@pytest.mark.parametrize("args,message", [
    (["--method", "student", "--keyframe-side", "48"], "--keyframe-side 48 must be smaller than --max-side 48"),
    (["--keyframe-side", "24"], "--keyframe-side needs --method student"),
    (["--method", "student", "--keyframe-side", "24", "--stroke-scale", "pixel"], "needs --no-carry"),
    (["--method", "student", "--stroke-scale", "pixel", "--no-carry"], "--stroke-scale pixel needs --keyframe-side"),
])
def test_sizes_that_cannot_work_are_one_line_exit_2_and_write_nothing(clip, capsys, args, message):
    root, video, style = clip
    out = root / "refused.mp4"
    assert main(["stylize", video, "--style", style, "-o", str(out), *FAST, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and not os.path.exists(str(out) + ".videostyle")


def test_the_memory_check_asks_about_the_keyframes_size(clip, capsys, monkeypatch):
    """The optimizer runs only at --keyframe-side in a student run: memory for 24x16 but not for 48x32
    refuses the plain render (naming --max-side) and a student with keyframes at 40 px (naming
    --keyframe-side), and lets the student with keyframes at 24 px through."""
    from videostyle.run import memory
    root, video, style = clip
    monkeypatch.setattr(memory, "available_bytes", lambda device: memory.estimate_bytes(24, 16) + 1)
    out = root / "mem"
    assert main(["stylize", video, "--style", style, "-o", str(out / "a%02d.png"), *FAST]) == 2
    assert "use --max-side" in capsys.readouterr().err
    assert main(["stylize", video, "--style", style, "-o", str(out / "b%02d.png"), *FAST, "--method", "student",
                 "--keyframe-side", "40"]) == 2
    assert "use --keyframe-side" in capsys.readouterr().err
    assert main(["stylize", video, "--style", style, "-o", str(out / "c%02d.png"), *FAST, "--method", "student",
                 "--keyframe-side", "24"]) == 0
    assert len(os.listdir(out)) == 6
