"""``videostyle demo``: the bundled clip stylized with a bundled painting, with every output a real run
gives (video with audio, side-by-side video, contact sheet, JSON report and its plot), from one command
and no file of the user's. Nothing here prints; the CLI reports where the files are.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Callable

import numpy as np

from ..io import bundled
from ..config import OptimConfig, StylizeConfig
from ..errors import InputError, OutputError

# 96 px on the longer side (96×54 for the 16:9 clip) and the clip's first 2 s (24 frames): measured at 112
# px and all 36 frames, the demo took 4 min 10 s on 2 idle cores of this project's (slow) machine, 0.14 s
# per VGG evaluation; the time goes with pixels × frames, so this is about 2 minutes. The painting's
# texture still shows at that size. A GPU takes --max-side 512 and the whole clip (--frames 0:36).
DEMO_MAX_SIDE = 96
DEMO_FRAMES = "0:24"
DEFAULT_FOLDER = "videostyle-demo"
SHEET_FRAMES = 6


@dataclasses.dataclass(frozen=True)
class DemoFiles:
    """Where the demo writes, all inside one folder."""
    folder: str
    video: str
    compare: str
    sheet: str
    report: str
    plot: str | None  # None without matplotlib (an optional dependency): the rest is still worth seeing

    @classmethod
    def inside(cls, folder: str) -> "DemoFiles":
        join = lambda name: os.path.join(folder, name)  # noqa: E731
        can_plot = importlib.util.find_spec("matplotlib") is not None
        return cls(folder, join("stylized.mp4"), join("side_by_side.mp4"), join("contact_sheet.png"),
                   join("report.json"), join("report.png") if can_plot else None)

    def files(self) -> list[str]:
        return [p for p in (self.video, self.compare, self.sheet, self.report, self.plot) if p]


def _prepare_folder(files: DemoFiles, overwrite: bool) -> None:
    """Create the folder; refuse (before any work) when an earlier demo's files are there, like every
    other output, unless ``overwrite``."""
    try:
        os.makedirs(files.folder, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create demo folder {files.folder}: {e.strerror or e}") from None
    if not overwrite:
        for path in files.files():
            if os.path.lexists(path):
                raise OutputError(f"output {path} already exists; use -y/--overwrite to replace it")


def _config(max_side: int, iterations: tuple[int, int] | None, device: str) -> StylizeConfig:
    config = StylizeConfig(max_side=max_side, device=device)
    if iterations is not None:
        optim = dataclasses.replace(OptimConfig(), iterations_first=iterations[0], iterations_later=iterations[1])
        config = dataclasses.replace(config, optim=optim)
    return config


def contact_sheet_of(source: str, stylized: str, count: int = SHEET_FRAMES,
                     frames: tuple[int, int | None] = (0, None)) -> np.ndarray:
    """Contact sheet (source frames above, stylized below) of ``count`` evenly spaced frames of a finished
    render, the source resized to the stylized frames' size. ``frames``: the source range rendered."""
    from ..io.media import open_source
    from .preview import contact_sheet, preview_indices
    from ..io.resize import resize_rgb
    rendered = [f.image for f in open_source(stylized).frames()]
    originals = [f.image for f in open_source(source, *frames).frames()]
    if len(rendered) != len(originals) or not rendered:
        raise InputError(f"{stylized} has {len(rendered)} frames, its source {len(originals)}")
    picks = preview_indices(len(rendered), count)
    h, w = rendered[0].shape[:2]
    return contact_sheet([resize_rgb(originals[i], (w, h)) for i in picks], [rendered[i] for i in picks])


def run_demo(folder: str = DEFAULT_FOLDER, style: str = bundled.DEFAULT_STYLE, *, max_side: int = DEMO_MAX_SIDE,
             frames: str | None = DEMO_FRAMES, iterations: tuple[int, int] | None = None, device: str = "auto",
             overwrite: bool = False, on_event: Callable[[dict], None] | None = None) -> tuple[DemoFiles, dict]:
    """Stylize the bundled clip with ``style`` (a bundled painting's name or an image path) into
    ``folder``; returns the files written and the stylize report. ``frames``/``iterations`` shorten the
    run (tests); ``on_event`` gets the stylize progress events."""
    from ..run.evaluate import evaluate_video, plot
    from ..io.frames import write_png
    from ..io.frameranges import parse_frames
    from ..run.pipeline import stylize_video

    files = DemoFiles.inside(folder)
    clip, painting = bundled.clip_path(), bundled.resolve_style(style)
    _prepare_folder(files, overwrite)
    config = _config(max_side, iterations, device)
    report = stylize_video(clip, painting, files.video, config, frames=frames, report=files.report,
                           compare=files.compare, overwrite=overwrite, on_event=on_event)
    span = parse_frames(frames)
    write_png(files.sheet, contact_sheet_of(clip, files.video, frames=span))
    if files.plot:
        # The report's own evaluation drops the per-frame rows; the plot needs them (and gains the
        # per-frame style and content distances).
        evaluation = evaluate_video(files.video, clip, style=[painting], max_side=max(report["size"]),
                                    device=device, source_frames=span)
        plot(evaluation, files.plot)
    return files, report
