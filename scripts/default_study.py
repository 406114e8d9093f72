"""The study that chooses the default render (issue 24): several shots × paintings × configurations, one
table. Every configuration renders the same frames in this process; the table gives, per shot and
painting:

- warping error at offsets 1 / 2 / 4 as a ratio to the source's own (its floor: flow errors, noise),
  through DIS flows of the source (we; --eval-flow adds other judges: DIS grades a render made with DIS
  flows kindly, as each flow does its own);
- content (relu4_2) and style (Gram) distance, means over the frames;
- fade: the last quarter's style distance over the first quarter's (> 1: the style fades);
- sharp: the last quarter's stylized gradient energy relative to the source's, over the first quarter's
  (< 1: the strokes soften);
- light: on a shot whose light changes, the stylized luminance change from first to last frame over the
  change of the same two frames stylized alone (1: follows as a frame stylized alone would);
- evals: VGG evaluations per frame, all of the shot's work (drafts included) divided by its frames.

    python scripts/default_study.py --max-side 96 --frames 10 --styles A.jpg B.jpg C.jpg \\
        --clip ../shared/data/videos/cockatoo.mp4 --looks /tmp/look

Shots: ranges of the real clips, and real-derived variants for the kinds the clips lack (a light ramp on
a real range; a textured object pasted moving in front of one: an occlusion). Results in
docs/performance.md, "The default render".
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

import cv2
import numpy as np

from videostyle.config import ChunkConfig, LossConfig, OptimConfig, StylizeConfig
from videostyle.flow.estimate import FlowEstimator, consistency_weights
from videostyle.io.bundled import clip_path, paintings
from videostyle.io.frames import read_image
from videostyle.io.media import Frame, open_source
from videostyle.io.resize import processing_size, resize_rgb
from videostyle.method.device import to_tensor
from videostyle.method.metrics import warping_error
from videostyle.method.stylizer import Stylizer
from videostyle.run.drivers import chunked, optimizer_solver, pick, prepared_for
from videostyle.run.evaluate import luminance
from videostyle.run.flows import EstimatedFlows
from videostyle.run.render import resolved_flow
from videostyle.run.store import WorkStore

# The configurations compared: "c551d7b" is that commit's defaults (no light following); "default" is
# today's (the single pass); the others change one or two things from today's.
CONFIGS = {
    "c551d7b": dict(follow_light=0.0, resampling="bilinear", flow="dis"),
    "default": dict(),
    # The default before --flow auto (DIS on the CPU too).
    "dis": dict(flow="dis"),
    "init-warped": dict(init="warped"),
    # New picture (where the flow is unreliable) from the frame in the previous result's colours, not
    # from the warped paint: the student's warm keyframes' start, tried on the single pass.
    "init-matched": dict(init="matched"),
    "lanczos": dict(resampling="lanczos"),
    "lanczos+init-warped": dict(resampling="lanczos", init="warped"),
    # The paper's long-term targets (each pixel follows the closest frame where it was visible), and the
    # same targets pulling every pixel toward each frame where it was visible.
    "long-term": dict(long_term=(1, 2, 4), long_term_rule="nearest"),
    "long-term-every": dict(long_term=(1, 2, 4), long_term_rule="every"),
    "long-term-every+lanczos": dict(long_term=(1, 2, 4), long_term_rule="every", resampling="lanczos"),
    # Another flow for the render (the evaluator's flow then differs from the render's: --eval-flow).
    "deepflow": dict(flow="deepflow"),
    "deepflow+dis": dict(flow="deepflow+dis"),
    "bicubic": dict(resampling="bicubic"),
    "tvl1": dict(flow="tvl1"),
    # A control for "long-term-every": the short-term pull alone, three times as strong.
    "temporal-x3": dict(loss=LossConfig(temporal_weight=3 * LossConfig().temporal_weight)),
    "temporal-x10": dict(loss=LossConfig(temporal_weight=10 * LossConfig().temporal_weight)),
    # Draft-then-finish on one machine: one chunk over the shot.
    "draft-finish": dict(draft_finish=True),
    "draft-finish+lanczos": dict(draft_finish=True, resampling="lanczos"),
    # Chunks of 8 (on one machine); a shot shorter than 12 frames is then one chunk, as --draft-finish.
    "chunks-8": dict(chunks=ChunkConfig(chunk_frames=8)),
}


def read_range(path: str, start: int, n: int) -> list[np.ndarray]:
    source = open_source(path, (start, start + n))
    return [f.image for f in source.frames()]


def shots(clip: str | None, n: int, size_of) -> dict[str, list[np.ndarray]]:
    """Name → frames (RGB uint8 at processing size)."""
    out = {"astronaut (camera move)": [size_of(f) for f in read_range(clip_path(), 4, n)]}
    if clip:
        hand = [size_of(f) for f in read_range(clip, 40, n)]
        out["cockatoo 40 (hand-held)"] = hand
        # The light rises 0.5× → 1.3× over the range (a lamp turned up, a fade in).
        out["cockatoo 120, light ramp"] = [
            np.clip(f.astype(np.float32) * (0.5 + 0.8 * i / (n - 1)), 0, 255).astype(np.uint8)
            for i, f in enumerate(size_of(f) for f in read_range(clip, 120, n))]
        # A textured card moving across the frame in front of the scene: occlusion and disocclusion.
        h, w = hand[0].shape[:2]
        card = cv2.resize(np.random.default_rng(1).uniform(0, 255, (4, 3, 3)).astype(np.uint8),
                          (w // 4, h // 2), interpolation=cv2.INTER_CUBIC)
        occl = []
        for i, f in enumerate(size_of(f) for f in read_range(clip, 160, n)):
            f = f.copy()
            x = int(round((w - card.shape[1]) * i / (n - 1)))
            f[h // 4: h // 4 + card.shape[0], x: x + card.shape[1]] = card
            occl.append(f)
        out["cockatoo 160, occluder"] = occl
    return out


def render(cfg: StylizeConfig, style: np.ndarray, frames: list[np.ndarray]):
    """The frames stylized by the driver the config picks; (stylizer, results, evaluations per frame)."""
    h, w = frames[0].shape[:2]
    cfg = resolved_flow(cfg, (w, h))  # --flow auto, as a render on this machine settles it
    stylizer = Stylizer.create(cfg, [style])
    flows = EstimatedFlows(cfg.flow, cfg.flow_preset, None, (w, h))
    with tempfile.TemporaryDirectory(prefix="study-") as work:  # the results are kept in memory
        store = WorkStore.open(work, {"input": {}, "config": {}})
        driver = pick(cfg)
        prepared = prepared_for(cfg, [Frame(i, None, f) for i, f in enumerate(frames)], flows)
        extra = {}
        if driver is chunked:  # --chunk-frames K, or --draft-finish: one chunk
            extra = {"flows": flows, "chunks": tuple(chunked.plan(0, len(frames), cfg.chunks.chunk_frames or len(frames)))}
        prepared = list(prepared) if driver.NEEDS_WHOLE_CLIP else prepared
        outs = list(driver.run(optimizer_solver(stylizer), cfg, prepared, store, **extra))
        store.close()  # the work-folder lock
    return stylizer, [o.stylized for o in outs], sum(o.record["evaluations"] for o in outs) / len(frames)


def sharpness(image: np.ndarray) -> float:
    g = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2).mean())


def measure(stylizer, out, frames, flow_pairs, offsets=(1, 2, 4)) -> dict:
    n = len(frames)
    q = max(1, n // 4)
    fid = [stylizer.fidelity(to_tensor(o, stylizer.device), to_tensor(f, stylizer.device)) for o, f in zip(out, frames)]
    sd = [m["style_distance"] for m in fid]
    rel = [sharpness(o) / sharpness(f) for o, f in zip(out, frames)]
    row = {"content": float(np.mean([m["content_distance"] for m in fid])), "style": float(np.mean(sd)),
           "fade": float(np.mean(sd[-q:]) / np.mean(sd[:q])), "sharp": float(np.mean(rel[-q:]) / np.mean(rel[:q]))}
    return {**row, **measure_warp(out, frames, flow_pairs, offsets)}


def measure_warp(out, frames, flow_pairs, offsets=(1, 2, 4)) -> dict:
    """Warping error at each offset over the source's own (its floor), with the given flows."""
    row = {}
    n = len(frames)
    for d in offsets:
        e = [warping_error(out[t], out[t - d], *flow_pairs[d][t]) for t in range(d, n)]
        s = [warping_error(frames[t], frames[t - d], *flow_pairs[d][t]) for t in range(d, n)]
        row[f"we{d}"] = float(np.mean(e) / max(np.mean(s), 1e-12))
    return row


def source_flows(frames, method: str, preset: str, offsets=(1, 2, 4)) -> dict:
    est = FlowEstimator(method, preset)
    pairs = {}
    for d in offsets:
        pairs[d] = {}
        for t in range(d, len(frames)):
            fb, ff = est(frames[t], frames[t - d]), est(frames[t - d], frames[t])
            pairs[d][t] = (fb, consistency_weights(fb, ff))
    return pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", help="a real clip for more shots (the cockatoo clip)")
    ap.add_argument("--styles", nargs="+", default=None, help="paintings (default: the bundled ones)")
    ap.add_argument("--max-side", type=int, default=96)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--iterations", default="400,200")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="which of: " + ", ".join(CONFIGS))
    ap.add_argument("--shots", help="only the shots whose name contains one of these words (comma-separated)")
    ap.add_argument("--looks", help="write first, middle and last stylized frames as PNG here")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eval-flow", help="also measure the warping error with these flow methods (comma-separated: "
                    "deepflow, tvl1, farneback, dis): a check that does not share the render's own flow "
                    "estimates (three columns each, named by the method's first two letters and the offset)")
    args = ap.parse_args(argv)
    first, later = (int(x) for x in args.iterations.split(","))
    styles = args.styles or list(paintings().values())
    base = StylizeConfig(max_side=args.max_side, device=args.device,
                         optim=OptimConfig(iterations_first=first, iterations_later=later))

    def size_of(image):
        return resize_rgb(image, processing_size(image.shape[1], image.shape[0], args.max_side))

    names = [c.strip() for c in args.configs.split(",")]
    evals_by = [m.strip() for m in args.eval_flow.split(",")] if args.eval_flow else []
    print(f"max side {args.max_side}, {args.frames} frames, iterations {first},{later}", flush=True)
    header = (f"{'shot':28s} {'painting':16s} {'config':20s}   we1   we2   we4  content  style   fade  sharp  light  evals"
              + "".join(f"   {m[:2]}1   {m[:2]}2   {m[:2]}4" for m in evals_by))
    print(header, flush=True)
    summary: dict = {c: [] for c in names}
    for shot, frames in shots(args.clip, args.frames, size_of).items():
        if args.shots and not any(w in shot for w in args.shots.split(",")):
            continue
        pairs = source_flows(frames, "dis", base.flow_preset)  # the we columns: by DIS
        other = {m: source_flows(frames, m, base.flow_preset) for m in evals_by}
        for style_path in styles:
            style = read_image(style_path)
            painting = os.path.splitext(os.path.basename(style_path))[0][:16]
            alone = None
            if "light" in shot:  # the first and last frames stylized alone
                cfg = dataclasses.replace(base, **CONFIGS["default"])
                alone = [render(cfg, style, [f])[1][0] for f in (frames[0], frames[-1])]
            for c in names:
                cfg = dataclasses.replace(base, **CONFIGS[c])
                stylizer, out, evals = render(cfg, style, frames)
                row = measure(stylizer, out, frames, pairs)
                for m, flows_m in other.items():
                    row.update({f"{m[:2]}{k[2:]}": x for k, x in measure_warp(out, frames, flows_m).items()})
                light = ""
                if alone is not None:
                    ratio = ((luminance(out[-1].astype(np.uint8)) - luminance(out[0].astype(np.uint8)))
                             / (luminance(alone[1].astype(np.uint8)) - luminance(alone[0].astype(np.uint8))))
                    row["light"], light = ratio, f"{ratio:5.2f}"
                row["evals"] = evals
                summary[c].append(row)
                print(f"{shot:28s} {painting:16s} {c:20s} {row['we1']:5.2f} {row['we2']:5.2f} {row['we4']:5.2f}"
                      f"  {row['content']:6.3f}  {row['style']:6.3f} {row['fade']:5.2f}  {row['sharp']:5.2f}"
                      f"  {light:>5s}  {evals:5.1f}"
                      + "".join(f"  {row[m[:2] + '1']:5.2f} {row[m[:2] + '2']:5.2f} {row[m[:2] + '4']:5.2f}" for m in evals_by),
                      flush=True)
                if args.looks:
                    os.makedirs(args.looks, exist_ok=True)
                    for k in (0, len(out) // 2, len(out) - 1):
                        name = f"{shot.split()[0]}{shot.split()[1] if len(shot.split()) > 1 else ''}_{painting}_{c}_{k}".replace(" ", "").replace(",", "").replace("+", "")
                        cv2.imwrite(os.path.join(args.looks, name + ".png"),
                                    cv2.cvtColor(np.clip(out[k], 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    print("\nmeans (worst) over shots and paintings", flush=True)
    for c, rows in summary.items():
        if rows:
            m = {k: np.mean([r[k] for r in rows if k in r]) for k in rows[0]}
            worst = {k: max(r[k] for r in rows) for k in ("we1", "we2", "we4", "fade")}
            print(f"{c:20s} we {m['we1']:.2f}/{m['we2']:.2f}/{m['we4']:.2f} (worst {worst['we1']:.2f}/{worst['we2']:.2f}/"
                  f"{worst['we4']:.2f})  content {m['content']:.3f}  style {m['style']:.3f}  fade {m['fade']:.2f} "
                  f"(worst {worst['fade']:.2f})  sharp {m['sharp']:.2f} (worst {min(r['sharp'] for r in rows):.2f})"
                  f"  evals {m['evals']:.1f}"
                  + "".join(f"  by {e} {m[e[:2] + '1']:.2f}/{m[e[:2] + '2']:.2f}/{m[e[:2] + '4']:.2f}" for e in evals_by),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
