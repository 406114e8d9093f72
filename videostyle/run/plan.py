"""The plan of a shot: every fact of a run worked out once, before anything is rendered or written.

``plan_shot`` (stylize, dream) and ``plan_assembly`` (``videostyle assemble``) build a ``Shot``: the source
files and their identity, the absolute frame numbers (the opened source carries their pts), the
processing and output sizes, the chunks, the work folder with its manifest, and the outputs. Render,
executors, assembly and the report take the Shot and rebuild none of it.

Every path is checked against every other here (io/paths.py): nothing the run reads is written, the work
folder is new, empty or one of ours, and cleanup removes only what the run made.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..config import OutputOptions, StylizeConfig, as_dict
from ..errors import ConfigError, InputError
from ..io.bundled import check_style, resolve_style
from ..io.frameranges import NumberSet, parse_frames
from ..io.frames import image_has_alpha, image_size, list_sequence, normalize_pattern, read_image
from ..io.media import (VIDEO_EXTENSIONS, MediaInfo, Source, alpha_dropped, input_warnings, is_sequence_path,
                        open_source, pixel_aspect_note, sequence_pattern)
from ..io.paths import PathPlan, is_within, written_file, written_sequence
from ..io.resize import processing_size
from ..method.objectives import lookup
from .drivers import chunked, pick
from .store import WorkStore, check_work_folder, content_identity, default_work_dir, file_identity, folder_identity
from ..io.colour import ColourOptions


@dataclass(frozen=True)
class Shot:
    """One shot as a run sees it. Frame numbers are absolute positions in the input (0-based), the same
    from decode to the store, the seeds, the outputs and the report."""
    input: str                       # video file, folder or printf pattern (``####`` already as printf)
    files: tuple[str, ...]           # the input's files whose identity the manifest holds
    styles: tuple[str, ...]          # style image paths, bundled names resolved (none for a dream)
    output: str                      # as printf for a frame pattern
    options: OutputOptions
    rate: Fraction | None            # --fps of a frame-sequence input
    source: Source                   # opened (probed, selection mapped); decoding starts at frames()
    size: tuple[int, int]            # processing size (width, height)
    out_size: tuple[int, int]        # size of the written frames
    chunks: tuple[chunked.Chunk, ...]  # the --chunk-frames plan; () otherwise
    work_dir: str
    manifest: dict                   # what the work folder's frames depend on (the store checks it)
    warnings: tuple[str, ...] = ()   # what the run goes on with but the user should know
    keyframes: tuple[tuple[int, str], ...] = ()  # --keyframe: (absolute frame number, image path), checked

    def keyframe_images(self) -> dict:
        """The artist's keyframes read and resized to the processing size (RGB float32 0–255)."""
        import numpy as np
        from ..io.resize import resize_rgb
        return {n: resize_rgb(read_image(path), self.size).astype(np.float32) for n, path in self.keyframes}

    @property
    def numbers(self) -> tuple[int, ...]:
        """The absolute numbers of the selected frames (every one in the span unless the range is stepped)."""
        return self.source.positions

    def label(self, position: int) -> int:
        """The number --frames and --keyframe use for the frame at absolute ``position``: a sequence's own
        file number (1001 for the first frame of a shot from 1001), else the position itself."""
        numbers = self.info.numbers
        if self.info.kind == "sequence" and numbers is not None:
            return numbers[self.source.positions.index(position)]  # numbers: the selected frames', in order
        return position

    @property
    def info(self) -> MediaInfo:
        return self.source.info

    @property
    def out_info(self) -> MediaInfo:
        # Written on the source's own grid (--output-size original), non-square pixels stay so, tagged;
        # at the processing size they are square.
        own = self.info.stored_size is not None and self.out_size == self.info.stored_size
        return dataclasses.replace(self.info, width=self.out_size[0], height=self.out_size[1],
                                   pixel_aspect=self.info.pixel_aspect if own else Fraction(1),
                                   stored_size=self.info.stored_size if own else None)


def original_size(info: MediaInfo) -> tuple[int, int]:
    """--output-size original: the input's own pixel grid (non-square pixels as stored)."""
    return info.stored_size or (info.width, info.height)


def input_files(input: str) -> list[str]:
    """The files of ``input`` whose identity a work folder's manifest holds: the video file, or every
    frame of the sequence (folder or printf pattern) in order."""
    return [input] if os.path.isfile(input) else [p for _, p in list_sequence(input)]


def plan_shot(input: str, style: str | Sequence[str], output: str, config: StylizeConfig,
              opts: OutputOptions) -> Shot:
    """The Shot of ``stylize_video(input, style, output, config, opts)``, with every path checked and the
    source opened; nothing is created yet. ConfigError / InputError (one line) on bad arguments."""
    styles = tuple(resolve_style(s) for s in ([style] if isinstance(style, str) else list(style)))
    for s in styles:
        check_style(s)
    if not styles and lookup(config.objective).needs_style_images:  # a dream has no painting
        raise ConfigError("at least one --style image is needed")
    span = parse_frames(opts.frames)  # syntax checked before anything is read
    # shot.####.exr and shot.@.exr become shot.%04d.exr / shot.%d.exr here, so every module below sees printf.
    input, output = normalize_pattern(input), normalize_pattern(output)
    rate = Fraction(opts.fps).limit_denominator(1_000_000) if opts.fps is not None else None
    work = opts.work_dir or default_work_dir(output)
    files = tuple(input_files(input)) if _is_input_sequence(input) or os.path.isfile(input) else ()
    check_path_plan(_path_plan(input, files, styles, config, output, opts), work, opts.report)
    source = open_source(input, span, fps=rate, audio=not opts.no_audio, colour=ColourOptions.of(opts),
                         deinterlace=opts.deinterlace)
    check_stepped(span, source, output, config, opts)
    warnings = input_warnings(source) + [f"style image {s} has an alpha channel, which is dropped: it is read as RGB"
                                         for s in styles if image_has_alpha(s)]
    check_video_colour(output, opts)
    dropped = alpha_dropped(source, output, opts.codec, opts.depth)
    warnings += [dropped] if dropped else []
    shape = pixel_aspect_note(source, output, opts.output_size == "original")
    warnings += [shape] if shape else []
    if opts.compare and source.info.has_alpha:
        warnings.append(f"--compare {opts.compare} shows no alpha")
    info = source.info
    size = processing_size(info.width, info.height, config.max_side)
    keyframes = check_keyframes(config, source, size, warnings)
    # --chunk-frames K: chunks of K; --draft-finish: one chunk over the whole range.
    chunks = (chunked.plan(source.start, info.n_frames, config.chunks.chunk_frames or info.n_frames)
              if pick(config) is chunked else [])
    manifest = _manifest(input, files, styles, config, info, size, source.start, opts.flow_dir)
    if span.stepped:  # each frame then follows the previous *selected* one: another chain of frames
        manifest["input"]["positions"] = list(source.positions)
    if opts.deinterlace != "auto":  # the network sees woven frames, or one field of each whatever the test says
        manifest["input"]["deinterlace"] = opts.deinterlace
    if not ColourOptions.of(opts).plain:  # the network sees another picture (the output's space is only encoding)
        manifest["colour"] = colour_identity(ColourOptions.of(opts))
    if config.student.load:
        check_student(config.student.load)
    if config.method == "student":
        manifest["student"] = {"keyframes": [[n, content_identity(p)] for n, p in keyframes],
                               "load": content_identity(config.student.load) if config.student.load else None}
    return Shot(input, files, styles, output, opts, rate, source, size,
                size if opts.output_size == "processing" else original_size(info), tuple(chunks), work,
                manifest, tuple(warnings), tuple(keyframes))


def check_video_colour(output: str, opts: OutputOptions) -> None:
    """A video output is tagged SDR BT.709: HDR values (--output-colorspace of Rec.2100 PQ or HLG) there
    would be shown wrong by every player. ConfigError (one line) before anything is written."""
    if opts.output_colorspace is None or os.path.splitext(output)[1].lower() not in VIDEO_EXTENSIONS:
        return
    if ColourOptions.of(opts).writing(float_file=False).white != 1.0:
        raise ConfigError(f"--output-colorspace {opts.output_colorspace!r} is HDR video, and a video output is "
                          "written SDR (tagged BT.709): write frames (.exr, .tif, .dpx) for HDR values")


def check_student(path: str) -> None:
    """--student PATH read before anything is written: InputError (one line) unless it is a student saved
    by --save-student (the render would otherwise fail only after the work folder was made)."""
    from ..method import student as network  # torch: only for runs that name a student
    import torch
    network.load(path, torch.device("cpu"))


def check_stepped(span, source: Source, output: str, config: StylizeConfig, opts: OutputOptions) -> None:
    """A stepped or listed --frames range (1001-1100x2): frames only, one chain of the selected frames.
    ConfigError (exit 2) for what cannot follow it."""
    if not span.stepped:
        return
    ext = os.path.splitext(output)[1].lower()
    if ext in VIDEO_EXTENSIONS or (opts.compare and os.path.splitext(opts.compare)[1].lower() in VIDEO_EXTENSIONS):
        raise ConfigError(f"--frames {span} skips frames: a video of it would play them as one shot; "
                          "write frames (out/shot.####.exr), or select a range without steps")
    if config.chunks.chunk_frames or config.draft_finish:
        flag = "--chunk-frames" if config.chunks.chunk_frames else "--draft-finish"
        raise ConfigError(f"--frames {span} skips frames; {flag} needs one unbroken range")


def colour_identity(colour) -> dict:
    """What of the colour settings the stylized frames depend on (the output space is applied after)."""
    from ..io.colour import config_source
    cfg = config_source(colour.ocio_config)
    return {"input": colour.input, "style": colour.style, "view": colour.view,
            "config": content_identity(cfg) if os.path.isfile(cfg) else cfg}


def keyframe_position(source: Source, number: int) -> int | None:
    """The absolute position of frame ``number`` as --frames counts it (a video's 0-based number, a
    sequence's own file number), or None when the selected range does not hold it."""
    numbers = source.info.numbers
    if source.info.kind == "sequence" and numbers is not None:
        return source.positions[numbers.index(number)] if number in numbers else None
    return number if number in source.positions else None


def check_keyframes(config: StylizeConfig, source: Source, size: tuple[int, int],
                    warnings: list[str]) -> list[tuple[int, str]]:
    """--keyframe FRAME=IMAGE checked: the frame lies in the range, the image reads and has the frame's
    aspect ratio (another size is resized: a warning). ConfigError (one line, exit 2) otherwise."""
    out = []
    w, h = source.info.width, source.info.height
    for number, path in config.student.keyframes:
        position = keyframe_position(source, number)
        if position is None:
            raise ConfigError(f"--keyframe {number}={path}: frame {number} is not in the frames selected "
                              f"({range_text(source)})")
        if not os.path.isfile(path):
            raise ConfigError(f"--keyframe {number}={path}: no such file")
        try:
            kw, kh = image_size(path)
            read_image(path)
        except InputError as exc:
            raise ConfigError(f"--keyframe {number}={path}: {exc}") from None
        if abs(kw * h - kh * w) > max(w, h, kw, kh):  # one pixel of rounding either way
            raise ConfigError(f"--keyframe {number}={path} is {kw}x{kh}, another aspect ratio than the input's "
                              f"{w}x{h}")
        if (kw, kh) != tuple(size):
            warnings.append(f"keyframe {path} is {kw}x{kh}; resized to the processing size {size[0]}x{size[1]}")
        if position in {p for p, _ in out}:
            raise ConfigError(f"--keyframe {number} is given twice")
        out.append((position, path))
    return out


def range_text(source: Source) -> str:
    """The selected frames as --frames would name them: 1001-1050, 1001-1049x2, 1001,1005,1006."""
    info = source.info
    ns = list(info.numbers if info.kind == "sequence" and info.numbers else source.positions)
    steps = {b - a for a, b in zip(ns, ns[1:])}
    if len(steps) <= 1:
        step = steps.pop() if steps else 1
        return f"{ns[0]}-{ns[-1]}" + (f"x{step}" if step != 1 else "") if len(ns) > 1 else str(ns[0])
    return ",".join(map(str, ns[:8])) + (",…" if len(ns) > 8 else "")


def plan_assembly(work_dir: str, output: str, opts: OutputOptions) -> tuple[Shot, WorkStore, int]:
    """The Shot of ``videostyle assemble WORK_DIR -o OUTPUT``: the finished frames of a kept work folder,
    its input (checked by content: it gives timing, audio and the full-size frames) and the outputs.
    Returns the Shot, the store and the store pass that holds the finished frames."""
    output = normalize_pattern(output)  # out/####.png → out/%04d.png: what paths and sinks expect
    store, manifest = WorkStore.existing(work_dir)
    input = manifest["input"]["path"]
    files = tuple(input_files(input)) if os.path.exists(input) or _is_input_sequence(input) else ()
    if not files:  # a frame pattern names no file of its own: it is gone when no frame of it is left
        raise InputError(f"the input {input} named by {work_dir} is gone; assembly needs it for timing and audio")
    if file_identity(list(files)) != manifest["input"]["identity"]:
        raise InputError(f"the input {input} changed since {work_dir} was rendered; rerun stylize")
    pass_ = final_pass(manifest)
    numbers = store.numbers(pass_)
    if not numbers:
        raise InputError(f"{work_dir} holds no finished frames")
    first, last = numbers[0], numbers[-1]
    stepped = manifest["input"].get("positions")  # a stepped --frames range: exactly those frames
    deinterlace = manifest["input"].get("deinterlace", "auto")  # interlaced frames read as the render read them
    missing = sorted(set(stepped or range(first, last + 1)) - set(numbers))
    if missing:
        raise InputError(f"frame {missing[0]} is not finished in {work_dir} (it holds {len(numbers)} frames of "
                         f"{first}–{last}); finish the render first")
    plan = PathPlan()
    plan.read("input", input)
    if os.path.isdir(input):
        plan.read_files("input frame", list(files))
    plan.read("work folder", work_dir)
    plan.write(_written_output("output", output))
    plan.write(_written_output("--compare", opts.compare) if opts.compare else None)
    plan.check()
    for path in (output, opts.compare):
        if path and is_within(path, work_dir):
            raise ConfigError(f"{path} lies inside the work folder {work_dir}; write it elsewhere")
    rate = Fraction(opts.fps).limit_denominator(1_000_000) if opts.fps is not None else None
    # The frames were read in the render's colour space and view; only the output's space is this run's.
    drawn = manifest.get("colour") or {}
    opts = dataclasses.replace(opts, input_colorspace=drawn.get("input"), style_colorspace=drawn.get("style"),
                               view=drawn.get("view", "auto"))
    if stepped:
        if os.path.splitext(output)[1].lower() in VIDEO_EXTENSIONS or (
                opts.compare and os.path.splitext(opts.compare)[1].lower() in VIDEO_EXTENSIONS):
            raise ConfigError(f"{work_dir} holds a stepped --frames range: write frames, not a video")
        # The positions, as the numbers --frames selected them by (a sequence's own; a video's positions).
        named = [n for n, _ in list_sequence(input)] if _is_input_sequence(input) else None
        span = NumberSet(tuple(named[p] for p in stepped) if named else tuple(stepped))
        source = open_source(input, span, fps=rate, audio=not opts.no_audio, colour=ColourOptions.of(opts),
                             deinterlace=deinterlace)
    else:
        source = open_source(input, first, last + 1, rate, audio=not opts.no_audio, colour=ColourOptions.of(opts),
                             deinterlace=deinterlace)
    size = tuple(manifest["size"])
    out_size = size if opts.output_size == "processing" else original_size(source.info)
    shot = Shot(input, files, (), output, opts, rate, source, size, out_size, (), work_dir, manifest)
    return shot, store, pass_


def final_pass(manifest: dict) -> int:
    """The store pass that holds the finished frames: the last of multi-pass, else 0."""
    passes = manifest["config"].get("multipass", {}).get("passes", 1)
    return passes if passes > 1 else 0


def check_path_plan(plan: PathPlan, work: str, report: str | None) -> None:
    """ConfigError (one line) when a run's paths clash: no file we write may be one we read or another
    we write, and the work folder must be ours to create and clean up."""
    if report and not os.path.isdir(os.path.dirname(os.path.abspath(report))):
        raise ConfigError(f"report folder does not exist: {os.path.dirname(os.path.abspath(report))}")
    if report and os.path.isdir(report):
        raise ConfigError(f"--report {report} is a folder; name a .json file")
    for w in plan.writes:
        # Written at the end of the run: a missing folder found then would cost the whole render.
        if w.what == "--save-student":
            if not os.path.isdir(os.path.dirname(os.path.abspath(w.path))):
                raise ConfigError(f"--save-student folder does not exist: {os.path.dirname(os.path.abspath(w.path))}")
            if os.path.isdir(w.path):
                raise ConfigError(f"--save-student {w.path} is a folder; name a file (look.pt)")
    plan.check()
    plan.check_work_dir(work)
    check_work_folder(work)


def plan_paths(input: str, styles: Sequence[str], output: str, config: StylizeConfig,
               opts: OutputOptions) -> tuple[PathPlan, str]:
    """What ``stylize_video`` with these arguments would read and write, and its work folder, as it
    names them (patterns as printf, bundled paintings resolved): batch checks every job with it, and
    each job against the others, before the first runs."""
    input, output = normalize_pattern(input), normalize_pattern(output)
    styles = [resolve_style(s) for s in styles]
    work = opts.work_dir or default_work_dir(output)
    files = tuple(input_files(input)) if _is_input_sequence(input) else ()
    return _path_plan(input, files, styles, config, output, opts), work


def _is_input_sequence(input: str) -> bool:
    """A frame-sequence input whose folder exists (its files can be listed now)."""
    return is_sequence_path(input) and os.path.isdir(input if os.path.isdir(input) else os.path.dirname(input) or ".")


def _weights_file(config: StylizeConfig) -> str | None:
    return None if config.weights in ("packaged", "torchvision") else config.weights


def _path_plan(input, files, styles, config, output, opts: OutputOptions) -> PathPlan:
    """What this run reads and writes (see io/paths.py)."""
    plan = PathPlan()
    if _is_input_sequence(input):
        plan.read_files("input frame", list(files))
        plan.read("input", input if os.path.isdir(input) else (os.path.dirname(input) or "."))
    else:
        plan.read("input", input)
    for s in styles:
        plan.read("style image", s)
    plan.read("weights file", _weights_file(config))
    plan.read("flow folder", opts.flow_dir)
    for _, path in config.student.keyframes:
        plan.read("keyframe", path)
    plan.read("--student", config.student.load)
    plan.write(written_file("--save-student", opts.save_student) if opts.save_student else None)
    plan.write(_written_output("output", output))
    plan.write(_written_output("--compare", opts.compare) if opts.compare else None)
    plan.write(written_file("--report", opts.report) if opts.report else None)
    return plan


def _written_output(what: str, path: str):
    """What open_sink writes for ``path``: frames of a pattern (a folder, a pattern, a path ending in a
    separator), or one video file. ``--compare shot/`` writes frames too, so it is checked as frames."""
    if is_sequence_path(path) and os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
        return written_sequence(what, sequence_pattern(path))
    return written_file(what, path)


def _manifest(input, files, styles, config, info, size, start, flow_dir) -> dict:
    """What the finished frames in a work folder depend on: the input, style, weights and flow files by
    content, and the settings (the device is left out: moving a run to another machine is allowed).
    Single-pass frames are keyed by absolute number and depend only on earlier frames, so the folder
    serves any ``--frames`` range of the same input; multi-pass and chunked results depend on the whole range."""
    settings = as_dict(config)
    settings.pop("device")
    weights = _weights_file(config)
    selection = {"first": start, "n_frames": info.n_frames} if pick(config).RESULTS_DEPEND_ON_RANGE else {}
    return {"input": {"path": os.path.abspath(input), "identity": file_identity(list(files)), **selection},
            "styles": [content_identity(s) for s in styles], "size": list(size), "config": settings,
            "weights": content_identity(weights) if weights and os.path.isfile(weights) else None,
            "flow_dir": folder_identity(flow_dir) if flow_dir else None}
