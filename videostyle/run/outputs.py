"""The output sinks of a render, fed by a writer thread: see ``Outputs``."""
from __future__ import annotations

import dataclasses
import queue
import threading
import time

import numpy as np

from ..method.colour import preserve_colors
from ..errors import InputError
from ..io.frames import to_uint8
from ..io.media import Sink, open_sink
from ..io.resize import resize_alpha, resize_rgb

# How often a wait for the writer thread wakes up, so that a signal is handled while waiting.
_POLL_SECONDS = 0.05


class Outputs:
    """The output sink and the optional side-by-side one, fed by a writer thread so encoding overlaps
    the optimization. Frames (float, 16-bit precision) are upscaled to the output size (bicubic),
    recoloured from the source when asked, and rounded to each sink's depth; pts come from the decoder
    (``remember``).

    Full-size source frames (``keep_colors`` or ``compare`` at an output size other than the processing
    size) are read again from ``audio_from`` (the source being rendered) on the writer thread, in order,
    as each frame is encoded: a multi-pass render decodes the whole clip before it encodes anything, so
    keeping them would hold the clip at full size in memory. At most one full-size frame is held.

    Failure is contained: an encoder error surfaces at the next write or at finish/close; leaving with an
    exception aborts both sinks (nothing under the output names, no temporary file), and so does a
    second signal while the writer is being stopped. Opening or committing one sink failing aborts the
    other. The compare sink is committed first, so a compare that fails leaves the main output name
    untouched; a main output that fails to commit after that leaves the (complete) compare.
    ``overwrite``: see media.open_sink (an existing output is refused without it).
    """

    def __init__(self, output, compare, out_info, size, keep_colors, depth, *, audio_from=None,
                 overwrite: bool = False, **sink_options):
        self.out_size, self.keep_colors = (out_info.width, out_info.height), keep_colors
        # A plate's alpha, highlight cap and EXR attributes are read again with its full-size frame.
        need_full = (bool(keep_colors or compare) and self.out_size != tuple(size)) or out_info.plates
        if need_full and audio_from is None:
            raise ValueError("full-size output frames need the source (audio_from)")
        self.main: Sink | None = None
        self.side: Sink | None = None
        try:
            self.main = open_sink(output, out_info, depth=depth, audio_from=audio_from, overwrite=overwrite,
                                  **sink_options)
            if compare:
                side_info = dataclasses.replace(out_info, width=2 * out_info.width)
                self.side = open_sink(compare, side_info, audio_from=audio_from, overwrite=overwrite,
                                      **sink_options)
        except BaseException:
            _abort_all([self.main])  # its temporary file must not outlive a failing compare sink
            raise
        # On the input's own grid of non-square pixels (out_info keeps stored_size only then: Shot.out_info),
        # its frames are read as stored: the alpha and the colour kept where it is 0 come back exactly.
        self._originals = _SourceFrames(audio_from, out_info.stored_size is not None) if need_full else None
        self._pts: dict[int, int | None] = {}
        self._jobs: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._cancelled = False  # set when the sinks will be aborted: queued frames are dropped
        self._stop_sent = False
        self.encode_seconds = 0.0
        self._thread = threading.Thread(target=self._work, name="videostyle-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> "Outputs":
        return self

    def finish(self) -> None:
        """Wait until every frame handed over is encoded; re-raise an encoder error."""
        self._stop_writer()
        if self._error is not None:
            raise self._error

    def __exit__(self, exc_type, exc, tb) -> bool:
        failed = exc_type is not None
        try:
            self._cancelled = self._cancelled or failed
            self._stop_writer()
        except BaseException:
            # A second signal (or another error) while waiting for the writer: the sinks are still
            # aborted, once the writer has let go of them.
            self._cancelled = True
            self._stop_writer_regardless()
            _abort_all([self.side, self.main])
            raise
        if not failed and self._error is not None:
            _abort_all([self.side, self.main])
            raise self._error
        self._end_sinks(failed)
        return False

    def remember(self, frame) -> None:
        """Called by the decoder thread for each source frame (dict writes are atomic under the GIL).
        Only the pts is kept: full-size images are read again when encoding (see the class docstring)."""
        self._pts[frame.number] = frame.pts

    def write(self, number: int, stylized: np.ndarray, source_small: np.ndarray) -> None:
        """Queue frame ``number`` (absolute, as decoded: its pts was remembered under it) for encoding."""
        if self._error is not None:
            raise self._error
        self._jobs.put((number, stylized, source_small))

    # ---- the writer thread

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                if self._error is not None or self._cancelled:
                    continue
                try:
                    self._encode(*job)
                except BaseException as exc:  # handed to the optimizer's thread
                    self._error = exc
        finally:
            if self._originals is not None:
                self._originals.close()  # the decoder is closed on the thread that used it

    def _encode(self, number: int, stylized: np.ndarray, source_small: np.ndarray) -> None:
        t = time.perf_counter()
        original = self._originals.get(number) if self._originals is not None else None
        source = resize_rgb(original.image, self.out_size) if original is not None else source_small
        plate = original.plate if original is not None else None
        image = resize_rgb(stylized, self.out_size)
        if self.keep_colors:
            image = preserve_colors(image, source)
        if plate is not None and plate.alpha is not None:
            alpha = resize_alpha(plate.alpha, self.out_size)
            # No paint where the plate is transparent: the input's own colour stays there (straight
            # outputs show it; premultiplied EXR multiplies it by 0).
            image = np.where((alpha == 0)[..., None], np.asarray(source, np.float32), image)
            plate = dataclasses.replace(plate, alpha=alpha)
        pts = self._pts.pop(number)
        self.main.write(image, pts, plate)
        if self.side is not None:
            self.side.write(np.concatenate([to_uint8(source), to_uint8(image)], axis=1), pts)
        self.encode_seconds += time.perf_counter() - t

    # ---- stopping

    def _stop_writer(self) -> None:
        """Hand the writer its stop mark and wait for it, waking often so that signals are handled."""
        while not self._stop_sent and self._thread.is_alive():
            try:
                self._jobs.put(None, timeout=_POLL_SECONDS)
                self._stop_sent = True
            except queue.Full:
                pass
        while self._thread.is_alive():
            self._thread.join(_POLL_SECONDS)

    def _stop_writer_regardless(self) -> None:
        """_stop_writer after a signal: the writer drops what is queued and finishes the frame it is
        encoding (a sink must not be aborted under it); further signals wait until the sinks are aborted,
        which is at most one frame's encoding away."""
        while self._thread.is_alive():
            try:
                self._stop_writer()
            except BaseException:  # noqa: BLE001 - the first signal is already on its way up
                pass

    def _end_sinks(self, failed: bool) -> None:
        """Commit both sinks (compare first), or abort both; any failure aborts the ones not committed."""
        sinks = [s for s in (self.side, self.main) if s is not None]
        done = 0
        try:
            while not failed and done < len(sinks):
                sinks[done].close()
                done += 1
        finally:
            _abort_all(sinks[done:])


def _abort_all(sinks) -> None:
    """Abort every sink given (None skipped), even when an abort is interrupted; re-raise the first
    interruption afterwards."""
    error = None
    for sink in sinks:
        if sink is None:
            continue
        try:
            sink.abort()
        except BaseException as exc:  # noqa: BLE001 - keep aborting the others
            error = error or exc
    if error is not None:
        raise error


class _SourceFrames:
    """Full-size source frames read again in order, on the writer thread. Holds one frame at most."""

    def __init__(self, source, stored: bool = False):
        self._source, self._stored = source, stored
        self._frames = None
        self._last = None

    def get(self, number: int):
        """The source's Frame record ``number`` at full size (its image, and its plate data)."""
        if self._last is not None and self._last.number == number:
            return self._last
        if self._frames is None or (self._last is not None and self._last.number > number):
            self.close()
            self._frames = self._source.frames(stored=True) if self._stored else self._source.frames()
        for frame in self._frames:
            self._last = frame
            if frame.number == number:
                return frame
        raise InputError(f"{self._source.path}: frame {number} is missing when read again for the output")

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames = self._last = None
