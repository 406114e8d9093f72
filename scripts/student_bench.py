"""Both methods on the same frames of a real clip, in one run (issue 25's benchmark): the single pass
with the defaults of the day, and --method student (keyframes + training + render). Prints each step's
cost, the ratio, its projection to a 240-frame shot, and per method:

- warping error at offsets 1 / 2 / 4 as a ratio to the source's own (its floor);
- content (relu4_2) and style (Gram) distance, means over the frames;
- the student's PSNR against its keyframes, and its gradient energy over the keyframes';
- peak memory (resident set growth of the process; on CUDA the device's peak allocation);
- with --hue: the optimizer's first keyframe with its hue rotated by 120° given as an artist's keyframe,
  and how far the mean hue of the second half of the shot moved.

    python scripts/student_bench.py --clip ../shared/data/videos/cockatoo.mp4 --frames 48 --max-side 128 \\
        --style ../shared/data/styles/starry_night.jpg --looks /tmp/student-look --hue

Results: docs/performance.md, "Fast mode (issue 25)".
"""
from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
import threading
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_study import measure, measure_warp, read_range, sharpness, source_flows  # noqa: E402

from videostyle.config import OptimConfig, StudentConfig, StylizeConfig
from videostyle.io.frames import read_image
from videostyle.io.media import Frame
from videostyle.io.resize import processing_size, resize_rgb
from videostyle.method.stylizer import Stylizer
from videostyle.run.drivers import optimizer_solver, pick, prepared_for, student
from videostyle.run.flows import EstimatedFlows
from videostyle.run.render import resolved_flow
from videostyle.run.store import WorkStore


def rss() -> float:
    """Resident memory of this process now, MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class Peaks(threading.Thread):
    """Samples the resident memory every 20 ms; the peak above ``base`` per phase (the student's
    progress events move it from keyframes to training to render)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.base, self.phase, self.peaks, self.stop = rss(), "run", {}, False
        self.start()

    def run(self):
        while not self.stop:
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss() - self.base)
            time.sleep(0.02)

    def event(self, e: dict) -> None:
        if e["event"] == "keyframe":
            self.phase = "keyframes"
        elif e["event"] == "training":
            self.phase = "training"
        elif e["event"] == "train" and e["step"] >= e["steps"]:
            self.phase = "render"

    def close(self) -> dict:
        self.stop = True
        self.join()
        return {k: round(v) for k, v in self.peaks.items()}


def run_method(cfg: StylizeConfig, stylizer: Stylizer, frames: list[np.ndarray], artist=None, work=None,
               retrain=True):
    """(results, seconds, summary, peak memory MiB by phase, store) of the driver the config picks; the
    summary is the student's (its keyframes, the seconds of each step) and holds each frame's record
    under "records" (its seconds and evaluations). ``work``: a work folder of an earlier student run (its
    keyframes are reused, and with ``retrain`` False its trained student too)."""
    h, w = frames[0].shape[:2]
    if work is None:
        work = tempfile.mkdtemp(prefix="student-bench-")
        # Removed when the script ends: the runs after this one may reuse its keyframes (``work=``).
        atexit.register(shutil.rmtree, work, True)
    else:  # keep the keyframes and flows, train (unless kept) and render again
        if retrain:
            shutil.rmtree(os.path.join(work, student.FOLDER), ignore_errors=True)
        shutil.rmtree(os.path.join(work, "frames", "p00"), ignore_errors=True)
    store = WorkStore.open(work, {"input": {}, "config": {}})
    cfg = resolved_flow(cfg, (w, h))  # --flow auto, as a render on this machine settles it
    flows = EstimatedFlows(cfg.flow, cfg.flow_preset, os.path.join(work, "flows"), (w, h))
    driver = pick(cfg)
    t0, peaks = time.perf_counter(), Peaks()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    prepared = prepared_for(cfg, [Frame(i, None, f) for i, f in enumerate(frames)], flows)
    extra, summary = {}, {}
    if driver is student:
        extra = {"flows": flows, "job": student.Job(stylizer.device, work, artist or {}, peaks.event, summary)}
        prepared = list(prepared)
    outcomes = list(driver.run(optimizer_solver(stylizer), cfg, prepared, store, **extra))
    outs, summary["records"] = [o.stylized for o in outcomes], [o.record for o in outcomes]
    memory = peaks.close()
    if torch.cuda.is_available():
        memory["cuda"] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
    return outs, time.perf_counter() - t0, summary, memory, store


def mean_hue(images: list[np.ndarray]) -> float:
    """Circular mean hue in degrees, weighted by saturation."""
    z = 0j
    for im in images:
        hsv = cv2.cvtColor(np.clip(im, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        angle = hsv[..., 0] / 256 * 2 * np.pi
        z += (hsv[..., 1] * np.exp(1j * angle)).sum()
    return float(np.degrees(np.angle(z)) % 360)


def rotate_hue(image: np.ndarray, degrees: float) -> np.ndarray:
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees / 360 * 256)) % 256).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


SHOT = 240  # the frames of the shot the cost is projected to


def project(total: float, sec: dict, keyframes: list[dict], n_frames: int, every: int) -> float:
    """A student run's seconds for a SHOT-frame shot: keyframes every ``every`` frames (at least; new
    content may add more, at this run's rate), the first at its own cost (a cold start: several times a
    warm keyframe's evaluations) and the others at this run's mean warm keyframe cost; the same
    training; the render and flows per frame."""
    seconds = [k["seconds"] for k in keyframes]
    first, warm = seconds[0], (seconds[1:] or seconds[:1])
    n_keys = max(len(seconds) * SHOT / n_frames, SHOT / every)
    other = (total - sum(sec.values())) / n_frames
    return first + float(np.mean(warm)) * (n_keys - 1) + sec["training"] + (sec["render"] / n_frames + other) * SHOT


def project_single(total: float, records: list[dict], n_frames: int) -> float:
    """The single pass's seconds for a SHOT-frame shot: its cold first frame once, the warm frames at this
    run's mean, and the flows and decoding per frame. (Scaling the whole run by SHOT / n_frames would
    count the first frame's cold start SHOT / n_frames times.)"""
    seconds = [r["seconds"] for r in records]
    other = (total - sum(seconds)) / n_frames
    return seconds[0] + float(np.mean(seconds[1:] or seconds)) * (SHOT - 1) + other * SHOT


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--max-side", type=int, default=128)
    ap.add_argument("--iterations", default=None, help="FIRST,LATER caps (default: the defaults of the day)")
    ap.add_argument("--steps", default=str(StudentConfig.steps),
                    help="training steps; several (comma-separated): one student each, the first for the timing, "
                         "the keyframes shared")
    ap.add_argument("--every", type=int, default=StudentConfig.keyframe_every)
    ap.add_argument("--temporal", default=str(StudentConfig.temporal),
                    help="the student's temporal weight; several (comma-separated): one student each, the first "
                         "for the timing, the keyframes shared")
    ap.add_argument("--looks", help="write first, middle and last frames of both methods as PNG here")
    ap.add_argument("--hue", action="store_true", help="also the rotated-hue artist keyframe run")
    ap.add_argument("--keyframe-side", type=int, default=None,
                    help="also the student with its keyframes at this longer side (rendered at --max-side): "
                         "--stroke-scale picture, carried, and pixel, alone")
    ap.add_argument("--judges", default="dis,tvl1",
                    help="flows that judge the warping error (comma-separated; dis always: the we columns; the "
                         "others get columns named by their first two letters)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    base = StylizeConfig(max_side=args.max_side, device=args.device)
    if args.iterations:
        first, later = (int(x) for x in args.iterations.split(","))
        base = dataclasses.replace(base, optim=OptimConfig(iterations_first=first, iterations_later=later))
    frames = [resize_rgb(f, processing_size(f.shape[1], f.shape[0], args.max_side))
              for f in read_range(args.clip, args.start, args.frames)]
    h, w = frames[0].shape[:2]
    style = read_image(args.style)
    stylizer = Stylizer.create(base, [style])
    print(f"{args.clip} frames {args.start}-{args.start + len(frames) - 1} at {w}x{h} on {stylizer.device}, "
          f"{torch.get_num_threads()} threads; style {os.path.basename(args.style)}", flush=True)
    pairs = source_flows(frames, "dis", base.flow_preset)  # the we columns: by DIS
    # Other judges: a render made with one flow is graded kindly by the same flow (docs/performance.md,
    # "Judged by another flow"); on the CPU --flow auto renders with deepflow+dis, which DIS grades harshly.
    judges = {j[:2]: source_flows(frames, j, base.flow_preset) for j in args.judges.split(",") if j and j != "dis"}

    def judged(out: list[np.ndarray]) -> dict:
        row = measure(stylizer, out, frames, pairs)
        for name, flow_pairs in judges.items():
            row.update({k.replace("we", name): v for k, v in measure_warp(out, frames, flow_pairs).items()})
        return row

    single, t_single, single_summary, mem_single, _ = run_method(base, stylizer, frames)
    print(f"single pass: {t_single:.1f} s ({t_single / len(frames):.2f} s/frame), peak memory +MiB {mem_single}",
          flush=True)
    weights = [float(x) for x in args.temporal.split(",")]
    steps = [int(x) for x in args.steps.split(",")]
    cfg = dataclasses.replace(base, method="student",
                              student=StudentConfig(steps=steps[0], keyframe_every=args.every, temporal=weights[0]))
    fast, t_fast, summary, mem_fast, store = run_method(cfg, stylizer, frames)
    sec = summary["seconds"]
    keys = [k["frame"] for k in summary["keyframes"]]
    print(f"student: {t_fast:.1f} s = keyframes {sec['keyframes']:.1f} s ({len(keys)}: {keys}) + training "
          f"{sec['training']:.1f} s ({steps[0]} steps) + render {sec['render']:.2f} s "
          f"({sec['render'] / len(frames) * 1000:.0f} ms/frame) + flow/decode {t_fast - sum(sec.values()):.1f} s; "
          f"peak memory +MiB {mem_fast}", flush=True)
    print(f"ratio student / single: {t_fast / t_single:.3f}", flush=True)
    first, *warm = summary["keyframes"]
    records = single_summary["records"]

    def mean(rows: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in rows])) if rows else float("nan")
    print(f"cold starts: the first keyframe {first['seconds']:.1f} s ({first['evaluations']} evaluations), the others "
          f"{mean(warm, 'seconds'):.1f} s ({mean(warm, 'evaluations'):.0f}) each; the single pass's first frame "
          f"{records[0]['seconds']:.1f} s ({records[0]['evaluations']}), the others {mean(records[1:], 'seconds'):.2f} s "
          f"({mean(records[1:], 'evaluations'):.0f}) each", flush=True)
    single_shot = project_single(t_single, records, len(frames))
    projected = project(t_fast, sec, summary["keyframes"], len(frames), args.every)
    print(f"projected for {SHOT} frames (each method's cold start counted once): student {projected:.0f} s vs "
          f"single {single_shot:.0f} s: ratio {projected / single_shot:.3f}", flush=True)

    rows = {"single pass": judged(single),
            f"student {weights[0]:g}": judged(fast)}
    # The same trained student with the keyframe carry switched (method/carry.py): its paint alone, or carried.
    switched = dataclasses.replace(cfg, student=dataclasses.replace(cfg.student, no_carry=not cfg.student.no_carry))
    alone_or_carried, t_switched = run_method(switched, stylizer, frames, work=store.root, retrain=False)[:2]
    name = "student alone" if switched.student.no_carry else "student carried"
    rows[name] = judged(alone_or_carried)
    print(f"{name}: render again with the same student {t_switched:.1f} s", flush=True)
    alone = alone_or_carried if switched.student.no_carry else fast
    for tw in weights[1:]:
        other = dataclasses.replace(cfg, student=dataclasses.replace(cfg.student, temporal=tw))
        rows[f"student {tw:g}"] = judged(run_method(other, stylizer, frames, work=store.root)[0])
    for n in steps[1:]:
        other = dataclasses.replace(cfg, student=dataclasses.replace(cfg.student, steps=n))
        out, _, s_other, _, _ = run_method(other, stylizer, frames, work=store.root)
        rows[f"{n} steps"] = judged(out)
        print(f"{n} steps: training {s_other['seconds']['training']:.1f} s (the same keyframes)", flush=True)
    if args.keyframe_side:
        # Keyframes at a smaller side, frames rendered at --max-side (issue 25: keyframes at 512 px, output
        # at 1080p). Its own work folder: the keyframes are made again at their size.
        times = {}
        small = dataclasses.replace(cfg, student=dataclasses.replace(cfg.student, keyframe_side=args.keyframe_side))
        picture, t_small, s_small, _, small_store = run_method(small, stylizer, frames)
        name = f"keys@{args.keyframe_side} picture"
        rows[name], times[name] = judged(picture), (t_small, s_small["seconds"])
        pixel = dataclasses.replace(small, student=dataclasses.replace(small.student, stroke_scale="pixel",
                                                                       no_carry=True))
        out, t_pixel, s_pixel, _, _ = run_method(pixel, stylizer, frames, work=small_store.root)
        name = f"keys@{args.keyframe_side} pixel"
        rows[name], times[name] = judged(out), (t_pixel, s_pixel["seconds"])
        for name, (t, sec_) in times.items():
            if "pixel" in name:  # its keyframes kept from the run before: only training and render timed
                print(f"{name}: {t:.1f} s ({sec_}), its keyframes kept from the run before", flush=True)
                continue
            projected_small = project(t, sec_, s_small["keyframes"], len(frames), args.every)
            print(f"{name}: {t:.1f} s ({sec_}); ratio to the single pass {t / t_single:.3f}; projected for "
                  f"{SHOT} frames {projected_small / single_shot:.3f}", flush=True)
        if args.looks:
            os.makedirs(args.looks, exist_ok=True)
            for k in (0, len(frames) // 2, len(frames) - 1):
                row = np.concatenate([fast[k], picture[k], out[k]], 1)
                cv2.imwrite(os.path.join(args.looks, f"frame{k:03d}_student_keys{args.keyframe_side}_picture_pixel.png"),
                            cv2.cvtColor(np.clip(row, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    for name, r in rows.items():
        others = "".join(f"  {j} {r[j + '1']:.2f}/{r[j + '2']:.2f}/{r[j + '4']:.2f}" for j in judges)
        print(f"{name:14s} we {r['we1']:.2f}/{r['we2']:.2f}/{r['we4']:.2f}{others}  content {r['content']:.3f}  "
              f"style {r['style']:.3f}  fade {r['fade']:.2f}  sharp {r['sharp']:.2f}", flush=True)
    a, b = rows[f"student {weights[0]:g}"], rows["single pass"]
    print(f"student vs single: content {a['content'] / b['content']:.3f}x  style {a['style'] / b['style']:.3f}x",
          flush=True)
    kept = {n: store.load(n, student.KEYFRAME_PASS)[0].astype(np.float32) / 257.0 for n in keys}
    print("PSNR at keyframes (the student alone; carried, a keyframe is its own stylization): "
          + ", ".join(f"{n}: {psnr(alone[n], kept[n]):.1f} dB" for n in keys), flush=True)
    key_energy = np.mean([sharpness(kept[n]) for n in keys])
    carried_out = alone_or_carried if alone is fast else fast
    print(f"gradient energy over the keyframes': carried {np.mean([sharpness(f) for f in carried_out]) / key_energy:.2f}, "
          f"student alone {np.mean([sharpness(f) for f in alone]) / key_energy:.2f}", flush=True)

    if args.looks:
        os.makedirs(args.looks, exist_ok=True)
        for k in (0, len(frames) // 2, len(frames) - 1):
            row = np.concatenate([frames[k], single[k], fast[k], alone_or_carried[k]], 1)
            cv2.imwrite(os.path.join(args.looks, f"frame{k:03d}_source_single_student_switched.png"),
                        cv2.cvtColor(np.clip(row, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    if args.hue:
        painted = {keys[0]: rotate_hue(kept[keys[0]], 120)}
        hued, _, _, _, _ = run_method(cfg, stylizer, frames, artist=painted)
        half = len(frames) // 2
        before, after = mean_hue(fast[half:]), mean_hue(hued[half:])
        moved = min(abs(after - before), 360 - abs(after - before))
        print(f"artist keyframe (hue +120° at frame {keys[0]}): second half's mean hue {before:.0f}° → {after:.0f}° "
              f"(moved {moved:.0f}°)", flush=True)
        if args.looks:
            cv2.imwrite(os.path.join(args.looks, "hue_rotated_last.png"),
                        cv2.cvtColor(np.clip(hued[-1], 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
