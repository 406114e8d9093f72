"""The output sinks of a render, fed by a writer thread: see ``Outputs``."""
from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time

import numpy as np

from .colour import preserve_colors
from .frames import to_uint8
from .media import open_sink
from .stylizer import resize_rgb


class Outputs:
    """The output sink and the optional side-by-side one, fed by a writer thread so encoding overlaps
    the optimization. Frames (float, 16-bit precision) are upscaled to the output size (bicubic),
    recoloured from the source when asked, and rounded to each sink's depth; pts come from the decoder.
    An encoder error surfaces at the next write or at close; leaving with an exception aborts both sinks
    (nothing under the output names)."""

    def __init__(self, output, compare, out_info, size, keep_colors, depth, **sink_options):
        self._stack = contextlib.ExitStack()
        self.main = self._stack.enter_context(open_sink(output, out_info, depth=depth, **sink_options))
        self.side = None
        if compare:
            side_info = dataclasses.replace(out_info, width=2 * out_info.width)
            self.side = self._stack.enter_context(open_sink(compare, side_info, **sink_options))
        self.out_size, self.keep_colors = (out_info.width, out_info.height), keep_colors
        self._need_full = (keep_colors or compare) and self.out_size != tuple(size)
        self._pts: dict[int, int | None] = {}
        self._full: dict[int, np.ndarray] = {}
        self._jobs: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self.encode_seconds = 0.0
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def __enter__(self) -> "Outputs":
        return self

    def finish(self) -> None:
        """Wait until every frame handed over is encoded; re-raise an encoder error."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if exc_type is None and self._error is not None:
            exc_type, exc, tb = type(self._error), self._error, self._error.__traceback__
            try:
                self._stack.__exit__(exc_type, exc, tb)
            finally:
                raise self._error
        return self._stack.__exit__(exc_type, exc, tb)

    def remember(self, frame) -> None:
        """Called by the decoder thread for each source frame (dict writes are atomic under the GIL)."""
        self._pts[frame.index] = frame.pts
        if self._need_full:
            self._full[frame.index] = frame.image

    def write(self, index: int, stylized: np.ndarray, source_small: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._jobs.put((index, stylized, source_small))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._encode(*job)
            except BaseException as exc:  # handed to the optimizer's thread
                self._error = exc

    def _encode(self, index: int, stylized: np.ndarray, source_small: np.ndarray) -> None:
        t = time.perf_counter()
        source = self._full.pop(index, source_small)
        image = resize_rgb(stylized, self.out_size)
        if self.keep_colors:
            image = preserve_colors(image, source)
        pts = self._pts.pop(index)
        self.main.write(image, pts)
        if self.side is not None:
            self.side.write(np.concatenate([source, to_uint8(image)], axis=1), pts)
        self.encode_seconds += time.perf_counter() - t
