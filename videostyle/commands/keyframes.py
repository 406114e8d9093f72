"""``videostyle keyframes INPUT --style … -o DIR``: the keyframes --method student would choose, as
numbered PNGs for an artist to retouch and hand back with --keyframe FRAME=IMAGE.

DIR gets ``source.NNNN.png`` (the frame at the processing size) and ``stylized.NNNN.png`` (the
optimizer's stylization, chained by flow as the student's run makes them), NNNN the frame's number as
--frames and --keyframe count it. DIR appears complete or not at all: the files are written into a hidden
folder beside it, renamed into place at the end. With -y, an existing DIR that holds only such files has
them replaced; one holding anything else is refused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
from typing import Callable

from ..config import OutputOptions, StylizeConfig
from ..errors import OutputError
from ..io.frames import to_uint8, write_png
from ..run.drivers import optimizer_solver, prepared_for
from ..run.drivers.student import Job, choose_keyframes, stylize_keyframes
from ..run.pipeline import named, start
from ..run.plan import plan_shot
from ..run.render import Timer, decode, flow_source, resolved_flow


_OURS = re.compile(r"(source|stylized)\.\d+\.png")  # what write_keyframes puts in its folder


def write_keyframes(input: str, styles: list[str], folder: str, config: StylizeConfig, opts: OutputOptions,
                    on_event: Callable[[dict], None] | None = None) -> list[dict]:
    """Choose and stylize the keyframes of ``input`` and write them to ``folder``; their records."""
    emit = on_event or (lambda event: None)
    folder = os.path.abspath(folder.rstrip("/\\") or folder)
    if os.path.exists(folder) and not (os.path.isdir(folder) and not os.listdir(folder)):
        if not opts.overwrite or not os.path.isdir(folder):
            raise OutputError(f"{folder} exists and is not an empty folder; give a new one (or -y to replace it)")
        others = [n for n in os.listdir(folder) if not _OURS.fullmatch(n)]
        if others:  # -y replaces keyframes written before, never a file of the user's
            raise OutputError(f"{folder} holds {others[0]}, which videostyle keyframes did not write; give another "
                              "folder")
    if not os.path.isdir(os.path.dirname(folder)):
        raise OutputError(f"folder does not exist: {os.path.dirname(folder)}")
    config = dataclasses.replace(config, method="student")
    opts = dataclasses.replace(opts, work_dir=opts.work_dir or folder + ".videostyle")
    shot = plan_shot(input, styles, os.path.join(folder, "stylized.%04d.png"), config, opts)
    config = resolved_flow(config, shot.size)  # as stylize settles it (run/pipeline.py)
    emit = named(emit, shot)
    stylizer, store = start(shot, config, emit)
    try:
        return _write(shot, stylizer, store, folder, config, opts, emit)
    finally:
        store.close()


def _write(shot, stylizer, store, folder: str, config: StylizeConfig, opts: OutputOptions, emit) -> list[dict]:
    timer = Timer()
    flows = flow_source(config, shot.size, shot.work_dir, opts.flow_dir)
    frames = list(prepared_for(config, decode(shot.source, shot.size, timer), flows))
    artist = shot.keyframe_images()
    keys = choose_keyframes(config, frames, flows, artist)
    job = Job(stylizer.device, shot.work_dir, artist, emit)
    stylized = stylize_keyframes(optimizer_solver(stylizer), config, frames, keys, store, flows, job)
    by_number = {p.number: p for p in frames}
    staging = os.path.join(os.path.dirname(folder), f".{os.path.basename(folder)}.partial-{secrets.token_hex(4)}")
    try:
        os.makedirs(staging)
        for n, image in stylized.items():
            label = shot.label(n)
            write_png(os.path.join(staging, f"source.{label:04d}.png"), to_uint8(by_number[n].frame))
            write_png(os.path.join(staging, f"stylized.{label:04d}.png"), to_uint8(image))
        if os.path.isdir(folder):  # only our files are there (checked above): replaced one by one
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
            for name in os.listdir(staging):
                os.replace(os.path.join(staging, name), os.path.join(folder, name))
        else:
            os.rename(staging, folder)
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    if not opts.keep_work:
        store.remove()
    return [{**k, "frame": shot.label(k["frame"])} for k in job.summary["keyframes"]]

