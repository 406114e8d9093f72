"""A camera pan keeps its style and its strokes to the last frame with ``--resampling lanczos`` (issue 24):
the stylized frames of the last quarter carry as much style as the first quarter's and are as sharp,
relative to the source in the same frames. (The default, bilinear, fails the sharpness test: 0.89×; it is
kept as the default for its steadiness, docs/performance.md, "The default render".) Real network and weights, tiny frames: a statistically even texture panned 0.6 px a frame,
so the source itself is as sharp at the end as at the start."""
import os

import cv2
import numpy as np
import pytest

from mediagen import texture
from videostyle.config import OptimConfig, StylizeConfig
from videostyle.io.bundled import paintings
from videostyle.io.frames import read_image
from videostyle.io.resize import resize_rgb
from videostyle.method.device import to_tensor
from videostyle.method.stylizer import Stylizer
from videostyle.run.pipeline import stylize_video

W, H, N = 48, 32, 12
BIG = texture(H * 4, W * 8, (H // 2, W), seed=5)


def pan(i: int) -> np.ndarray:
    """Frame i: the texture moved 0.6 output pixels left per frame (sub-pixel: every warp resamples)."""
    shifted = cv2.warpAffine(BIG, np.float32([[1, 0, -2.4 * i], [0, 1, 0]]), (W * 4, H * 4), flags=cv2.INTER_CUBIC)
    return resize_rgb(shifted, (W, H))


def sharpness(image: np.ndarray) -> float:
    """Mean gradient energy (Sobel) of the grey image."""
    g = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2).mean())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("pan")
    os.makedirs(root / "src")
    sources = [pan(i) for i in range(N)]
    for i, f in enumerate(sources):
        cv2.imwrite(str(root / "src" / f"{i:03d}.png"), f[..., ::-1])
    # The first frame converges as a real run's does (a cold start stops early on its own), so it is as
    # painted as the frames that inherit its paint.
    cfg = StylizeConfig(optim=OptimConfig(iterations_first=300, iterations_later=30), device="cpu",
                        resampling="lanczos")
    style = paintings()["starry_night"]
    stylize_video(str(root / "src"), style, str(root / "out" / "%03d.png"), cfg)
    out = [cv2.imread(str(root / "out" / f))[..., ::-1] for f in sorted(os.listdir(root / "out"))]
    stylizer = Stylizer.create(cfg, [read_image(style)])
    distances = [stylizer.fidelity(to_tensor(o.astype(np.float32), stylizer.device),
                                   to_tensor(s, stylizer.device))["style_distance"] for o, s in zip(out, sources)]
    return sources, out, distances


def test_the_last_quarter_of_a_pan_is_as_sharp_as_the_first(rendered):
    sources, out, _ = rendered
    q = N // 4
    relative = [sharpness(o) / sharpness(s) for o, s in zip(out, sources)]
    # Guarded: with --resampling bilinear (each frame's start and temporal target a bilinear resample of
    # the last) this was 0.89 and fell frame after frame.
    assert np.mean(relative[-q:]) >= 0.95 * np.mean(relative[:q])


def test_the_last_quarter_of_a_pan_keeps_its_style(rendered):
    _, _, distances = rendered
    q = N // 4
    assert abs(np.mean(distances[-q:]) / np.mean(distances[:q]) - 1) <= 0.10
