"""Assembly: finished frames into the outputs, the one place both stylize and ``videostyle assemble``
encode through. ``open_outputs(shot)`` opens the sinks a Shot names (validating them before anything
else is created), ``close_outputs`` flushes them and checks that every frame of the shot was written.

``videostyle assemble WORK_DIR -o OUT`` encodes a kept work folder's frames again (another codec, a frame
sequence, 16-bit, a side-by-side video) without rendering: the work folder holds the frames at the
processing size and 16-bit precision, keyed by absolute frame number; the source (named in the manifest,
checked by content) gives timestamps, audio and, for ``--output-size original``, ``--compare`` and
``--preserve-colors``, the full-size frames.
"""
from __future__ import annotations

import contextlib
import dataclasses

from ..config import OutputOptions
from ..errors import InputError
from ..io.frames import from_uint16
from ..io.resize import resize_rgb
from .outputs import Outputs
from .plan import Shot, plan_assembly, range_text
from ..io.colour import ColourOptions


def open_outputs(shot: Shot) -> Outputs:
    """The sinks of ``shot`` (main output, --compare), a context manager: aborted on any error, so
    nothing appears under the output's name unless the run succeeds."""
    o = shot.options
    return Outputs(shot.output, o.compare, shot.out_info, shot.size, o.preserve_colors, o.depth, codec=o.codec,
                   crf=o.crf, fps=shot.rate, audio_from=shot.source, overwrite=o.overwrite, colour=ColourOptions.of(o))


def close_outputs(shot: Shot, outputs: Outputs) -> None:
    """Flush the encoders; InputError when fewer frames were written than the shot holds."""
    outputs.finish()
    if outputs.main.n_written != shot.info.n_frames:
        raise InputError(f"{shot.input}: decoded {outputs.main.n_written} frames, expected {shot.info.n_frames}")


def assemble(work_dir: str, output: str, options: OutputOptions | None = None, **option_values) -> dict:
    """Encode the finished frames of ``work_dir`` into ``output`` (video file, folder or pattern); the
    output options (codec, crf, depth, fps, output_size, preserve_colors, compare, overwrite) mean what
    they mean for stylize. Returns a small summary."""
    opts = dataclasses.replace(options or OutputOptions(), **option_values)
    shot, store, pass_ = plan_assembly(work_dir, output, opts)
    with open_outputs(shot) as outputs:
        with contextlib.closing(shot.source.frames()) as frames:
            for frame in frames:
                outputs.remember(frame)
                done = store.load(frame.number, pass_)
                if done is None:  # damaged after the listing
                    raise InputError(f"frame {frame.number} in {work_dir} cannot be read")
                outputs.write(frame.number, from_uint16(done[0]), resize_rgb(frame.image, shot.size))
        close_outputs(shot, outputs)
    return {"work_dir": work_dir, "output": shot.output, "frames": outputs.main.n_written,
            "first": shot.numbers[0], "last": shot.numbers[-1], "range": range_text(shot.source),
            "audio": outputs.main.audio_mode}
