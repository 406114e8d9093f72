"""What each command does once its arguments are read: one call into the run (or the commands layer)
and the lines that say what was written."""
from __future__ import annotations

import argparse
import os
import sys

from ..config import OutputOptions, StylizeConfig
from ..errors import ConfigError
from .options import ENCODE, build_config, cluster_of, config_of, dream_config, options_of
from .progress import Progress


def _render(a: argparse.Namespace, styles: list[str], config: StylizeConfig) -> int:
    """stylize and dream: one render with progress, then a line saying what was written."""
    from .. import stylize_video  # with cluster=: the Ray executor, built above the run
    progress = Progress("none" if a.quiet else a.log_format)
    try:
        report = stylize_video(a.input, styles, a.output, config, options_of(a), on_event=progress,
                               cluster=cluster_of(a))
    finally:
        progress.close()
    if not a.quiet and a.log_format == "text":
        t = report["totals"]
        print(f"wrote {a.output}: {t['frames']} frames in {t['seconds']:.1f} s "
              f"({t['seconds_per_frame']:.2f} s/frame), audio: {report['audio']}", file=sys.stderr)
    return 0


def keyframes(a: argparse.Namespace) -> int:
    from ..commands.keyframes import write_keyframes
    a.method = "student"
    progress = Progress("none" if a.quiet else "text")
    try:
        keys = write_keyframes(a.input, a.style, a.output, config_of(a), build_config(OutputOptions, vars(a)),
                               on_event=progress)
    finally:
        progress.close()
    if not a.quiet:
        print(f"wrote {a.output}: {len(keys)} keyframes ({', '.join(str(k['frame']) for k in keys)}); retouch "
              f"stylized.NNNN.png and give it back with --method student --keyframe NNNN=PATH", file=sys.stderr)
    return 0


def stylize(a: argparse.Namespace) -> int:
    return _render(a, a.style, config_of(a))


def evaluate(a: argparse.Namespace) -> int:
    from ..run.evaluate import evaluate_video, format_table, plot
    from ..io.paths import PathPlan, written_file
    from ..io.frameranges import parse_frames
    plan = PathPlan()
    plan.read("stylized video", a.stylized)
    plan.read("source", a.source)
    for s in a.style or ():
        plan.read("style image", s)
    plan.write(written_file("--json", a.json) if a.json else None)
    plan.write(written_file("--plot", a.plot) if a.plot else None)
    plan.check()
    if a.plot:
        from ..run.evaluate import plot_format
        plot_format(a.plot)  # before the measures: a bad name costs no evaluation
    result = evaluate_video(a.stylized, a.source, style=a.style, offsets=a.offsets, flow_method=a.flow,
                            max_side=a.max_side, device=a.device, source_frames=parse_frames(a.frames),
                            deinterlace=a.deinterlace)
    if a.json:
        _write_json_file(a.json, result)
    if a.plot:
        plot(result, a.plot)
    print(format_table(result))
    return 0


def flow(a: argparse.Namespace) -> int:
    from ..flow.estimate import FlowEstimator
    from ..flow.files import export_flows
    from ..io.media import open_source
    from ..io.paths import PathPlan, written_flows
    from ..io.resize import processing_size, resize_rgb
    plan = PathPlan()
    plan.read("input", a.input)
    if os.path.isdir(a.input):
        from ..run.plan import input_files
        plan.read_files("input frame", input_files(a.input))
    plan.write(written_flows("output", a.output))
    plan.check()
    from ..io.frameranges import parse_frames
    source = open_source(a.input, parse_frames(a.frames))
    size = processing_size(source.info.width, source.info.height, a.max_side) if a.max_side else None
    resize = (lambda image: resize_rgb(image, size)) if size else None
    n = export_flows(source, a.output, FlowEstimator(a.flow, a.flow_preset), offsets=a.long_term, resize=resize)
    print(f"wrote {n} flow pairs (.flo) and reliability masks (.pgm) to {a.output}", file=sys.stderr)
    return 0


def assemble(a: argparse.Namespace) -> int:
    from ..run.assemble import assemble
    # Only the encoding options: WORK_DIR is the folder read, not OutputOptions.work_dir.
    done = assemble(a.work_dir, a.output, build_config(OutputOptions, {k: getattr(a, k) for k in ENCODE}))
    if not a.quiet:
        print(f"wrote {done['output']}: frames {done['range']} of {done['work_dir']}, "
              f"audio: {done['audio']}", file=sys.stderr)
    return 0


def _write_json_file(path: str, data: dict) -> None:
    from ..io.atomic import write_json
    try:
        write_json(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def preview(a: argparse.Namespace) -> int:
    """preview and dream-preview: a few frames, each solved as a first frame, as a contact sheet."""
    from ..io.frames import read_image, write_png
    from ..io.paths import PathPlan, written_file
    from ..commands.preview import contact_sheet, stylize_preview
    config = dream_config(a) if a.command == "dream-preview" else config_of(a)
    if not a.output.lower().endswith(".png"):
        raise ConfigError(f"{a.command} writes a PNG contact sheet: give -o NAME.png")
    plan = PathPlan()
    plan.read("input", a.input)
    for s in a.style or ():
        plan.read("style image", s)
    if a.weights not in ("packaged", "torchvision"):
        plan.read("weights file", a.weights)
    plan.write(written_file("contact sheet", a.output))
    plan.check()
    from ..io.bundled import check_style
    for s in a.style or ():
        check_style(s)
    styles = [read_image(s) for s in a.style or ()]
    progress = None if a.quiet else (lambda k, n: print(f"preview frame {k + 1}/{n}", file=sys.stderr))
    sources, stylized = stylize_preview(a.input, styles, config, a.count, progress)
    write_png(a.output, contact_sheet(sources, stylized))
    if not a.quiet:
        made = "dreamed" if config.objective == "dream" else "stylized"
        print(f"wrote {a.output}: {len(sources)} frames, source above, {made} below", file=sys.stderr)
    return 0


def demo(a: argparse.Namespace) -> int:
    from ..commands.demo import run_demo
    progress = Progress("none" if a.quiet else "text")
    if not a.quiet:
        print(f"videostyle demo: the bundled clip with {a.style}, at {a.max_side} px "
              "(about two minutes on 2 CPU cores)", file=sys.stderr)
    try:
        files, report = run_demo(a.output, a.style, max_side=a.max_side, frames=a.frames, iterations=a.iterations,
                                 device=a.device, overwrite=a.overwrite, on_event=progress)
    finally:
        progress.close()
    t = report["totals"]
    print(f"wrote {t['frames']} frames in {t['seconds']:.0f} s to {files.folder}/:")
    print(f"  {files.video}  stylized, with the clip's audio")
    print(f"  {files.compare}  source | stylized, side by side")
    print(f"  {files.sheet}  a few frames, source above, stylized below")
    print(f"  {files.report}  per-frame losses, timings and stability measures")
    if files.plot:
        print(f"  {files.plot}  those measures per frame")
    else:
        print("  (no plot of the report: pip install 'videostyle[plot]')")
    print("next, your own clip:  videostyle stylize CLIP.mp4 --style starry_night -o out.mp4 --max-side 256 "
          "--report out.json   (videostyle styles lists the bundled paintings)")
    return 0


def styles(a: argparse.Namespace) -> int:
    from ..io.bundled import paintings
    for name, path in paintings().items():
        print(f"{name}\t{path}")
    return 0


def dream(a: argparse.Namespace) -> int:
    return _render(a, [], dream_config(a))
