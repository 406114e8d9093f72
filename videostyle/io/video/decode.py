"""Decoding a probed video's frames to RGB arrays: upright, at the shape shown, one field of interlaced
video, 16 bits for deep or HDR streams, by a keyframe seek only where seeking was verified exact."""
from __future__ import annotations

import bisect
import contextlib
import itertools
import threading
from typing import Iterator

import av
import numpy as np

from ...errors import InputError
from ..resize import display_size, resize_rgb
from .common import AV_ERRORS, UNSPECIFIED, reason, untagged_matrix
from .probe import VideoProbe, file_identity, opened


def _to_rgb(frame, turns: int, alpha: bool = False, shown: tuple[int, int] | None = None,
            field: int | None = None, deep: bool = False) -> np.ndarray:
    # Converted by the frame's own colour matrix and range tags (untagged: untagged_matrix). ``alpha``:
    # H x W x 4, the alpha plane last. ``deep``: 16 bits a sample (uint16). ``shown``: the (width, height)
    # non-square pixels are displayed at, before the rotation. ``field``: only that field's lines (0: the
    # even ones), resized to the frame's height.
    fmt = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
    if frame.colorspace == UNSPECIFIED and untagged_matrix(frame.width, frame.height) == "ITU709":
        image = frame.reformat(format=fmt, src_colorspace="ITU709").to_ndarray()
    else:  # tagged (or SD, where FFmpeg's own assumption is the players')
        image = frame.to_ndarray(format=fmt)
    if field is not None:
        shown = shown or (image.shape[1], image.shape[0])
        image = np.ascontiguousarray(image[field::2])
    if shown is not None and (image.shape[1], image.shape[0]) != shown:
        image = resize_rgb(image, shown)  # alpha resized with the colour: straight, so no fringe is made
    if turns:
        image = np.ascontiguousarray(np.rot90(image, turns))
    return image


_SEEK_TRIES = 4  # seeks tried, each earlier than the last, before decoding from the start instead


class _SeekMissed(Exception):
    """A seek did not give the frames a decode from the start gives; decode forward instead."""


def _seek_decode(container, stream, target_pts: int) -> Iterator:
    """Frames starting exactly at ``target_pts`` via a keyframe seek; raises _SeekMissed if it missed.

    The decoder first decodes the file's first frame: FFmpeg learns some of a stream's properties only
    from its first packets and keeps them across the seek's flush. Real case: x264 before build 151
    wrote some 4:4:4 blocks differently from the standard; FFmpeg corrects for it only after reading
    the encoder's version in the first packet's SEI, so an IDR decoded straight after a seek came out
    near-black (cockatoo.mp4, High 4:4:4, keyframe 76)."""
    next(container.decode(stream), None)
    seek_to = target_pts
    for _ in range(_SEEK_TRIES):
        try:
            container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        except av.FFmpegError:
            raise _SeekMissed from None  # not seekable
        frames = container.decode(stream)
        for frame in frames:
            if frame.pts is None:
                raise _SeekMissed
            if frame.pts == target_pts:
                return itertools.chain([frame], frames)
            if frame.pts > target_pts:
                break
        else:
            raise _SeekMissed
        # Landed on a keyframe after the target: MP4's demuxer seeks by decode time, which runs ahead of
        # presentation time when B-frames are reordered. Seek again, earlier by the overshoot.
        seek_to -= frame.pts - target_pts + 1
    raise _SeekMissed  # only a decode from the start is exact


# Whether keyframe seeks are exact, per file identity (see _seek_is_exact); checked once per process.
_SEEK_EXACT: dict[tuple, bool] = {}
_SEEK_EXACT_LOCK = threading.Lock()
_SEEK_CHECK_FRAMES = 3  # frames compared after the seek: the keyframe and the two that predict from it


def _seek_is_exact(path: str, probe: VideoProbe) -> bool:
    """Whether a keyframe seek in ``path`` gives exactly the frames a decode from the start gives.
    Tried once per file (identity: path, inode, size, mtime) and remembered for this process."""
    key = file_identity(path)
    with _SEEK_EXACT_LOCK:
        known = _SEEK_EXACT.get(key)
    if known is None:
        try:
            known = _check_seek(path, probe)
        except (_SeekMissed, *AV_ERRORS):
            known = False
        with _SEEK_EXACT_LOCK:
            _SEEK_EXACT[key] = known
    return known


def _check_seek(path: str, probe: VideoProbe) -> bool:
    """Decode the frames at the file's second keyframe once from the start and once after a seek, and
    compare them pixel for pixel. Costs one GOP of decoding. A file whose only keyframe is its first
    frame passes: every seek lands on it and decodes forward, as a decode from the start does."""
    with opened(path) as (container, stream):
        index = _second_keyframe(container, stream, probe)
    if index is None:
        return True
    if index < 0:
        return False  # the keyframe is not one of the probed frames: cannot compare, so never seek
    last = min(index + _SEEK_CHECK_FRAMES, probe.n_frames)
    with opened(path) as (container, stream):
        expected = [f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(stream), index, last)]
    with opened(path) as (container, stream):
        frames = itertools.islice(_seek_decode(container, stream, probe.pts[index]), last - index)
        got = [f.to_ndarray(format="rgb24") for f in frames]
    return len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))


def _second_keyframe(container, stream, probe: VideoProbe) -> int | None:
    """Frame index of the first keyframe packet after the first one (demuxed, not decoded); None if the
    stream has a single keyframe, -1 if that packet's pts is not a probed frame's."""
    first = None
    for packet in container.demux(stream):
        if not packet.is_keyframe or packet.pts is None:
            continue
        if first is None:
            first = packet.pts
        elif packet.pts > first:
            index = bisect.bisect_left(probe.pts, packet.pts)
            return index if index < len(probe.pts) and probe.pts[index] == packet.pts else -1
    return None


def decode_video(path: str, probe: VideoProbe, start: int, stop: int,
                 alpha: bool = False, stored: bool = False) -> Iterator[tuple[int | None, np.ndarray]]:
    """Yield ``(pts, image)`` for frames ``start`` .. ``stop - 1`` (0-based, presentation
    order). ``image`` is H x W x 3 uint8 RGB (uint16 for deep or HDR video: probe.deep, probe.hdr), rotated
    upright (``alpha`` and a stream with alpha: H x W x 4 RGBA), one field of an interlaced stream
    (probe.field), at the displayed shape (non-square pixels resized to square ones) unless ``stored``.
    ``pts`` is None when the file's timestamps are unusable (see VideoProbe.pts).

    A range that starts past frame 0 is reached by a keyframe seek only where seeking was verified
    exact for this file (_seek_is_exact); every frame after a seek is checked again (pts, size,
    damage) and at the first doubt decoding restarts from the start. The file is closed when the
    generator finishes or is closed, on the thread that does it: close it (contextlib.closing) when
    stopping early rather than leaving it to the garbage collector."""
    try:
        done = start
        if start > 0 and probe.pts is not None and _seek_is_exact(path, probe):
            try:
                with contextlib.closing(_decode_after_seek(path, probe, start, stop, alpha, stored)) as frames:
                    for item in frames:
                        yield item
                        done += 1
                return
            except _SeekMissed:
                pass  # decode forward from the start, from the first frame not yet given
        with opened(path) as (container, stream):
            frames = container.decode(stream)
            for _ in range(done):
                if next(frames, None) is None:
                    break
            yield from _emit(frames, path, probe, done, stop, after_seek=False, alpha=alpha, stored=stored)
    except InputError:
        raise
    except AV_ERRORS as e:
        raise InputError(f"cannot decode video {path}: {reason(e)}") from None


def _decode_after_seek(path: str, probe: VideoProbe, start: int, stop: int, alpha: bool = False,
                       stored: bool = False):
    with opened(path) as (container, stream):
        yield from _emit(_seek_decode(container, stream, probe.pts[start]), path, probe, start, stop,
                         after_seek=True, alpha=alpha, stored=stored)


def _emit(frames, path: str, probe: VideoProbe, start: int, stop: int, after_seek: bool, alpha: bool = False,
          stored: bool = False):
    """Frames ``start`` .. ``stop - 1`` of ``frames`` as (pts, RGB image). Frame indices must mean the same
    frames on every read, or ranges would drift: a frame is checked against the probe (pts) and, after a
    seek, against what a decode from the start would give (size; not flagged damaged by the decoder)."""
    size = probe.coded_size
    shown = display_size(*size, probe.pixel_aspect) if probe.pixel_aspect != 1 and not stored else None
    index = start
    for frame in frames:
        if index >= stop:
            break
        pts = probe.pts[index] if probe.pts is not None else None
        if pts is not None and frame.pts != pts:
            if after_seek:
                raise _SeekMissed
            raise InputError(f"frame {index} of {path} decoded with pts {frame.pts}, but opening the file found {pts}: "
                             "its timestamps do not match its frames")
        if after_seek and ((frame.width, frame.height) != size or frame.is_corrupt):
            raise _SeekMissed
        yield pts, _to_rgb(frame, probe.quarter_turns, alpha and probe.has_alpha, shown, probe.field,
                           deep=probe.deep or probe.hdr is not None)
        index += 1
