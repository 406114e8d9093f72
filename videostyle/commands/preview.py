"""Previews: stylize a few evenly spaced frames only, to choose weights before a long render."""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from ..config import StylizeConfig
from ..method.device import to_numpy
from ..io.frames import to_uint8
from ..errors import ConfigError
from ..io.media import open_source
from ..method.multiscale import stylize_multiscale
from ..run.drivers.core import frame_rng
from ..io.resize import processing_size, resize_rgb
from ..method.stylizer import Stylizer
from ..method.temporal import init_image


def preview_indices(n_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced 0-based frame indices, first and last included."""
    if count < 1:
        raise ConfigError("--count must be at least 1")
    count = min(count, n_frames)
    return sorted({round(i * (n_frames - 1) / max(count - 1, 1)) for i in range(count)})


def stylize_preview(input: str, styles: list[np.ndarray], config: StylizeConfig, count: int = 6,
                    on_frame: Callable[[int, int], None] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(source frames, stylized frames) at processing size, each stylized independently as a first frame
    would be (``first_init``, first-frame iterations)."""
    probe = open_source(input)
    indices = preview_indices(probe.info.n_frames, count)
    size = processing_size(probe.info.width, probe.info.height, config.max_side)
    stylizer = Stylizer.create(config, styles)
    sources, results = [], []
    for k, index in enumerate(indices):
        with contextlib.closing(open_source(input, index, index + 1).frames()) as frames:
            frame = next(frames).image
        content = resize_rgb(frame, size).astype(np.float32)
        start = init_image(config.first_init, content, None, None, frame_rng(config.seed, index))
        result = stylize_multiscale(stylizer, content, start, (), config.optim.iterations_first, cold=True)
        sources.append(content.astype(np.uint8))
        results.append(to_uint8(to_numpy(result.image)))
        if on_frame:
            on_frame(k, len(indices))
    return sources, results


def contact_sheet(sources: list[np.ndarray], stylized: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Sources in the top row, stylized frames below, ``gap`` px of white between tiles (H×W×3 uint8)."""
    h, w = sources[0].shape[:2]
    n = len(sources)
    sheet = np.full((2 * h + 3 * gap, n * w + (n + 1) * gap, 3), 255, np.uint8)
    for i, (a, b) in enumerate(zip(sources, stylized)):
        x = gap + i * (w + gap)
        sheet[gap:gap + h, x:x + w] = a
        sheet[2 * gap + h:2 * gap + 2 * h, x:x + w] = b
    return sheet
