"""How far each optical flow is from the true motion, on shots whose motion is known (judge_floor.py's):
a pan, a hand-held walk, a picture that bends (wobble), and a weakly textured card crossing the hand-held
view (card; its true flow on the card is the card's own step, the picture it hides is left out).

Prints the mean end-point error (pixels) of each flow method against the truth, frame to frame, and on
the card shot separately on the card. No stylization: a few seconds.

    python scripts/flow_accuracy.py --clip ../shared/data/videos/cockatoo.mp4 --max-side 96 256

Results in docs/performance.md, "DeepFlow guarded by DIS".
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from judge_floor import CANVAS, card_mask, card_path, look, paste, true_card_flow, true_flow, windows  # noqa: E402

from videostyle.flow.estimate import FLOW_METHODS, FlowEstimator  # noqa: E402
from videostyle.io.bundled import clip_path  # noqa: E402
from videostyle.io.media import open_source  # noqa: E402
from videostyle.io.resize import processing_size  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", help="a real clip whose frame is the canvas (default: the bundled astronaut)")
    ap.add_argument("--at", type=int, help="which frame of the clip (default 40 of --clip, 4 of the bundled one)")
    ap.add_argument("--max-side", type=int, nargs="+", default=[96, 256])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--methods", default="dis,deepflow,deepflow+dis", help="comma-separated, of: " + ", ".join(FLOW_METHODS))
    args = ap.parse_args(argv)
    at = args.at if args.at is not None else (40 if args.clip else 4)
    frame = next(iter(open_source(args.clip or clip_path(), (at, at + 1)).frames())).image
    methods = {m: FlowEstimator(m) for m in args.methods.split(",")}
    print(f"{'size':9s} {'shot':10s} " + "  ".join(f"{m:>14s}" for m in methods) + "   (mean end-point error, px)")
    for side in args.max_side:
        w, h = processing_size(frame.shape[1], frame.shape[0], side)
        canvas = cv2.resize(frame, (round(CANVAS * w), round(CANVAS * h)), interpolation=cv2.INTER_AREA)
        for kind in ("pan", "hand-held", "wobble", "card"):
            views = windows("hand-held" if kind == "card" else kind, args.frames, w, h)
            frames = [look(canvas, v, w, h) for v in views]
            if kind == "card":
                card, xs, top = card_path(args.frames, w, h)
                frames = [paste(f, card, x, top) for f, x in zip(frames, xs)]
            picture = {m: [] for m in methods}
            on_card = {m: [] for m in methods}
            for t in range(1, args.frames):
                if kind == "card":
                    truth, valid = true_card_flow(views[t], views[t - 1], xs[t], xs[t - 1], top, card.shape[:2], w, h)
                    on = cv2.erode(card_mask(xs[t], top, card.shape[:2], w, h).astype(np.uint8),
                                   np.ones((7, 7), np.uint8)).astype(bool)  # 3 px inside its edges
                    behind = (valid > 0) & ~card_mask(xs[t], top, card.shape[:2], w, h, grow=3)
                else:
                    truth, valid = true_flow(views[t], views[t - 1], w, h)
                    on, behind = None, valid > 0
                for m, estimate in methods.items():
                    error = np.linalg.norm(estimate(frames[t], frames[t - 1]) - truth, axis=-1)
                    picture[m].append(error[behind].mean())
                    if on is not None:
                        on_card[m].append(error[on].mean())
            print(f"{w}x{h:<5d} {kind:10s} " + "  ".join(f"{np.mean(picture[m]):14.3f}" for m in methods), flush=True)
            if kind == "card":
                print(f"{w}x{h:<5d} {'on card':10s} " + "  ".join(f"{np.mean(on_card[m]):14.2f}" for m in methods)
                      + f"   (the card moves {xs[1] - xs[0]} px a frame)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
