"""Threads and decoders end deterministically (issue 10, items 6 and 12): the prefetch thread is stopped and
joined on every exit path, and every decoder is closed by the thread that used it, never left to the garbage
collector."""

import contextlib
import gc
import os
import threading
import time

import pytest

from videostyle.io.media import open_sink, open_source
from videostyle.run.prefetch import Prefetch

from mediagen import make_video


def new_threads(before):
    return [t for t in threading.enumerate() if t not in before]


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_close_after_the_consumer_fails_near_the_end_joins_the_producer():
    before = set(threading.enumerate())
    items = Prefetch(iter(range(10)), depth=2)
    with pytest.raises(RuntimeError):
        try:
            for i in items:
                if i == 6:
                    time.sleep(0.2)  # the producer fills the queue and reaches the end of its items
                    raise RuntimeError("the optimizer failed on frame 6")
        finally:
            items.close()
    assert new_threads(before) == []


def test_the_source_is_closed_on_the_producer_thread_before_close_returns():
    events = []

    def frames():
        try:
            for i in range(100):
                yield i
        finally:
            events.append(threading.current_thread())

    items = Prefetch(frames(), depth=2)
    assert next(items) == 0
    producer = items._thread
    items.close()
    assert events == [producer]  # closed, by the thread that ran it, before close() returned
    assert not producer.is_alive()
    with pytest.raises(StopIteration):
        next(items)


def test_close_from_another_thread_ends_a_consumer_waiting_for_an_item():
    def slow():
        for i in range(3):
            time.sleep(0.3)
            yield i

    items = Prefetch(slow(), depth=1)
    got = []
    consumer = threading.Thread(target=lambda: got.extend(items), daemon=True)
    consumer.start()
    time.sleep(0.1)  # the consumer is waiting for the first item
    items.close()
    consumer.join(timeout=2)
    assert not consumer.is_alive() and not items._thread.is_alive()


def test_a_failing_producer_closes_the_decoder_it_was_reading_on_its_thread():
    events = []

    def decoded():
        try:
            yield from range(100)
        finally:
            events.append(threading.current_thread())

    def prepared(frames):  # like the pipeline's prepare(): fails while the decoder below is suspended
        for i in frames:
            if i == 3:
                raise ValueError("flow failed")
            yield i

    items = Prefetch(prepared(decoded()), depth=2)
    producer = items._thread
    with pytest.raises(ValueError, match="flow failed") as caught:
        list(items)
    assert events == [producer]  # closed on the producer thread, although the exception is still alive
    assert caught.value is not None


def test_a_producer_error_reraises_and_the_thread_ends():
    before = set(threading.enumerate())

    def broken():
        yield 1
        raise ValueError("decoder broke")

    with Prefetch(broken()) as items:
        assert next(items) == 1
        with pytest.raises(ValueError, match="decoder broke"):
            next(items)
    assert new_threads(before) == []


def test_abandoned_decoders_are_closed_at_once(tmp_path):
    path = make_video(tmp_path / "in.mp4", n=6, gop=2)
    source = open_source(path, 2)
    before = open_fds()
    frames = source.frames()
    next(frames)
    assert open_fds() > before  # the decoder holds the file open while suspended
    frames.close()
    assert open_fds() == before


def test_stress_open_abandon_encode_with_threads(tmp_path):
    """Hundreds of decoders opened and abandoned mid-clip, on the main thread, in prefetch threads and in
    writer threads, while other threads encode. Before decoders were closed deterministically and the
    prefetch thread joined, every other cycle left a prefetch thread blocked forever on its full queue (100
    threads after this loop). Checked in every cycle: when close() returns, the prefetch thread has ended
    and the decoder it read from is closed (the test keeps each one referenced, so only an explicit close,
    not the end of the thread, can close it)."""
    path = make_video(tmp_path / "in.mp4", n=6, gop=2)
    gc.collect()
    threads_before, fds_before = set(threading.enumerate()), open_fds()
    failures = []
    decoders = []  # every decoder handed to a prefetch thread, kept referenced to the end

    def encode(k):  # a writer thread: decode (abandoning one decoder) and encode
        try:
            source = open_source(path, k % 3)
            with contextlib.closing(source.frames()) as frames:
                next(frames)
            out = str(tmp_path / f"out{k}.mp4")
            with open_sink(out, source.info) as sink, contextlib.closing(source.frames()) as frames:
                for frame in frames:
                    sink.write(frame.image, frame.pts)
            os.remove(out)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    for k in range(200):
        source = open_source(path, k % 4)  # starts past 0 seek
        writer = threading.Thread(target=encode, args=(k,))
        writer.start()
        decoders.append(source.frames())
        frames = Prefetch(decoders[-1], depth=1)
        try:
            # The consumer stops at or near the end (the producer races to the end as close() drains the
            # queue), or, every fourth cycle, after one frame of five, leaving the decoder mid-clip.
            for _ in range(1 if k % 4 == 1 else source.info.n_frames - 1 - k % 2):
                next(frames)
            time.sleep(0.01)  # ... after some work of its own, while the producer reaches the end
        finally:
            frames.close()
        assert new_threads(threads_before | {writer}) == [], k  # joined before close() returned
        assert decoders[-1].gi_frame is None, k  # finished or closed (a suspended generator has a frame)
        with contextlib.closing(source.frames()) as frames:
            next(frames)
        writer.join()
    assert failures == []
    assert new_threads(threads_before) == []
    assert open_fds() <= fds_before  # with all 200 decoders still referenced
    assert len(decoders) == 200
