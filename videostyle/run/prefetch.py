"""Run a producer (decode, resize, optical flow) in a background thread, a few items ahead of the
optimizer. OpenCV and FFmpeg release the GIL, so this overlaps with the VGG passes."""
from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()
_POLL = 0.05  # seconds between checks of the stop flag while the queue is full


class Prefetch(Iterator[T]):
    """Iterate ``source`` in a thread, at most ``depth`` items ahead. Exceptions in the producer
    re-raise in the consumer; ``waited`` is the consumer's total blocking time in seconds.

    The source is closed (``close()``, for generators) on the producer thread when it stops, so the
    files it holds open (decoders) are closed by the thread that used them, never later by the garbage
    collector on another thread. ``close()`` (or leaving a ``with`` block) stops the producer and joins
    it; it is called automatically at the end of the items."""

    def __init__(self, source: Iterable[T], depth: int = 3):
        self.waited = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(source),), name="videostyle-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        """Queue ``entry`` unless told to stop first; False if stopped (the consumer is gone)."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, which decides what it means
            # The failed calls' frames keep their locals alive through the traceback, e.g. a decoder
            # suspended further down the chain (prepare -> decode -> frames). Clearing them closes it
            # here, on this thread, not whenever and wherever the exception is collected.
            traceback.clear_frames(exc.__traceback__)
            self._put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # a source that fails while closing: tell a consumer still reading
                    self._put((_END, exc))

    def __next__(self) -> T:
        if self._stop.is_set():
            raise StopIteration
        t = time.perf_counter()
        while True:
            try:
                item, exc = self._queue.get(timeout=_POLL)
                break
            except queue.Empty:
                if self._stop.is_set():  # closed from another thread while this one waited
                    raise StopIteration from None
        self.waited += time.perf_counter() - t
        if item is _END:
            self.close()
            if exc is not None:
                raise exc
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (it stops at its next item), drop what it queued and wait for its thread to
        end; the source is closed on that thread. Safe to call more than once."""
        self._stop.set()
        if threading.current_thread() is self._thread:
            return
        while self._thread.is_alive():
            self._drain()
            self._thread.join(_POLL)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
