"""Assembly from a kept work folder: encode its finished frames into any output again (another codec, a
frame sequence, 16-bit, a side-by-side video) without rendering. ``videostyle assemble WORK_DIR -o OUT``.

The work folder holds the frames at the processing size and 16-bit precision, keyed by absolute frame
number; the source (named in the manifest, checked by content) gives timestamps, audio and, for
``--output-size original``, ``--compare`` and ``--preserve-colors``, the full-size frames.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from fractions import Fraction

from ..config import OutputOptions
from ..errors import ConfigError, InputError
from ..io.frames import from_uint16, list_sequence, normalize_pattern
from ..io.media import VIDEO_EXTENSIONS, is_sequence_path, open_source
from ..io.media import _sequence_pattern as sequence_pattern
from .outputs import Outputs
from ..io.paths import PathPlan, is_within, written_file, written_sequence
from .store import WorkStore, file_identity
from ..io.resize import resize_rgb


def final_pass(manifest: dict) -> int:
    """The store pass that holds the finished frames: the last of multi-pass, else 0."""
    passes = manifest["config"].get("multipass", {}).get("passes", 1)
    return passes if passes > 1 else 0


def assemble(work_dir: str, output: str, options: OutputOptions | None = None, **option_values) -> dict:
    """Encode the finished frames of ``work_dir`` into ``output`` (video file, folder or pattern); the
    output options (codec, crf, depth, fps, output_size, preserve_colors, compare, overwrite) mean what
    they mean for stylize. Returns a small summary."""
    opts = dataclasses.replace(options or OutputOptions(), **option_values)
    output = normalize_pattern(output)  # out/####.png → out/%04d.png: what paths and sinks expect
    store, manifest = WorkStore.existing(work_dir)
    input = manifest["input"]["path"]
    if not os.path.exists(input):
        raise InputError(f"the input {input} named by {work_dir} is gone; assembly needs it for timing and audio")
    files = [input] if os.path.isfile(input) else [p for _, p in list_sequence(input)]
    if file_identity(files) != manifest["input"]["identity"]:
        raise InputError(f"the input {input} changed since {work_dir} was rendered; rerun stylize")
    pass_ = final_pass(manifest)
    numbers = store.numbers(pass_)
    if not numbers:
        raise InputError(f"{work_dir} holds no finished frames")
    first, last = numbers[0], numbers[-1]
    missing = sorted(set(range(first, last + 1)) - set(numbers))
    if missing:
        raise InputError(f"frame {missing[0]} is not finished in {work_dir} (it holds {len(numbers)} frames of "
                         f"{first}–{last}); finish the render first")
    _check_paths(work_dir, input, files, output, opts)

    rate = Fraction(opts.fps).limit_denominator(1_000_000) if opts.fps is not None else None
    source = open_source(input, first, last + 1, rate, audio=not opts.no_audio)
    info, size = source.info, tuple(manifest["size"])
    out_size = size if opts.output_size == "processing" else (info.width, info.height)
    out_info = dataclasses.replace(info, width=out_size[0], height=out_size[1])
    with Outputs(output, opts.compare, out_info, size, opts.preserve_colors, opts.depth, codec=opts.codec,
                 crf=opts.crf, fps=rate, audio_from=source, overwrite=opts.overwrite) as outputs:
        with contextlib.closing(source.frames()) as frames:
            for frame in frames:
                outputs.remember(frame)
                done = store.load(first + frame.index, pass_)
                if done is None:  # damaged after the listing
                    raise InputError(f"frame {first + frame.index} in {work_dir} cannot be read")
                outputs.write(frame.index, from_uint16(done[0]), resize_rgb(frame.image, size))
        outputs.finish()
        n = outputs.main.n_written
    return {"work_dir": work_dir, "output": output, "frames": n, "first": first, "last": last,
            "audio": outputs.main.audio_mode}


def _check_paths(work_dir, input, files, output, opts) -> None:
    plan = PathPlan()
    plan.read("input", input)
    if os.path.isdir(input):
        plan.read_files("input frame", files)
    plan.read("work folder", work_dir)
    for what, path in (("output", output), ("--compare", opts.compare)):  # either may be frames
        if path and is_sequence_path(path) and os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
            plan.write(written_sequence(what, sequence_pattern(path)))
        elif path:
            plan.write(written_file(what, path))
    plan.check()
    for path in (output, opts.compare):
        if path and is_within(path, work_dir):
            raise ConfigError(f"{path} lies inside the work folder {work_dir}; write it elsewhere")
