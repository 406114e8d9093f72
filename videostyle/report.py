"""The JSON report of a render: settings, per-frame records, stage timings, totals, and the same
evaluation as ``videostyle evaluate`` on the written output."""
from __future__ import annotations

import time

from .atomic import write_json
from .config import StylizeConfig, as_dict
from .errors import OutputError
from .metrics import WARPING_ERROR_DEFINITION


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
                   "rate": str(info.rate), "has_audio": info.has_audio},
        "size": list(size), "audio": audio_mode,
        "frames": per_frame,
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


def add_evaluation(result: dict, output: str, input: str, config: StylizeConfig, size, selection) -> None:
    """The measures of ``videostyle evaluate`` (offsets 1, 2, 4, flicker) on the written output."""
    from .evaluate import evaluate_video
    t = time.perf_counter()
    result["evaluation"] = evaluate_video(output, input, flow_method=config.flow, flow_preset=config.flow_preset,
                                          max_side=max(size), device=config.device, weights=config.weights,
                                          source_frames=selection)
    result["evaluation"].pop("per_frame", None)
    result["stages_seconds"]["evaluate"] = round(time.perf_counter() - t, 3)


def write(path: str, data: dict) -> None:
    """Strict JSON (no NaN), written atomically."""
    try:
        write_json(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from None
