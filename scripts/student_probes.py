"""Three probes of the fast mode's carried frames (docs/performance.md, "Where the carried student loses
the style"), on the same shot and painting as scripts/student_bench.py, each printing one row per variant
with the bench's measures (warping error by TV-L1 and DIS over the source's floor, content, style):

- ``steps``: students trained longer, without the temporal term or without augmentation, each rendered
  carried and alone (with its PSNR at the keyframes);
- ``sharpen``: the carried frames unsharp-masked (does the resample's lost detail explain the style?);
- ``oracle``: the carry with the single pass's own frame in place of the student's paint where the
  keyframes' flow does not reach (how much of the lost style is the fill's), and the style distance per
  frame of the single pass, the carried frames and the oracle fill;
- ``nnfill``: the carry with an image-analogy fill in place of the student's paint where the keyframes'
  flow does not reach: each such pixel takes the keyframes' paint at the place whose source patch looks
  most like its own (5×5 patches, nearest neighbour, the neighbours' patches voted), as EbSynth-like
  patch-based synthesis does without its coherence search.

    python scripts/student_probes.py oracle --max-side 128
    python scripts/student_probes.py steps --max-side 128 --variants "300;1500;1500,t0;1500,noaug"
    python scripts/student_probes.py nnfill --max-side 128 [--coherence 0.7]
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_study import measure, measure_warp, read_range, sharpness, source_flows  # noqa: E402
from student_bench import psnr, run_method  # noqa: E402

from videostyle.config import StudentConfig, StylizeConfig
from videostyle.io.frames import read_image
from videostyle.io.resize import processing_size, resize_rgb
from videostyle.method import carry as carry_module
from videostyle.method.device import to_tensor
from videostyle.method.stylizer import Stylizer
from videostyle.method.student_training import Settings
from videostyle.run.drivers import student


PATCH = 5  # the analogy's patch side (pixels)


def _patches(image: np.ndarray) -> np.ndarray:
    """H×W×(PATCH²·3): each pixel's source patch (edges replicated), scaled to 0–1."""
    r = PATCH // 2
    pad = cv2.copyMakeBorder(image.astype(np.float32) / 255.0, r, r, r, r, cv2.BORDER_REPLICATE)
    h, w = image.shape[:2]
    return np.concatenate([pad[dy:dy + h, dx:dx + w] for dy in range(PATCH) for dx in range(PATCH)], axis=-1)


def analogy_fill(frame: np.ndarray, sides, where: np.ndarray, keep: dict | None = None,
                 coherence: float = 0.0) -> np.ndarray:
    """The keyframes' paint laid on ``frame`` by analogy at the pixels ``where`` is true (elsewhere 0):
    each pixel's nearest source patch among the keyframes' sources (L2), then each filled pixel the mean
    of the paint its PATCH² neighbours' matches put on it (patch voting).

    With ``coherence`` c > 0 and ``keep`` (a dict the caller keeps from frame to frame): a pixel keeps the
    match it had on the previous frame (same keyframes) unless the new nearest is closer than c × its
    distance, so the copied strokes do not change with every frame's noise (EbSynth's temporal guide,
    simplified: the previous matches at the same place, not moved by the flow)."""
    h, w = frame.shape[:2]
    r = PATCH // 2
    cand = np.concatenate([_patches(s.source).reshape(h * w, -1) for s in sides])
    paint = np.concatenate([s.stylized.astype(np.float32).reshape(h * w, 3) for s in sides])
    grown = cv2.dilate(where.astype(np.uint8), np.ones((PATCH, PATCH), np.uint8)) > 0
    ys, xs = np.nonzero(grown)
    query = _patches(frame)[ys, xs]
    c2 = (cand ** 2).sum(1)
    best = np.empty(len(ys), np.int64)
    for i in range(0, len(ys), 512):
        q = query[i:i + 512]
        best[i:i + 512] = np.argmin(c2[None] - 2.0 * q @ cand.T, axis=1)
    if coherence > 0 and keep is not None:
        ident = tuple(id(s.stylized) for s in sides)
        if keep.get("sides") == ident:
            prev = keep["match"][ys, xs]
            has = prev >= 0
            d_prev = ((query[has] - cand[prev[has]]) ** 2).sum(1)
            d_new = ((query[has] - cand[best[has]]) ** 2).sum(1)
            stay = d_new >= coherence * d_prev
            chosen = best[has]
            chosen[stay] = prev[has][stay]
            best[has] = chosen
        match = np.full((h, w), -1, np.int64)
        match[ys, xs] = best
        keep.update(sides=ident, match=match)
    side, pos = best // (h * w), best % (h * w)
    by, bx = pos // w, pos % w
    num = np.zeros((h, w, 3), np.float32)
    den = np.zeros((h, w), np.float32)
    for dy in range(-r, r + 1):          # the match of pixel p paints p + o with its keyframe's pixel + o
        for dx in range(-r, r + 1):
            ty, tx = ys + dy, xs + dx
            sy, sx = np.clip(by + dy, 0, h - 1), np.clip(bx + dx, 0, w - 1)
            ok = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            np.add.at(num, (ty[ok], tx[ok]), paint[side[ok] * h * w + sy[ok] * w + sx[ok]])
            np.add.at(den, (ty[ok], tx[ok]), 1.0)
    out = num / np.maximum(den, 1.0)[..., None]
    return np.where(where[..., None], out, 0.0).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("probe", choices=("steps", "sharpen", "oracle", "nnfill"))
    ap.add_argument("--clip", default="../shared/data/videos/cockatoo.mp4")
    ap.add_argument("--style", default="../shared/data/styles/starry_night.jpg")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--max-side", type=int, default=128)
    ap.add_argument("--iterations", default=None, help="FIRST,LATER caps (default: the defaults of the day)")
    ap.add_argument("--steps", type=int, default=StudentConfig.steps, help="the build student's training steps")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--coherence", type=float, default=0.0,
                    help="nnfill: keep the previous frame's match unless the new one is closer than this × its distance")
    ap.add_argument("--no-single", action="store_true", help="nnfill: skip the single pass (its row and looks)")
    ap.add_argument("--looks", help="nnfill: write frames from the start, middle and end here as PNG")
    ap.add_argument("--variants", default="300;1500;1500,t0;1500,noaug",
                    help="steps: STEPS[,t0][,noaug] separated by ';' (t0: no temporal term; noaug: no augmentation)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    base = StylizeConfig(max_side=args.max_side, device=args.device)
    if args.iterations:
        first, later = (int(x) for x in args.iterations.split(","))
        base = dataclasses.replace(base, optim=dataclasses.replace(base.optim, iterations_first=first,
                                                                   iterations_later=later))
    frames = [resize_rgb(f, processing_size(f.shape[1], f.shape[0], args.max_side))
              for f in read_range(args.clip, args.start, args.frames)]
    stylizer = Stylizer.create(base, [read_image(args.style)])
    judges = {"we": source_flows(frames, "dis", base.flow_preset), "tv": source_flows(frames, "tvl1", base.flow_preset)}

    def row(name: str, out: list[np.ndarray], extra: str = "") -> None:
        r = measure(stylizer, out, frames, judges["we"])
        r.update({k.replace("we", "tv"): v for k, v in measure_warp(out, frames, judges["tv"]).items()})
        print(f"{name:30s} tv {r['tv1']:.2f}/{r['tv2']:.2f}/{r['tv4']:.2f}  we {r['we1']:.2f}/{r['we2']:.2f}/"
              f"{r['we4']:.2f}  content {r['content']:.3f}  style {r['style']:.3f}{extra}", flush=True)

    def style_of(image: np.ndarray, k: int) -> float:
        return stylizer.fidelity(to_tensor(image, stylizer.device), to_tensor(frames[k], stylizer.device))["style_distance"]

    cfg = dataclasses.replace(base, method="student", student=StudentConfig(steps=args.steps))
    if args.probe == "oracle":
        single = run_method(base, stylizer, frames)[0]
        row("single pass", single)
        key = lambda a: hashlib.md5(np.ascontiguousarray(a).astype(np.uint8).tobytes()).hexdigest()  # noqa: E731
        by_frame, fill, covers, carry = {key(f): single[k] for k, f in enumerate(frames)}, [False], [], carry_module.carry

        def carried(frame, paint, sides, follow_light):
            covers.append(float(np.max([s.weight for s in sides], axis=0).mean()) if sides else 1.0)
            return carry(frame, by_frame.get(key(frame), paint) if fill[0] else paint, sides, follow_light)
        carry_module.carry = carried
        out, _, summary, _, store = run_method(cfg, stylizer, frames)
        keys = [k["frame"] for k in summary["keyframes"]]
        row(f"carried (keyframes {keys})", out, f"  mean cover {np.mean(covers):.3f}")
        fill[0] = True
        oracle = run_method(cfg, stylizer, frames, work=store.root, retrain=False)[0]
        row("carried, the single pass's fill", oracle)
        for k in range(len(frames)):
            print(f"frame {k:3d}{' (keyframe)' if k in keys else '           '}  style: single {style_of(single[k], k):.3f}"
                  f"  carried {style_of(out[k], k):.3f}  oracle fill {style_of(oracle[k], k):.3f}", flush=True)
        return 0
    if args.probe == "nnfill":
        single = frames if args.no_single else run_method(base, stylizer, frames)[0]
        if not args.no_single:
            row("single pass", single)
        fill, carry, keep = [False], carry_module.carry, {}

        def filled(frame, paint, sides, follow_light):
            if fill[0] and sides:
                where = np.max([s.weight for s in sides], axis=0) < 0.99
                if where.any():
                    paint = np.where(where[..., None],
                                     analogy_fill(frame, sides, where, keep, args.coherence), paint)
            return carry(frame, paint, sides, follow_light)
        carry_module.carry = filled
        out, _, summary, _, store = run_method(cfg, stylizer, frames)
        row(f"carried (keyframes {[k['frame'] for k in summary['keyframes']]})", out)
        fill[0] = True
        nn, seconds, *_ = run_method(cfg, stylizer, frames, work=store.root, retrain=False)
        name = "carried, the analogy fill" + (f" (coherence {args.coherence})" if args.coherence else "")
        row(name, nn, f"  render {seconds / len(frames) * 1000:.0f} ms a frame")
        if args.looks:
            os.makedirs(args.looks, exist_ok=True)
            for k in (0, len(frames) // 2, len(frames) - 1):
                # Without the single pass, the source frame in its place.
                for name, seq in (("source" if args.no_single else "single", single), ("carried", out), ("fill", nn)):
                    cv2.imwrite(os.path.join(args.looks, f"{k:03d}_{name}.png"),
                                cv2.cvtColor(np.clip(seq[k], 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        return 0
    out, _, summary, _, store = run_method(cfg, stylizer, frames)
    keys = [k["frame"] for k in summary["keyframes"]]
    kept = {n: store.load(n, student.KEYFRAME_PASS)[0].astype(np.float32) / 257.0 for n in keys}
    energy = np.mean([sharpness(kept[n]) for n in keys])
    if args.probe == "sharpen":
        for sigma, amount in ((0, 0), (0.7, 0.3), (0.7, 0.6), (1.0, 0.3), (1.0, 0.6)):
            sharp = [im if not amount else np.clip(im + amount * (im - cv2.GaussianBlur(im, (0, 0), sigma)), 0, 255)
                     for im in out]
            row(f"unsharp σ {sigma} × {amount}", sharp,
                f"  gradient energy {np.mean([sharpness(x) for x in sharp]) / energy:.2f}× the keyframes'")
        return 0
    for variant in args.variants.split(";"):
        steps, *flags = variant.split(",")
        extra = dict(noise=0.0, gain=0.0, offset=0.0) if "noaug" in flags else {}
        student.Settings = lambda **kw: Settings(**{**kw, **extra})  # the driver builds its Settings by this name
        sc = dataclasses.replace(cfg.student, steps=int(steps), temporal=0.0 if "t0" in flags else cfg.student.temporal)
        for alone in (False, True):
            cfg_v = dataclasses.replace(cfg, student=dataclasses.replace(sc, no_carry=alone))
            out_v, _, s_v, _, _ = run_method(cfg_v, stylizer, frames, work=store.root, retrain=not alone)
            note = (f"  training {s_v['seconds'].get('training', 0):.0f} s" if not alone else
                    "  PSNR at the keyframes " + ", ".join(f"{psnr(out_v[n], kept[n]):.1f}" for n in keys))
            row(f"{variant} {'alone' if alone else 'carried'}", out_v, note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
