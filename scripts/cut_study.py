"""Where the cut test (videostyle/flow/cuts.py) draws its line, and what a missed cut does to a render.

1. The test's residual (frame t−1 moved into frame t by the flow, light and contrast taken out locally,
   mean absolute difference) on every consecutive pair of real shots (the clip given, the bundled
   astronaut), on a light ramp made from the clip (the light ×0.3 → ×1.35 over 8 frames), and across
   real cuts: to the other clip, and to another part of the same clip (the same room from elsewhere, the
   hard case), and into and out of a clipped flash (the light ×2.5 + 60 for one frame), and along the
   clip with grain added to every frame (Gaussian, σ 10 and 20 levels, and 10, 20 and 30 on the clip
   darkened to a quarter: a night shot), and the pairs along the shots and the cuts again with black
   bars of 1/8 of the height top and bottom (a letterbox). At each ``--sizes``, with the flow a render picks there
   (``--flow auto``).
2. With ``--render``: a 12-frame edit (6 frames of the clip, then 6 of the astronaut) stylized with the
   defaults, with ``--cuts none`` (every frame goes on from the one before, as before the cut test), and
   the astronaut's 6 frames alone; printed: how far each of the two edits' second shot is from the shot
   stylized alone (mean levels on 0–255), and their content and style distances. ``--looks DIR`` writes
   the frames around the cut side by side.
3. With ``--dissolve``: a dissolve, not a cut (3 frames of the clip, an 8-frame cross-fade to the
   astronaut, 5 frames of the astronaut), stylized with the defaults, against the astronaut's last 5
   frames stylized alone: the content and style distances of those 5 frames (what the test does not
   catch: the dissolve is gradual).

    python scripts/cut_study.py --clip ../shared/data/videos/cockatoo.mp4 --sizes 48 64 128 256 \\
        --render --max-side 128 --style ../shared/data/styles/starry_night.jpg --looks /tmp/cuts

Results in docs/performance.md, "Cuts".
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_study import read_range  # noqa: E402

from videostyle.io.media import open_source  # noqa: E402

from videostyle.config import StylizeConfig  # noqa: E402
from videostyle.flow.cuts import CUT_RESIDUAL, cut_residual  # noqa: E402
from videostyle.io.resize import processing_size, resize_rgb  # noqa: E402
from videostyle.run.flows import EstimatedFlows  # noqa: E402
from videostyle.run.render import resolved_flow  # noqa: E402

ASTRONAUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "astronaut.mp4")


def read_all(path: str) -> list[np.ndarray]:
    return [f.image for f in open_source(path).frames()]


def residuals(clip: str, side: int, every: int) -> None:
    co = read_all(clip)
    co = [resize_rgb(f, processing_size(f.shape[1], f.shape[0], side)) for f in co]
    h, w = co[0].shape[:2]
    ast = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in read_all(ASTRONAUT)]
    cfg = resolved_flow(StylizeConfig(max_side=side, device="cpu"), (w, h))
    flows = EstimatedFlows(cfg.flow, cfg.flow_preset)

    def r(t: np.ndarray, earlier: np.ndarray) -> float:
        fb, _, _, _ = flows(1, t, 0, earlier)
        return cut_residual(t, earlier, fb)

    along = [r(co[i], co[i - 1]) for i in range(1, len(co), every)]
    along += [r(ast[i], ast[i - 1]) for i in range(1, len(ast), every)]
    start = min(120, len(co) - 8)
    ramp = [np.clip(co[start + i].astype(np.float32) * (0.3 + 0.15 * i), 0, 255).astype(np.uint8) for i in range(8)]
    lit = [r(ramp[i], ramp[i - 1]) for i in range(1, 8)]
    m = len(co)
    flash = np.clip(co[m // 4].astype(np.float32) * 2.5 + 60, 0, 255).astype(np.uint8)
    cuts = {"clip → astronaut": r(ast[0], co[0]), "astronaut → clip": r(co[5], ast[5]),
            f"clip 0 → {m * 5 // 7}": r(co[m * 5 // 7], co[0]), f"clip {m // 3} → {m * 8 // 9}": r(co[m * 8 // 9], co[m // 3]),
            f"clip {m // 9} → {m // 2}": r(co[m // 2], co[m // 9])}
    into = {"into a flash": r(flash, co[m // 4 - 1]), "out of it": r(co[m // 4 + 1], flash)}
    rng = np.random.default_rng(0)
    grain = []
    for sigma, gain in ((10, 1.0), (20, 1.0), (10, 0.25), (20, 0.25), (30, 0.25)):
        seq = [np.clip(f.astype(np.float32) * gain + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8)
               for f in co[40:46]]
        grain += [r(seq[i], seq[i - 1]) for i in range(1, 6)]
    def barred(image: np.ndarray) -> np.ndarray:
        out = image.copy()
        out[: h // 8] = out[h - h // 8:] = 0
        return out

    along_bars = [r(barred(co[i]), barred(co[i - 1])) for i in range(1, len(co), every)]
    cut_pairs = [(co[0], ast[0]), (ast[5], co[5]), (co[0], co[m * 5 // 7]), (co[m // 3], co[m * 8 // 9]),
                 (co[m // 9], co[m // 2])]
    cuts_bars = [r(barred(b), barred(a)) for a, b in cut_pairs]
    print(f"{side} px ({w}x{h}, flow {cfg.flow}): along the shots ({len(along)} pairs) max {max(along):.3f}, "
          f"99th percentile {np.percentile(along, 99):.3f}, median {np.median(along):.3f}; light ramp max "
          f"{max(lit):.3f}; grain max {max(grain):.3f}; cuts " + ", ".join(f"{k} {v:.3f}" for k, v in cuts.items())
          + "; " + ", ".join(f"{k} {v:.3f}" for k, v in into.items())
          + f"; with bars: along max {max(along_bars):.3f}, cuts min {min(cuts_bars):.3f} (a cut at ≥ {CUT_RESIDUAL})",
          flush=True)


def render(clip: str, side: int, style: str, looks: str | None) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from mediagen import make_sequence
    from videostyle.io.frames import read_image
    from videostyle.method.device import to_tensor
    from videostyle.method.stylizer import Stylizer
    from videostyle.run.pipeline import stylize_video

    co = [resize_rgb(f, processing_size(f.shape[1], f.shape[0], side)) for f in read_range(clip, 0, 6)]
    h, w = co[0].shape[:2]
    ast = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in read_range(ASTRONAUT, 0, 6)]
    root = tempfile.mkdtemp(prefix="cut-study-")
    make_sequence(os.path.join(root, "edit"), 12, lambda i, ww, hh: (co + ast)[i], w, h)
    make_sequence(os.path.join(root, "alone"), 6, lambda i, ww, hh: ast[i], w, h)
    out = {}
    for name, src, kw in (("detect", "edit", {}), ("none", "edit", {"cuts": "none"}), ("alone", "alone", {})):
        dest = os.path.join(root, f"out_{name}")
        report = stylize_video(os.path.join(root, src), [style], os.path.join(dest, "%03d.png"),
                               StylizeConfig(max_side=side, device="cpu", **kw))
        frames = [cv2.imread(os.path.join(dest, f"{i:03d}.png"))[..., ::-1].astype(np.float32)
                  for i in range(len(report["frames"]))]
        out[name] = (frames, report)
    stylizer = Stylizer.create(StylizeConfig(max_side=side, device="cpu"), [read_image(style)])
    alone = out["alone"][0]
    for name in ("detect", "none"):
        frames, report = out[name]
        shot_b = frames[6:]
        apart = [float(np.abs(a - b).mean()) for a, b in zip(shot_b, alone)]
        fid = [stylizer.fidelity(to_tensor(f, stylizer.device), to_tensor(s, stylizer.device)) for f, s in zip(shot_b, ast)]
        print(f"{name:6s}: cuts {report['cuts']}; second shot against it stylized alone, mean levels per frame "
              + " ".join(f"{a:.1f}" for a in apart)
              + f"; content {np.mean([f['content_distance'] for f in fid]):.3f}, style "
                f"{np.mean([f['style_distance'] for f in fid]):.3f}; evaluations "
              + " ".join(str(f["evaluations"]) for f in report["frames"]), flush=True)
    fid = [stylizer.fidelity(to_tensor(f, stylizer.device), to_tensor(s, stylizer.device)) for f, s in zip(alone, ast)]
    print(f"alone : content {np.mean([f['content_distance'] for f in fid]):.3f}, style "
          f"{np.mean([f['style_distance'] for f in fid]):.3f}", flush=True)
    if looks:
        os.makedirs(looks, exist_ok=True)
        rows = [np.concatenate([out[n][0][i] if n != "alone" else alone[i - 6] for i in (5, 6, 7, 11)], 1)
                for n in ("detect", "none")]
        sheet = np.concatenate(rows, 0)
        cv2.imwrite(os.path.join(looks, "cut_detect_none.png"), np.clip(sheet, 0, 255).astype(np.uint8)[..., ::-1])


def dissolve(clip: str, side: int, style: str, looks: str | None) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from mediagen import make_sequence
    from videostyle.io.frames import read_image
    from videostyle.method.device import to_tensor
    from videostyle.method.stylizer import Stylizer
    from videostyle.run.pipeline import stylize_video

    a = [resize_rgb(f, processing_size(f.shape[1], f.shape[0], side)) for f in read_range(clip, 0, 16)]
    h, w = a[0].shape[:2]
    b = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in read_range(ASTRONAUT, 0, 16)]
    mix = [min(1.0, max(0.0, (i - 3) / 8)) for i in range(16)]
    edit = [np.clip((1 - t) * x.astype(np.float32) + t * y.astype(np.float32), 0, 255).astype(np.uint8)
            for t, x, y in zip(mix, a, b)]
    root = tempfile.mkdtemp(prefix="cut-study-")
    make_sequence(os.path.join(root, "edit"), 16, lambda i, ww, hh: edit[i], w, h)
    make_sequence(os.path.join(root, "alone"), 5, lambda i, ww, hh: b[11 + i], w, h)
    stylizer = Stylizer.create(StylizeConfig(max_side=side, device="cpu"), [read_image(style)])
    rows = {}
    for name, src, first in (("after the dissolve", "edit", 11), ("the shot alone", "alone", 0)):
        dest = os.path.join(root, f"out_{name[:5]}")
        report = stylize_video(os.path.join(root, src), [style], os.path.join(dest, "%03d.png"),
                               StylizeConfig(max_side=side, device="cpu"))
        frames = [cv2.imread(os.path.join(dest, f"{first + i:03d}.png"))[..., ::-1].astype(np.float32) for i in range(5)]
        fid = [stylizer.fidelity(to_tensor(f, stylizer.device), to_tensor(s, stylizer.device)) for f, s in zip(frames, b[11:])]
        rows[name] = frames
        print(f"{name}: cuts {report['cuts']}; content per frame "
              + " ".join(f"{f['content_distance']:.3f}" for f in fid)
              + f"; style {np.mean([f['style_distance'] for f in fid]):.3f}", flush=True)
    if looks:
        os.makedirs(looks, exist_ok=True)
        sheet = np.concatenate([np.concatenate([rows[n][0], rows[n][4]], 1) for n in rows], 0)
        cv2.imwrite(os.path.join(looks, "dissolve.png"), np.clip(sheet, 0, 255).astype(np.uint8)[..., ::-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--sizes", type=int, nargs="*", default=[64, 128, 256], help="none: skip the residuals")
    ap.add_argument("--every", type=int, default=1, help="every Nth pair of the shots (faster at large sizes)")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--max-side", type=int, default=128)
    ap.add_argument("--style")
    ap.add_argument("--looks")
    ap.add_argument("--dissolve", action="store_true")
    a = ap.parse_args()
    for side in a.sizes:
        residuals(a.clip, side, a.every)
    if a.render:
        if not a.style:
            ap.error("--render needs --style")
        render(a.clip, a.max_side, a.style, a.looks)
    if a.dissolve:
        if not a.style:
            ap.error("--dissolve needs --style")
        dissolve(a.clip, a.max_side, a.style, a.looks)


if __name__ == "__main__":
    main()
