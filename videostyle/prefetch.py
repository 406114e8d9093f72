"""Run a producer (decode, resize, optical flow) in a background thread, a few items ahead of the
optimizer. OpenCV and FFmpeg release the GIL, so this overlaps with the VGG passes."""
from __future__ import annotations

import queue
import threading
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


class Prefetch(Iterator[T]):
    """Iterate ``source`` in a daemon thread, at most ``depth`` items ahead. Exceptions in the producer
    re-raise in the consumer; ``waited`` is the consumer's total blocking time in seconds."""

    def __init__(self, source: Iterable[T], depth: int = 3):
        self.waited = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self._thread.start()

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                while not self._stop.is_set():
                    try:
                        self._queue.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put((_END, None))
        except BaseException as exc:  # handed to the consumer, which decides what it means
            self._queue.put((_END, exc))

    def __next__(self) -> T:
        t = time.perf_counter()
        item, exc = self._queue.get()
        self.waited += time.perf_counter() - t
        if item is _END:
            self._stop.set()
            if exc is not None:
                raise exc
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (e.g. after an error downstream); it exits at its next item."""
        self._stop.set()
