"""The JSON report of a render: settings, per-frame records, stage timings, totals, and the same
evaluation as ``videostyle evaluate`` on the written output."""
from __future__ import annotations

import time

from ..io.atomic import write_json
from ..config import StylizeConfig, as_dict
from ..errors import OutputError
from ..io.media import alpha_dropped
from ..method.metrics import WARPING_ERROR_DEFINITION


def of_run(shot, config: StylizeConfig, per_frame: list[dict], timer, audio_mode: str,
           executor_summary: dict | None) -> dict:
    """The report of a finished render of ``shot`` (plan.Shot): ``build``'s sections, and those of the
    work folder, the warnings, a --flow-dir's resizing, the chunks and the cluster."""
    result = build(shot.input, list(shot.styles), shot.output, config, shot.info, shot.size, per_frame,
                   timer.seconds, timer.total, audio_mode)
    result["work_dir"] = shot.work_dir if shot.options.keep_work else None
    result["warnings"] = list(shot.warnings)
    result["source"]["alpha_dropped"] = alpha_dropped(shot.source, shot.output, shot.options.codec, shot.options.depth) is not None
    result["flows_resized_from"] = list(timer.resized_flows) if timer.resized_flows else None
    result["scheme"] = scheme(config)
    if shot.chunks and config.chunks.chunk_frames:
        result["chunks"] = chunk_section(per_frame, config.chunks, shot.chunks)
    if result["scheme"] == "draft-then-finish":  # the draft's share of the work
        result["draft_evaluations"] = sum(f.get("draft_evaluations", 0) for f in per_frame)
    if timer.student is not None:
        result["student"] = timer.student
    if executor_summary is not None:
        result["cluster"] = executor_summary
    return result


def scheme(config: StylizeConfig) -> str:
    """How the frames were rendered: the driver the config picks (run/drivers)."""
    from .drivers import chunked, multi, pick, student
    driver = pick(config)
    if driver is chunked:
        return "chunked" if config.chunks.chunk_frames else "draft-then-finish"
    return {student: "student", multi: "multi-pass"}.get(driver, "single-pass")


def build(input, styles, output, config: StylizeConfig, info, size, per_frame: list[dict], stages: dict,
          total_seconds: float, audio_mode: str) -> dict:
    def mean(key):
        values = [f[key] for f in per_frame if f.get(key) is not None]
        return sum(values) / len(values) if values else None

    later = per_frame[1:] or per_frame
    return {
        "input": input, "styles": styles, "output": output,
        "config": as_dict(config),
        "source": {"kind": info.kind, "width": info.width, "height": info.height, "n_frames": info.n_frames,
                   "rate": str(info.rate), "has_audio": info.has_audio,
                   # Non-square pixels: width and height above are the shape shown, square pixels.
                   "pixel_aspect": str(info.pixel_aspect),
                   "interlaced": info.interlaced,  # None, or which field each frame was painted from
                   "psf": info.psf,  # flagged interlaced, found progressive (io/video/fields.py): read whole
                   "hdr": info.hdr,  # None, "PQ" or "HLG"
                   # Numbers absent from a sequence (its frames are rendered one after another; frame
                   # outputs keep the input's numbers), as runs and, up to a bound, one by one.
                   "missing_ranges": [list(r) for r in info.missing],
                   "missing_numbers": _expanded(info.missing),
                   # A video that ends before its index says: where the frames that decode end.
                   "ended_early": None if info.ended_early is None else {
                       "decoded_frames": info.ended_early[0], "expected_frames": info.ended_early[1],
                       "last_good_frame": info.ended_early[0] - 1},
                   "alpha_dropped": info.has_alpha},
        "size": list(size), "audio": audio_mode,
        "frames": per_frame,
        # Where a new shot began (--cuts detect): those frames started afresh, with no warping error.
        "cuts": [f["index"] for f in per_frame if f.get("cut")],
        "warping_error_definition": WARPING_ERROR_DEFINITION,
        "stages_seconds": {k: round(v, 3) for k, v in stages.items()},
        "totals": {
            "frames": len(per_frame), "seconds": round(total_seconds, 3),
            "seconds_per_frame": round(total_seconds / max(len(per_frame), 1), 3),
            "iterations": sum(f["iterations"] for f in per_frame),
            "evaluations": sum(f["evaluations"] for f in per_frame),
            "evaluations_per_later_frame": sum(f["evaluations"] for f in later) / len(later),
            "warping_error": mean("warping_error"),
            "source_warping_error": mean("source_warping_error"),
            "content_distance": mean("content_distance"),
            "style_distance": mean("style_distance"),
        },
    }


_MISSING_LISTED = 100_000  # numbers listed one by one at most (1 and 10**9 would be a billion)


def _expanded(runs) -> list[int] | None:
    """The numbers of (first, last) runs, or None when there are more than _MISSING_LISTED."""
    if sum(b - a + 1 for a, b in runs) > _MISSING_LISTED:
        return None
    return [n for a, b in runs for n in range(a, b + 1)]


def chunk_section(per_frame: list[dict], chunks, plan) -> dict:
    """The report's "chunks" section of a ``--chunk-frames`` run (local or on a cluster): the plan, the
    critical path in VGG evaluations, and whether the seams show — the warping error of each pair of
    frames across a seam (a chunk's last frame and the next chunk's first) next to the
    median of the pairs inside chunks. Both are also given over the source's own warping error on the
    same pair (the noise floor of flow and mask), as the frames' records hold them. ``chunks`` is the
    ChunkConfig, ``plan`` the shot's chunks (plan.Shot.chunks)."""
    from statistics import median

    from .drivers import chunked
    by = {f["index"]: f for f in per_frame}

    def ratio(f):
        error, floor = f.get("warping_error"), f.get("source_warping_error")
        return error / floor if error is not None and floor else None

    starts = [c.numbers[0] for c in plan[1:]]
    seams = [{"frames": [n - 1, n], "warping_error": by[n].get("warping_error"), "ratio": ratio(by[n])}
             for n in starts]
    inside = [by[t] for c in plan for t in c.numbers[1:]]
    inside_errors = [f["warping_error"] for f in inside if f.get("warping_error") is not None]
    inside_ratios = [r for r in map(ratio, inside) if r is not None]
    seam_ratios = [s["ratio"] for s in seams if s["ratio"] is not None]
    inside_ratio = median(inside_ratios) if inside_ratios else None
    evaluations = {f["index"]: f["evaluations"] for f in per_frame}
    total = sum(evaluations.values())
    critical = chunked.critical_path(plan, by)
    return {
        "chunk_frames": chunks.chunk_frames, "draft_iterations": chunks.draft_iterations,
        "finish_iterations": chunks.finish_iterations, "draft_anchor": chunks.draft_anchor,
        "chunks": [[c.numbers[0], c.numbers[-1]] for c in plan],
        "evaluations": total, "critical_path_evaluations": critical,
        "critical_path_fraction": round(critical / total, 4) if total else None,
        "seams": seams,
        "inside_median_warping_error": median(inside_errors) if inside_errors else None,
        "inside_median_ratio": inside_ratio,
        # The largest seam ratio over the inside median: 1 = the seams do not stand out.
        "worst_seam_over_inside": max(seam_ratios) / inside_ratio if seam_ratios and inside_ratio else None,
    }


def add_evaluation(result: dict, shot, config: StylizeConfig) -> None:
    """The measures of ``videostyle evaluate`` (offsets 1, 2, 4, flicker) on the written output of
    ``shot`` (plan.Shot), against the same selection of its source."""
    from .evaluate import evaluate_video
    if shot.source.positions != tuple(range(shot.source.start, shot.source.stop)):
        # The evaluator compares the output with an unbroken range of the source, frame by frame.
        result["evaluation"] = {"skipped": "a stepped --frames range is not evaluated"}
        return
    t = time.perf_counter()
    result["evaluation"] = evaluate_video(shot.output, shot.input, flow_method=config.flow,
                                          flow_preset=config.flow_preset, max_side=max(shot.size),
                                          device=config.device, weights=config.weights,
                                          source_frames=(shot.source.start, shot.source.stop))
    result["evaluation"].pop("per_frame", None)
    result["stages_seconds"]["evaluate"] = round(time.perf_counter() - t, 3)


def write(path: str, data: dict) -> None:
    """Strict JSON (no NaN), written atomically."""
    try:
        write_json(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from None
