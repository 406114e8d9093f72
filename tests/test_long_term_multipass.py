"""Long-term consistency and the multi-pass algorithm on synthetic clips with known motion (real VGG19)."""
import os

import cv2
import numpy as np
import pytest

from mediagen import make_sequence, texture
from videostyle import OptimConfig, StylizeConfig, stylize_video
from videostyle.config import MultiPassConfig
from videostyle.flow.estimate import FlowEstimator, consistency_weights
from videostyle.io.frames import read_image
from videostyle.flow.warp import warp

W, H = 48, 32
BACKGROUND = texture(H, W, (8, 12), seed=5)
PANO = texture(H, 2 * W, (6, 24), seed=9)


def occluder(i, w, h):
    """Static textured background; a flat grey bar 10 px wide sweeps right at 4 px/frame, hiding each
    background pixel for about three frames."""
    img = BACKGROUND.copy()
    x = 4 * i - 6
    img[:, max(x, 0):max(x + 10, 0)] = 128
    return img


def style_file(tmp_path):
    path = str(tmp_path / "style.png")
    yy, xx = np.mgrid[0:48, 0:48]
    img = np.stack([np.sin(xx / 2.0) * 120 + 128, np.sin(yy / 3.0) * 120 + 128, (xx * 5) % 256], -1)
    cv2.imwrite(path, img.astype(np.uint8))
    return path


def config(**kw):
    return StylizeConfig(optim=OptimConfig(iterations_first=60, iterations_later=40, tolerance=0),
                         device="cpu", **kw)


def frames_of(folder):
    return [read_image(os.path.join(folder, n)) for n in sorted(os.listdir(folder)) if n.endswith(".png")]


def reappearing_error(stylized, source, d=4):
    """Warping error at offset d restricted to pixels hidden at t−1 but visible at t−d and t (they came
    back from behind the bar): flow and weights from the source frames."""
    flow = FlowEstimator("dis", "medium")
    errors = []
    for t in range(d, len(source)):
        b1, f1 = flow(source[t], source[t - 1]), flow(source[t - 1], source[t])
        bd, fd = flow(source[t], source[t - d]), flow(source[t - d], source[t])
        c1, cd = consistency_weights(b1, f1), consistency_weights(bd, fd)
        region = (cd > 0.5) & (c1 < 0.5)
        if region.sum() < 10:
            continue
        diff = (stylized[t].astype(np.float32) - warp(stylized[t - d].astype(np.float32), bd)) / 255.0
        errors.append(float((diff ** 2).sum(-1)[region].mean()))
    assert errors, "the synthetic clip has no re-appearing region"
    return float(np.mean(errors))


@pytest.mark.slow
def test_long_term_keeps_the_look_of_reappearing_areas(tmp_path):
    src_dir = make_sequence(tmp_path / "src", 7, occluder)
    source = frames_of(src_dir)
    style = style_file(tmp_path)
    errors = {}
    for name, offsets in (("short", (1,)), ("long", (1, 2, 4))):
        out = tmp_path / name
        stylize_video(str(src_dir), style, str(out) + "/", config(long_term=offsets))
        errors[name] = reappearing_error(frames_of(out), source)
    assert errors["long"] < 0.9 * errors["short"], errors


def pan_with_static_strip(i, w, h):
    """Top: a panorama panning 1 px/frame. Bottom 10 rows: a static textured strip (must not drift)."""
    img = np.ascontiguousarray(PANO[:h, 30 - i:30 - i + w])
    img[-10:] = BACKGROUND[-10:]
    return img


@pytest.mark.slow
def test_multipass_no_worse_than_single_pass_and_no_drift(tmp_path):
    src_dir = make_sequence(tmp_path / "src", 6, pan_with_static_strip)
    style = style_file(tmp_path)
    optim = OptimConfig(iterations_first=60, iterations_later=40, tolerance=0)
    single = stylize_video(str(src_dir), style, str(tmp_path / "single") + "/", StylizeConfig(optim=optim, device="cpu"))
    mp = MultiPassConfig(passes=3, temporal_from_pass=2, pass_iterations=20)
    work = tmp_path / "work"
    multi = stylize_video(str(src_dir), style, str(tmp_path / "multi") + "/",
                          StylizeConfig(optim=optim, multipass=mp, device="cpu"), work_dir=str(work), keep_work=True)
    assert multi["totals"]["warping_error"] <= 1.05 * single["totals"]["warping_error"], (multi["totals"], single["totals"])

    def strip_luminance(frames):
        return np.array([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[-10:].mean() for f in frames])

    first = strip_luminance([read_image(str(work / "frames" / "p01" / f"{t:06d}.png")) for t in range(6)])
    last = strip_luminance(frames_of(tmp_path / "multi"))
    # The static strip's brightness over the clip stays within 2 % of the first pass, and its spread over
    # time (drift from frame to frame) does not grow.
    assert abs(last.mean() - first.mean()) <= 0.02 * first.mean(), (first, last)
    assert np.ptp(last) <= np.ptp(first) + 0.5, (first, last)


def subpixel_pan(i, w, h):
    """The panorama moved 0.6 px left a frame (sub-pixel, so every warp resamples), rows of texture
    throughout: the paint has something to crawl over."""
    shifted = cv2.warpAffine(PANO, np.float32([[1, 0, -0.6 * i], [0, 1, 0]]), (PANO.shape[1], PANO.shape[0]),
                             flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(shifted[:h, 10:10 + w])


def error_four_frames_apart(frames):
    """Mean squared difference of frame t and frame t−4 moved by the pan's known flow (2.4 px), on the
    columns that both frames show (the right edge brings in new picture)."""
    h, w = frames[0].shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = 2.4
    errors = [((frames[t].astype(np.float32) - warp(frames[t - 4].astype(np.float32), flow))[:, 2:w - 6] ** 2).mean()
              for t in range(4, len(frames))]
    return float(np.mean(errors))


@pytest.mark.slow
def test_the_default_holds_the_paint_still_four_frames_apart(tmp_path):
    """The default (--long-term 1,2,4 --long-term-rule every) pulls each pixel toward t−2 and t−4 too,
    not only toward t−1; pulled toward t−1 alone (as the paper's rule also does on a pan that hides
    nothing) each frame's repaint adds up and the paint crawls. Guarded: with --long-term 1 or the
    paper's rule as the default, both renders are the same. (The every rule against the paper's rule,
    both with 1,2,4, measured 679 against 1196 on 12 frames: 0.57×; on these 9 the default is 0.54× the short-term render.)"""
    src_dir = make_sequence(tmp_path / "src", 9, subpixel_pan)
    style = style_file(tmp_path)
    errors = {}
    for name, cfg in (("short-term", config(long_term=(1,))), ("default", config())):
        out = tmp_path / name
        stylize_video(str(src_dir), style, str(out) + "/", cfg)
        errors[name] = error_four_frames_apart(frames_of(out))
    assert errors["default"] < 0.7 * errors["short-term"], errors
