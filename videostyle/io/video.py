"""Video files: probing, decoding to RGB arrays and encoding from them, with PyAV (FFmpeg).

Timestamps stay integers in the stream's fractional time base from input to output, so
variable frame rates and NTSC rates (30000/1001) survive a round trip exactly.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import dataclasses
import io
import itertools
import math
import os
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

import av
import numpy as np

from ..errors import ConfigError, InputError, OutputError
from .limits import check_pixels
from .resize import display_size, resize_rgb
from . import locks

# Output container for each video file extension we write.
VIDEO_FORMATS = {
    ".mp4": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".gif": "gif",
}

# codec -> (pixel format, whether the codec takes a "crf" option)
_CODECS = {
    "libx264": ("yuv420p", True),
    "libx265": ("yuv420p", True),
    "libvpx-vp9": ("yuv420p", True),
    "mpeg4": ("yuv420p", False),
    "ffv1": ("bgr0", False),  # lossless RGB
    "prores_ks": ("yuv422p10le", False),
    "gif": ("rgb8", False),  # fixed 3-3-2 bit palette: a preview format, not a master
}
_DEFAULT_CODEC = {"webm": "libvpx-vp9", "gif": "gif"}  # everything else: libx264
# Codecs that keep more than 8 bits, and the pixel format they get from 16-bit frames (depth=16).
_DEEP_CODECS = {"ffv1": "gbrp16le", "prores_ks": "yuv422p10le"}
# Codecs that hold alpha, and their pixel format at depth 8 / 16. ProRes 4444 stores alpha losslessly
# (16 bits), so 8- and 16-bit alpha come back exactly, as with FFV1.
_ALPHA_CODECS = {"prores_ks": ("yuva444p10le", "yuva444p10le"), "ffv1": ("bgra", "gbrap16le")}


def holds_alpha(ext: str, codec: str | None) -> bool:
    """Whether a video named ``*ext`` with ``codec`` (None: the container's default) keeps alpha."""
    fmt = VIDEO_FORMATS.get(ext.lower())
    return fmt is not None and (codec or _DEFAULT_CODEC.get(fmt, "libx264")) in _ALPHA_CODECS
DEFAULT_CRF = 18

# Containers that store frame timestamps; AVI only has a frame index (constant rate).
_KEEPS_TIMESTAMPS = {"mp4", "mov", "matroska", "webm", "gif"}

# FFmpeg's AVColorSpace / primaries / transfer values, and AVColorRange for limited range.
# YUV output is BT.709 and tagged so; MPEG-4 part 2 has no place for the tag (and AVI none
# either): its frames are read as untagged video is (untagged_matrix).
_BT709 = 1
_UNSPECIFIED = 2
_SMPTE170M = 6  # BT.601 525-line
_LIMITED_RANGE = 1


def untagged_matrix(width: int, height: int) -> str:
    """The YUV matrix of a video whose frames do not say theirs: BT.709 for HD (1280 wide or more, or
    taller than 576 lines), BT.601 for SD, as players show them (mpv, VLC, browsers, QuickTime).
    FFmpeg's converter assumes BT.601 at any size: an untagged HD camera file read that way has its
    greens pushed up by some 30 levels (0, 200, 0 read as 15, 234, 5), and the stylized frames, tagged
    BT.709, would not look like the input in the user's player."""
    return "ITU709" if width >= 1280 or height > 576 else "ITU601"


_AV_ERRORS = (av.FFmpegError, OSError)


def _reason(e: BaseException) -> str:
    """One-line reason from a PyAV/OS error."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class VideoProbe:
    """What probing (probe_video) learned about the first video stream of a file."""

    width: int  # displayed size, i.e. after rotation
    height: int
    n_frames: int
    time_base: Fraction
    rate: Fraction  # average frames per second
    pts: array.array | None  # pts of every frame; None if some are missing or not increasing
    start_time: Fraction  # seconds, time of frame 0
    last_duration: Fraction  # seconds, duration of the last frame
    quarter_turns: int  # np.rot90 k that makes frames upright (display matrix)
    has_audio: bool
    # The frame count the container's index claims, where the file ends before its last frame (a copy
    # cut short): more than n_frames. None for a whole file, or a container that states no count.
    declared_frames: int | None = None
    has_alpha: bool = False  # the stream's pixel format carries alpha (decoding drops it)
    # Start timecode "HH:MM:SS:FF" (";" before FF: drop frame), from the video stream's metadata, the
    # container's, or a timecode (tmcd) data stream's; None if there is none or it is not valid at ``rate``.
    timecode: str | None = None
    # The stored pixel's width over its height (the stream's sample aspect ratio: 4/3 for HDV 1440×1080
    # shown 16:9, 2 for a 2× anamorphic squeeze). Frames are decoded at the displayed shape (width and
    # height above), square pixels, so that strokes are painted as the picture is seen.
    pixel_aspect: Fraction = Fraction(1)
    coded_size: tuple[int, int] = (0, 0)  # (width, height) of a frame as the decoder gives it
    # Interlaced video: the field every frame is painted from (0 top, 1 bottom: the first in time), its
    # lines resized to the whole frame; None for progressive. Two fields of one frame are two moments:
    # woven together, a moving edge is combed, and the comb teeth would be painted and followed by the flow.
    field: int | None = None
    # HDR video: "pq" or "hlg" (its transfer tag); its frames are decoded at 16 bits (the curves are steep:
    # 8 bits would band) and brought to SDR by the source (colour.hdr_to_display). None: SDR.
    hdr: str | None = None
    # More than 8 bits a sample (10-bit ProRes, DNxHR HQX, HEVC Main10, 16-bit FFV1): decoded at 16 bits,
    # as a deep PNG or TIFF is read, so the content target keeps the file's gradations.
    deep: bool = False

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) of the file's own pixel grid, upright."""
        w, h = self.coded_size
        return (h, w) if self.quarter_turns % 2 else (w, h)

    def frame_time(self, index: int) -> Fraction:
        """Start time of frame ``index`` in seconds (index == n_frames gives the end of the video)."""
        if self.pts is None:
            return self.start_time + Fraction(index) / self.rate
        if index < self.n_frames:
            return self.pts[index] * self.time_base
        return self.pts[-1] * self.time_base + self.last_duration


# FFmpeg renders plain text files as "video" (ANSI art); that is never what a user meant.
_TEXT_FORMATS = {"tty"}
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}


def _video_stream(container, path: str):
    streams = [
        s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if container.format.name in _TEXT_FORMATS or (streams and streams[0].codec_context.name in _TEXT_CODECS):
        raise InputError(f"not a video or image file: {path}")
    if not streams:
        raise InputError(f"no video stream in {path}")
    return streams[0]


# A sample aspect ratio outside this range is taken for a broken tag, not a picture (2× anamorphic is the
# widest squeeze in use; DV's narrowest pixel is 10:11).
_PIXEL_ASPECTS = (Fraction(1, 4), Fraction(4))


def pixel_aspect_of(stream) -> Fraction:
    """The stream's sample aspect ratio (the container's, else the codec's); 1 when untagged or implausible."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        try:
            ratio = Fraction(value) if value else None
        except (TypeError, ValueError, ZeroDivisionError):
            ratio = None
        if ratio is not None and ratio > 0:
            return ratio if _PIXEL_ASPECTS[0] <= ratio <= _PIXEL_ASPECTS[1] else Fraction(1)
    return Fraction(1)


# FFmpeg's AVColorTransferCharacteristic of HDR video: SMPTE ST 2084 (PQ) and ARIB STD-B67 (HLG).
_HDR_TRANSFERS = {16: "pq", 18: "hlg"}

# FFmpeg's AVFieldOrder: the stream's fields as its codec parameters state them.
_FIELD_ORDERS = {2: "tt", 3: "bb", 4: "tb", 5: "bt"}


def _field_order(stream) -> str | None:
    """"tt", "bb", "tb" or "bt" (the first letter: the field shown first) for an interlaced stream;
    None for progressive or unknown."""
    order = getattr(stream.codec_context, "field_order", None)
    if isinstance(order, int):
        return _FIELD_ORDERS.get(order)
    order = str(order or "").lower()
    return order if order in _FIELD_ORDERS.values() else None


def _kept_field(order: str | None, flagged: bool) -> int | None:
    """The field each frame of an interlaced stream is painted from: its first in time, 0 (top) or 1
    (bottom); None for a progressive stream. A stream whose frames are flagged interlaced but whose
    order is not stated is taken as top field first (HD's order; DV's decoder states bottom first)."""
    if order is None and not flagged:
        return None
    return 1 if order in ("bb", "bt") else 0


def _quarter_turns(degrees: float) -> int:
    # The display matrix angle is counter-clockwise, like np.rot90's k.
    return int(round(degrees / 90.0)) % 4


def probe_video(path: str) -> VideoProbe:
    """Count the frames of ``path``'s video and record their timestamps, decoding as little as possible.

    The packets are read without decoding where they can be trusted: each has its own pts, none is flagged
    discardable or corrupt, and the first decoded frame is the first one they promise. Otherwise (fields
    without pts, an edit list that drops frames, ...) the whole video is decoded once. A container that
    still lies (a packet that gives no frame) is caught while decoding: each frame's pts is checked and
    the count at the end, with a one-line error. Remembered per file (path, inode, size, mtime) for this
    process, so reopening a file costs nothing."""
    try:
        key = _file_identity(path)
        with _PROBES_LOCK:
            known = _PROBES.get(key)
        if known is not None:
            return known
        with _opened(path) as (container, stream):
            # The header's size, before any frame is decoded: a file can claim any size (see limits).
            check_pixels(stream.codec_context.width, stream.codec_context.height, f"the video {path}")
            info = _stream_facts(stream, container)
            packets, intact = _scan_packets(container, stream)
            declared = stream.frames or 0
        scan = _scan_first(path, packets) if packets is not None else None
        if scan is None:
            with _opened(path) as (container, stream):
                scan = _scan_frames(container, stream)
    except InputError:
        raise
    except _AV_ERRORS as e:
        raise InputError(f"not a readable video: {path} ({_reason(e)})") from None
    if scan.n == 0:
        raise InputError(f"no decodable video frames in {path}")
    probe = _make_probe(scan, *info)
    if probe.pixel_aspect != 1:  # frames are read at the shape shown: up to 4× the stored pixels
        check_pixels(probe.width, probe.height, f"the video {path} as shown")
    if declared > max(intact, probe.n_frames):
        # Every frame the index lists has a packet in a whole file (dropped frames of an edit list are
        # flagged, not missing), so fewer intact packets than listed frames means the data ends early.
        probe = dataclasses.replace(probe, declared_frames=declared)
    with _PROBES_LOCK:
        if len(_PROBES) >= _PROBES_KEPT:
            _PROBES.pop(next(iter(_PROBES)))
        _PROBES[key] = probe
    return probe


_PROBES: dict[tuple, VideoProbe] = {}
_PROBES_LOCK = threading.Lock()
_PROBES_KEPT = 64


@dataclass(frozen=True)
class _Scan:
    """What reading a video stream learned: frame count, pts (increasing) or None, the last frame's
    duration in ticks (0: unknown), and the first frame's size and rotation as decoded."""

    n: int
    pts: array.array | None
    last_ticks: int
    width: int
    height: int
    turns: int
    interlaced: bool = False  # the first frame is flagged interlaced
    trc: int = 0  # the first frame's transfer characteristic (AVColorTransferCharacteristic)


@dataclass(frozen=True)
class _Packets:
    pts: array.array  # sorted, unique
    last_ticks: int  # duration of the packet with the highest pts (0: unknown)


def _stream_facts(stream, container) -> tuple:
    time_base = stream.time_base or Fraction(1, 90000)
    rate = stream.average_rate or stream.guessed_rate
    return (Fraction(time_base), rate, stream.start_time, len(container.streams.audio) > 0,
            _has_alpha(stream.codec_context.pix_fmt), _timecode_tags(stream, container), pixel_aspect_of(stream),
            _field_order(stream), int(stream.codec_context.color_trc or 0), _is_deep(stream.codec_context.pix_fmt))


def _timecode_tags(stream, container) -> tuple[str, ...]:
    """The "timecode" tags of the video stream, the container and the data (tmcd) streams, in that order.
    FFmpeg's MOV/MP4 demuxer puts a tmcd track's start on both the video stream and the tmcd stream;
    Matroska spells the tag TIMECODE; AVI keeps it in the container (ISMP)."""
    return tuple(str(value).strip()
                 for metadata in (stream.metadata, container.metadata, *(s.metadata for s in container.streams.data))
                 for key, value in metadata.items() if key.lower() == "timecode" and value)


def _is_deep(pix_fmt: str | None) -> bool:
    """Whether FFmpeg's pixel format ``pix_fmt`` stores more than 8 bits a sample (yuv422p10le, …)."""
    try:
        return pix_fmt is not None and max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    except (ValueError, *_AV_ERRORS):
        return False


def _has_alpha(pix_fmt: str | None) -> bool:
    """Whether FFmpeg's pixel format ``pix_fmt`` (yuva420p, rgba, gbrap, ya8, …) has an alpha plane."""
    try:
        return pix_fmt is not None and any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, *_AV_ERRORS):
        return False


def _scan_packets(container, stream) -> tuple[_Packets | None, int]:
    """Presentation pts of every packet (one frame each), or None when the packets cannot say it; and the
    number of intact packets (not empty, not cut short: a truncated file's last packet is flagged corrupt).
    Every packet is read, even once the pts are known to be unusable, so the count is whole."""
    pts = array.array("q")
    top, last_ticks, intact, usable = None, 0, 0, True
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        intact += not packet.is_corrupt
        if packet.pts is None or packet.is_discard or packet.is_corrupt:
            usable = False
        if not usable:
            continue
        pts.append(packet.pts)
        if top is None or packet.pts > top:
            top, last_ticks = packet.pts, packet.duration or 0
    ordered = array.array("q", sorted(pts))
    if not usable or not ordered or any(a == b for a, b in zip(ordered, ordered[1:])):
        return None, intact
    return _Packets(ordered, last_ticks), intact


def _scan_first(path: str, packets: _Packets) -> _Scan | None:
    """The packets' frames, if the first decoded frame is the one they promise (None otherwise). The rest
    of the promise is checked while decoding: every frame's pts (_emit) and the count (media)."""
    with _opened(path) as (container, stream):
        first = next(container.decode(stream), None)
    if first is None or first.pts != packets.pts[0]:
        return None
    turns = _quarter_turns(first.rotation)
    return _Scan(len(packets.pts), packets.pts, packets.last_ticks, first.width, first.height, turns,
                 bool(first.interlaced_frame), int(first.color_trc or 0))


def _scan_frames(container, stream) -> _Scan:
    """Decode the whole stream (images are discarded)."""
    pts = array.array("q")
    increasing = True
    n = 0
    first = last = None
    for frame in container.decode(stream):
        if first is None:
            first = frame
        if frame.pts is None or (pts and frame.pts <= pts[-1]):
            increasing = False
        elif increasing:
            pts.append(frame.pts)
        last = frame
        n += 1
    if n == 0:
        return _Scan(0, None, 0, 0, 0, 0)
    return _Scan(n, pts if increasing else None, last.duration or 0, first.width, first.height,
                 _quarter_turns(first.rotation), bool(first.interlaced_frame), int(first.color_trc or 0))


def _make_probe(scan: _Scan, time_base: Fraction, rate, stream_start, has_audio: bool, has_alpha: bool,
                timecodes: tuple[str, ...] = (), pixel_aspect: Fraction = Fraction(1),
                field_order: str | None = None, stream_trc: int = 0, deep: bool = False) -> VideoProbe:
    n, pts_list = scan.n, scan.pts
    if not rate or rate <= 0:
        if pts_list is not None and n > 1 and pts_list[-1] > pts_list[0]:
            rate = Fraction(n - 1) / ((pts_list[-1] - pts_list[0]) * time_base)
        else:
            rate = Fraction(25)
    rate = Fraction(rate)
    if scan.last_ticks > 0:
        last_duration = scan.last_ticks * time_base
    elif pts_list is not None and n > 1:
        last_duration = (pts_list[-1] - pts_list[-2]) * time_base
    else:
        last_duration = 1 / rate
    if pts_list is not None:
        start_time = pts_list[0] * time_base
    else:
        start_time = (stream_start or 0) * time_base
    width, height = display_size(scan.width, scan.height, pixel_aspect)
    width, height = (height, width) if scan.turns % 2 else (width, height)
    return VideoProbe(
        width=width,
        height=height,
        n_frames=n,
        time_base=time_base,
        rate=rate,
        pts=pts_list,
        start_time=start_time,
        last_duration=last_duration,
        quarter_turns=scan.turns,
        has_audio=has_audio,
        has_alpha=has_alpha,
        timecode=_first_valid_timecode(timecodes, rate),
        pixel_aspect=pixel_aspect,
        coded_size=(scan.width, scan.height),
        field=_kept_field(field_order, scan.interlaced),
        hdr=_HDR_TRANSFERS.get(stream_trc) or _HDR_TRANSFERS.get(scan.trc),
        deep=deep,
    )


def _first_valid_timecode(tags: tuple[str, ...], rate: Fraction) -> str | None:
    """The first of ``tags`` that is a timecode at ``rate``, canonical; None if none is. A tag nobody can use
    is dropped here rather than failing the writer it would be handed to."""
    for tag in tags:
        try:
            return offset_timecode(tag, rate, 0)
        except ValueError:
            continue
    return None


def _to_rgb(frame, turns: int, alpha: bool = False, shown: tuple[int, int] | None = None,
            field: int | None = None, deep: bool = False) -> np.ndarray:
    # Converted by the frame's own colour matrix and range tags (untagged: untagged_matrix). ``alpha``:
    # H x W x 4, the alpha plane last. ``deep``: 16 bits a sample (uint16). ``shown``: the (width, height)
    # non-square pixels are displayed at, before the rotation. ``field``: only that field's lines (0: the
    # even ones), resized to the frame's height.
    fmt = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
    if frame.colorspace == _UNSPECIFIED and untagged_matrix(frame.width, frame.height) == "ITU709":
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


@contextlib.contextmanager
def _opened(path: str):
    """(container, video stream) of ``path``, closed on leaving the block, on the thread that leaves it."""
    with av.open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        yield container, stream


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


def _file_identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _seek_is_exact(path: str, probe: VideoProbe) -> bool:
    """Whether a keyframe seek in ``path`` gives exactly the frames a decode from the start gives.
    Tried once per file (identity: path, inode, size, mtime) and remembered for this process."""
    key = _file_identity(path)
    with _SEEK_EXACT_LOCK:
        known = _SEEK_EXACT.get(key)
    if known is None:
        try:
            known = _check_seek(path, probe)
        except (_SeekMissed, *_AV_ERRORS):
            known = False
        with _SEEK_EXACT_LOCK:
            _SEEK_EXACT[key] = known
    return known


def _check_seek(path: str, probe: VideoProbe) -> bool:
    """Decode the frames at the file's second keyframe once from the start and once after a seek, and
    compare them pixel for pixel. Costs one GOP of decoding. A file whose only keyframe is its first
    frame passes: every seek lands on it and decodes forward, as a decode from the start does."""
    with _opened(path) as (container, stream):
        index = _second_keyframe(container, stream, probe)
    if index is None:
        return True
    if index < 0:
        return False  # the keyframe is not one of the probed frames: cannot compare, so never seek
    last = min(index + _SEEK_CHECK_FRAMES, probe.n_frames)
    with _opened(path) as (container, stream):
        expected = [f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(stream), index, last)]
    with _opened(path) as (container, stream):
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
        with _opened(path) as (container, stream):
            frames = container.decode(stream)
            for _ in range(done):
                if next(frames, None) is None:
                    break
            yield from _emit(frames, path, probe, done, stop, after_seek=False, alpha=alpha, stored=stored)
    except InputError:
        raise
    except _AV_ERRORS as e:
        raise InputError(f"cannot decode video {path}: {_reason(e)}") from None


def _decode_after_seek(path: str, probe: VideoProbe, start: int, stop: int, alpha: bool = False,
                       stored: bool = False):
    with _opened(path) as (container, stream):
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


# --------------------------------------------------------------------------- timecode

# HH:MM:SS then the frame field; FFmpeg treats any separator but ":" before the frames as drop frame.
_TIMECODE = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


@dataclass(frozen=True)
class _Timecode:
    fps: int  # nominal frames per second: 30 for 30000/1001
    drop: int  # frame numbers skipped each minute but every tenth (0: non-drop frame)

    @property
    def per_day(self) -> int:
        return 144 * (600 * self.fps - 9 * self.drop)  # 144 ten-minute blocks, each short 9 minutes' drops

    def to_frames(self, h: int, m: int, s: int, f: int) -> int:
        minutes = 60 * h + m
        return (60 * minutes + s) * self.fps + f - self.drop * (minutes - minutes // 10)

    def to_label(self, n: int) -> str:
        if self.drop:
            # Put the skipped numbers back (FFmpeg's av_timecode_adjust_ntsc_framenum2): each ten-minute
            # block loses ``drop`` numbers in each of its last nine minutes.
            per_10 = 600 * self.fps - 9 * self.drop
            tens, rest = divmod(n, per_10)
            n += 9 * self.drop * tens + self.drop * (max(rest - self.drop, 0) // (per_10 // 10))
        s, f = divmod(n, self.fps)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"{h:02d}:{m:02d}:{s:02d}{';' if self.drop else ':'}{f:02d}"


def _timecode_at(timecode: str, rate: Fraction) -> tuple[_Timecode, int]:
    """(counting rules, frame number since 00:00:00:00) of ``timecode`` at ``rate``; ValueError if it is not
    a timecode there."""
    match = _TIMECODE.fullmatch(timecode.strip()) if isinstance(timecode, str) else None
    if match is None:
        raise ValueError(f"not a timecode (HH:MM:SS:FF, or HH:MM:SS;FF for drop frame): {timecode!r}")
    rate = Fraction(rate)
    if rate <= 0:
        raise ValueError(f"timecode needs a positive frame rate, got {rate}")
    fps = (rate.numerator + rate.denominator // 2) // rate.denominator  # rounded half up, as FFmpeg does
    drop = match[4] != ":"
    if drop and fps % 30:
        raise ValueError(f"drop-frame timecode {timecode} needs 29.97 fps or a multiple of it, not {float(rate):g}")
    counting = _Timecode(fps, fps // 15 if drop else 0)  # 2 numbers a minute at 29.97, 4 at 59.94
    h, m, s, f = (int(match[i]) for i in (1, 2, 3, 5))
    if h > 23 or m > 59 or s > 59 or f >= fps:
        raise ValueError(f"timecode {timecode} is out of range at {float(rate):g} fps")
    if counting.drop and s == 0 and m % 10 and f < counting.drop:
        raise ValueError(f"drop-frame timecode {timecode} does not exist: frames 0-{counting.drop - 1} "
                         "are skipped at every minute but every tenth")
    return counting, counting.to_frames(h, m, s, f)


def offset_timecode(timecode: str, rate: Fraction, frames: int) -> str:
    """The timecode ``frames`` frames after ``timecode`` (earlier if negative) at ``rate`` frames per second,
    wrapping around 24 hours: a render that starts at frame 100 of a clip starts at the clip's timecode
    + 100 frames.

    Frames are counted at the nominal rate (``rate`` rounded: 30 for 30000/1001). A drop-frame timecode
    (";", "." or "," before the frames) is counted as drop frame, correctly: at 29.97 fps frame numbers 0
    and 1 are skipped at each minute except every tenth (0-3 at 59.94), and the result is written with ";".
    Drop frame at a rate that is not a multiple of 29.97 raises ValueError, as does a malformed or
    out-of-range timecode (including a drop-frame label that is skipped, e.g. 00:01:00;00)."""
    counting, start = _timecode_at(timecode, rate)
    return counting.to_label((start + int(frames)) % counting.per_day)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class AudioSpan:
    """The audio to carry into an output: every audio stream of the file from ``start`` to ``end``
    (seconds on that file's clock), placed so that ``start`` becomes output time 0."""

    path: str
    start: Fraction
    end: Fraction


def _copy_accepted(fmt: str, path: str, index: int = 0) -> bool:
    """Whether a ``fmt`` container takes audio stream ``index`` of ``path`` unchanged. Tried
    with one packet on a throwaway in-memory file: some refusals (FLAC in MOV, PCM with an
    unordered channel layout in MP4) only show in the header or the trailer."""
    try:
        with av.open(path) as source:
            stream = source.streams.audio[index]
            trial = av.open(io.BytesIO(), "w", format=fmt)
            try:
                copy = trial.add_stream_from_template(stream, opaque=True)
                for packet in source.demux(stream):
                    if packet.dts is not None:
                        packet.stream = copy
                        trial.mux(packet)
                        break
            finally:
                trial.close()
    except (ValueError, IndexError, *_AV_ERRORS):
        return False
    return True


# FFmpeg's default layout names by channel count, for re-encoding: a source may carry an
# unordered layout ("2 channels") that encoders and MP4 reject.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


class _AudioTracks:
    """Every audio stream of the source, each fed by an _AudioTrack in the source's order: a camera or
    broadcast file carries several (four or eight mono tracks, a mix and its stems), and an editor
    needs them all. GIF output gets none."""

    def __init__(self, out, fmt: str, span: AudioSpan):
        self.tracks: list[_AudioTrack] = []
        if fmt == "gif":
            return
        try:
            with av.open(span.path) as c:
                count = len(c.streams.audio)
        except _AV_ERRORS as e:
            raise InputError(f"cannot read audio of {span.path}: {_reason(e)}") from None
        try:
            for index in range(count):
                self.tracks.append(_AudioTrack(out, fmt, span, index))
        except BaseException:
            self.close()
            raise

    @property
    def mode(self) -> str:
        """"copy", "aac", "opus" or "none"; several tracks: "3 tracks: copy" (or each one's, in order)."""
        modes = [t.mode for t in self.tracks if t.mode != "none"]
        if len(modes) <= 1:
            return modes[0] if modes else "none"
        return f"{len(modes)} tracks: " + (modes[0] if len(set(modes)) == 1 else ", ".join(modes))

    def pump(self, until: Fraction | None) -> None:
        for track in self.tracks:
            track.pump(until)

    def close(self) -> None:
        for track in self.tracks:
            track.close()


class _AudioTrack:
    """Feeds one audio stream into an output container, copied when the container accepts the
    codec, otherwise re-encoded (AAC, or Opus for WebM)."""

    def __init__(self, out, fmt: str, span: AudioSpan, index: int = 0):
        self.mode = "none"
        self._out = out
        self._span = span
        self._done = False
        self._partial_ok = fmt != "avi"
        try:
            self._in = av.open(span.path)
            source = self._in.streams.audio[index]
        except (*_AV_ERRORS, IndexError) as e:
            raise InputError(f"cannot read audio of {span.path}: {_reason(e)}") from None
        if _copy_accepted(fmt, span.path, index):
            self.stream = out.add_stream_from_template(source, opaque=True)
            self.mode = "copy"
            self._items = self._in.demux(source)
        else:
            codec = "libopus" if fmt == "webm" else "aac"
            rate = 48000 if codec == "libopus" else source.rate
            self.stream = out.add_stream(codec, rate=rate)
            channels = source.layout.nb_channels
            if codec == "libopus" or channels > 8:
                channels = min(channels, 2)  # multichannel Opus needs a mapping family we skip
            self.stream.codec_context.layout = _DEFAULT_LAYOUTS[channels]
            self.stream.codec_context.bit_rate = 128000 if codec == "libopus" else 192000
            self.mode = "opus" if codec == "libopus" else "aac"
            self._items = self._in.decode(source)

    def pump(self, until: Fraction | None) -> None:
        """Mux audio up to output time ``until`` seconds (None: to the end of the span)."""
        if self.mode == "none" or self._done:
            return
        feed = self._copy if self.mode == "copy" else self._encode
        for item in self._items:
            t = feed(item)
            if t is False:  # past the end of the span
                break
            if until is not None and t is not None and t >= until:
                return
        self._done = True
        if self.mode != "copy":
            for packet in self.stream.encode(None):
                self._out.mux(packet)

    def _copy(self, packet):
        # Packets overlapping the span are kept whole, so the first one may start slightly
        # before output time 0; MP4/MOV keep that with an edit list, Matroska shifts all
        # streams alike. AVI would shift video by a whole frame, so there it is dropped.
        if packet.dts is None:  # demuxer flush packet
            return None
        tb = packet.time_base
        t0 = (packet.pts if packet.pts is not None else packet.dts) * tb
        t1 = t0 + (packet.duration or 0) * tb
        if t0 >= self._span.end:
            return False
        ends_before = t1 <= self._span.start if packet.duration else t0 < self._span.start
        if ends_before or (t0 < self._span.start and not self._partial_ok):
            return None
        shift = round(self._span.start / tb)
        if packet.pts is not None:
            packet.pts -= shift
        packet.dts -= shift
        packet.stream = self.stream
        self._out.mux(packet)
        return t0 - self._span.start

    def _encode(self, frame):
        # Decoded audio is trimmed to the span sample-exactly, then timestamped in samples.
        rate = frame.sample_rate
        t0 = frame.pts * frame.time_base if frame.pts is not None else None
        if t0 is None:
            return None
        if t0 >= self._span.end:
            return False
        n = frame.samples
        first = max(0, math.ceil((self._span.start - t0) * rate))
        last = min(n, math.floor((self._span.end - t0) * rate))
        if last <= first:
            return None
        if first or last < n:
            data = frame.to_ndarray()
            channels = frame.layout.nb_channels
            if frame.format.is_planar:
                data = data[:, first:last]
            else:
                data = data[:, first * channels : last * channels]
            trimmed = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=frame.format.name, layout=frame.layout.name)
            trimmed.sample_rate = rate
            frame = trimmed
        frame.pts = round((t0 - self._span.start) * rate) + first
        frame.time_base = Fraction(1, rate)
        for packet in self.stream.encode(frame):
            self._out.mux(packet)
        return t0 - self._span.start

    def close(self) -> None:
        if getattr(self, "_in", None) is not None:
            self._in.close()
            self._in = None


# x265 (the build PyAV 18 bundles) corrupts the heap when a frame is 33–48 pixels wide, where its
# lookahead's half-size frame is 3 of its 8-pixel blocks wide (measured: widths 34, 36, 40, 46 and 48
# crashed a loop of 4-frame encodes within 40 files; 16, 32, 50–64 and 80–208 did not in 60). Without the
# lookahead and B-frames, 48 and 40 ran 150 files clean under MALLOC_CHECK_=3. So frames up to 48 pixels
# wide are encoded without them (such frames are thumbnails: the compression lost does not matter).
X265_NO_LOOKAHEAD_UP_TO_WIDTH = 48


class VideoWriter:
    """Encodes RGB frames into a hidden temporary file next to ``path``; commit() renames it
    into place, abort() deletes it. Nothing ever appears under ``path`` unfinished.

    Odd widths/heights: chroma-subsampled pixel formats (yuv420p, yuv422p10le) need even
    sizes, so frames are PADDED by one pixel on the right/bottom, replicating the edge
    pixels (the output is then 1 px larger; scaling would blur, cropping would lose a row).

    ``depth=16`` takes uint16 frames and keeps their precision: FFV1 as 16-bit planar RGB
    (lossless), ProRes 422 HQ at its 10 bits. Other codecs are 8-bit only (ConfigError).

    ``timecode`` ("HH:MM:SS:FF", ";" before FF for drop frame): the start timecode of the output, checked
    against ``rate`` (ConfigError if it is not a timecode there; see offset_timecode). Kept by .mov and
    .mp4 (a tmcd timecode track), .mkv and .webm (the video track's TIMECODE tag) and .avi (the file's ISMP
    tag); .gif has no place for it and it is silently dropped. probe_video reads it back from all four.

    ``pixel_aspect``: the frames' stored pixel width over height, tagged as the stream's sample aspect
    ratio (frames written on an anamorphic source's own grid); 1 writes square pixels.
    """

    def __init__(
        self,
        path: str,
        *,
        rate: Fraction,
        time_base: Fraction | None = None,
        codec: str | None = None,
        crf: int | None = None,
        audio: AudioSpan | None = None,
        depth: int = 8,
        timecode: str | None = None,
        alpha: bool = False,
        pixel_aspect: Fraction = Fraction(1),
    ):
        self.path = path
        self.depth = depth
        self._pixel_aspect = Fraction(pixel_aspect)
        directory, name = os.path.split(os.path.abspath(path))
        stem, ext = os.path.splitext(name)
        self._fmt = VIDEO_FORMATS.get(ext.lower())
        if self._fmt is None:
            known = " ".join(sorted(VIDEO_FORMATS))
            raise OutputError(f"unknown video extension {ext!r} for {path} (use one of: {known}, or a folder)")
        self.codec = codec or _DEFAULT_CODEC.get(self._fmt, "libx264")
        try:
            encoder = av.Codec(self.codec, "w")
        except (*_AV_ERRORS, ValueError):
            raise ConfigError(f"unknown video encoder {self.codec!r}") from None
        if encoder.type != "video":
            raise ConfigError(f"{self.codec!r} is not a video encoder")
        self._pix_fmt, takes_crf = _CODECS.get(self.codec, (None, False))
        if depth == 16:
            if self.codec not in _DEEP_CODECS:
                raise ConfigError(f"{self.codec} video is 8-bit: for --depth 16 use --codec ffv1 (.mkv, lossless) "
                                  "or prores_ks (.mov), or write frames")
            self._pix_fmt = _DEEP_CODECS[self.codec]
        # alpha: frames come with an alpha plane (write(alpha=...)), kept by ProRes 4444 and FFV1 only.
        self.alpha = bool(alpha) and self.codec in _ALPHA_CODECS
        if self.alpha:
            self._pix_fmt = _ALPHA_CODECS[self.codec][depth == 16]
        if self._pix_fmt is None:
            supported = [f.name for f in (encoder.video_formats or ())]
            self._pix_fmt = "yuv420p" if not supported or "yuv420p" in supported else supported[0]
        pix = av.VideoFormat(self._pix_fmt)
        self._even = (pix.chroma_width(2) < 2, pix.chroma_height(2) < 2)
        self._yuv = not pix.is_rgb and not pix.has_palette
        self._untagged = self.codec == "mpeg4"  # its frames cannot say their matrix: read as untagged

        self._rate = Fraction(rate)
        self._time_base = Fraction(time_base) if time_base is not None else None
        self._timecode = _writer_timecode(timecode, self._rate)
        self._options = {}
        if takes_crf:
            top = 63 if self.codec == "libvpx-vp9" else 51
            crf = DEFAULT_CRF if crf is None else crf
            if not isinstance(crf, int) or isinstance(crf, bool) or not 0 <= crf <= top:
                raise ConfigError(f"--crf for {self.codec} must be an integer from 0 to {top}, got {crf!r}")
            self._options["crf"] = str(crf)
        if self.codec == "libvpx-vp9":
            # b=0: constant quality rather than a bitrate cap; cpu-used 4 / row-mt: libvpx's
            # defaults encode HD at about a frame per second.
            self._options.update({"b": "0", "cpu-used": "4", "row-mt": "1"})
        if self.codec == "libx265":
            self._options["x265-params"] = "log-level=error"
        if self.alpha and self.codec == "prores_ks":
            self._options.update({"profile": "4444", "alpha_bits": "16"})
        if self._fmt == "avi":
            # AVI has no timestamps: B-frames' negative decode times would delay video a frame.
            self._options["bf"] = "0"

        _remove_dead_partials(directory, stem, ext)
        self._tmp, self._lock = _claim_partial(directory, stem, ext)
        container_options = {"movflags": "+faststart"} if self._fmt in ("mp4", "mov") else {}
        try:
            self._out = av.open(self._tmp, "w", format=self._fmt, container_options=container_options)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.remove(self._tmp)
            self._release()
            if isinstance(e, _AV_ERRORS):
                raise OutputError(f"cannot write video {path}: {_reason(e)}") from None
            raise
        self._audio = None
        self._count = 0
        try:
            try:
                self._stream = self._out.add_stream(self.codec, rate=self._rate)
            except ValueError:
                raise ConfigError(f"{ext} files cannot hold {self.codec} video ({path})") from None
            if self.codec == "mpeg4":
                # mpeg4 ignores crf; a fixed quantiser keeps quality up instead of its 200 kb/s default.
                self._stream.codec_context.qscale = True
                self._stream.codec_context.global_quality = 3 * 118  # q 3 in FF_QP2LAMBDA units
            self._tag_timecode()
            if audio is not None:
                self._audio = _AudioTracks(self._out, self._fmt, audio)
        except BaseException:
            self.abort()
            raise

    def _tag_timecode(self) -> None:
        # Before the header is written (at the first mux): MOV/MP4 build their tmcd track from it then.
        if self._timecode is None or self._fmt == "gif":
            return
        if self._fmt == "avi":
            self._out.metadata["timecode"] = self._timecode  # AVI drops stream tags; the file's ISMP keeps it
        else:
            self._stream.metadata["timecode"] = self._timecode

    @property
    def audio_mode(self) -> str:
        return self._audio.mode if self._audio is not None else "none"

    @property
    def count(self) -> int:
        return self._count

    def _start(self, width: int, height: int, pts: int | None) -> None:
        self._size = (width, height)
        self._pad = (width % 2 if self._even[0] else 0, height % 2 if self._even[1] else 0)
        self._bt601 = self._untagged and untagged_matrix(width + self._pad[0], height + self._pad[1]) == "ITU601"
        tb = self._time_base
        self._keep_pts = (
            pts is not None
            and tb is not None
            and self._fmt in _KEEPS_TIMESTAMPS
            and not (self.codec == "mpeg4" and tb.denominator > 65535)  # MPEG-4 part 2 limit
        )
        if not self._keep_pts:
            tb = 1 / self._rate
        self._tb = tb
        self._pts0 = pts if self._keep_pts else 0
        self._last_pts = None
        s = self._stream
        s.width = width + self._pad[0]
        s.height = height + self._pad[1]
        s.pix_fmt = self._pix_fmt
        s.time_base = tb
        s.codec_context.time_base = tb
        options = dict(self._options)
        if self.codec == "libx265" and s.width <= X265_NO_LOOKAHEAD_UP_TO_WIDTH:
            options["x265-params"] += ":rc-lookahead=0:bframes=0"
        s.codec_context.options = options
        if self._pixel_aspect != 1:  # frames on a source's own grid of non-square pixels: shown as it is
            s.codec_context.sample_aspect_ratio = self._pixel_aspect
        if self._yuv:
            cc = s.codec_context
            cc.colorspace = cc.color_primaries = cc.color_trc = _SMPTE170M if self._bt601 else _BT709
            cc.color_range = _LIMITED_RANGE

    def write(self, image: np.ndarray, pts: int | None = None, alpha: np.ndarray | None = None) -> None:
        """Encode one H x W x 3 RGB frame (uint8; uint16 when depth=16). ``pts`` (in the time base
        given at creation) is used only if the first frame had one; later frames must then have
        increasing pts. ``alpha`` (H x W, the image's dtype): the frame's alpha, when the writer was made
        with ``alpha`` (opaque where None)."""
        dtype = np.uint16 if self.depth == 16 else np.uint8
        if not (isinstance(image, np.ndarray) and image.dtype == dtype and image.ndim == 3 and image.shape[2] == 3):
            raise ValueError(f"expected an H x W x 3 {np.dtype(dtype).name} RGB image, "
                             f"got {getattr(image, 'shape', type(image))} {getattr(image, 'dtype', '')}")
        height, width = image.shape[:2]
        if self._count == 0:
            self._start(width, height, pts)
        elif (width, height) != self._size:
            raise ValueError(f"frame size {width}x{height} differs from the first frame's {self._size[0]}x{self._size[1]}")
        if self._keep_pts:
            if pts is None:
                raise ValueError("pts missing: the first frame had one, so every frame needs one")
            out_pts = pts - self._pts0
            if self._last_pts is not None and out_pts <= self._last_pts:
                raise ValueError(f"pts must increase (got {pts} after {self._last_pts + self._pts0})")
        else:
            out_pts = self._count
        if self.alpha:
            if alpha is None:
                alpha = np.full(image.shape[:2], np.iinfo(dtype).max, dtype)
            image = np.concatenate([image, alpha.astype(dtype)[..., None]], -1)
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        fmt = ("rgba64le" if self.depth == 16 else "rgba") if self.alpha else ("rgb48le" if self.depth == 16 else "rgb24")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
        if self.alpha and not self._yuv:
            frame = frame.reformat(format=self._pix_fmt)
        elif self.depth == 16 and not self._yuv:
            frame = frame.reformat(format=self._pix_fmt)
        if self._yuv:
            matrix = "ITU601" if self._bt601 else "ITU709"
            frame = frame.reformat(format=self._pix_fmt, dst_colorspace=matrix, dst_color_range="MPEG")
        frame.pts = out_pts
        frame.time_base = self._tb
        try:
            if self._audio is not None:
                # Keep audio about a second ahead so the muxer can interleave without buffering.
                self._audio.pump(out_pts * self._tb + 1)
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
        except _AV_ERRORS as e:
            raise OutputError(f"cannot write video {self.path}: {_reason(e)}") from None
        self._last_pts = out_pts
        self._count += 1

    def commit(self) -> None:
        """Flush the encoder, finish the audio, close the file and move it to ``path``."""
        try:
            if self._count == 0:
                raise OutputError(f"no frames were written to {self.path}")
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.pump(None)
            self._out.close()
            os.replace(self._tmp, self.path)
            self._release()
        except _AV_ERRORS as e:
            self.abort()
            raise OutputError(f"cannot write video {self.path}: {_reason(e)}") from None
        except BaseException:
            self.abort()
            raise
        finally:
            if self._audio is not None:
                self._audio.close()

    def abort(self) -> None:
        """Close everything and delete the temporary file; never raises."""
        for close in (self._out.close, getattr(self._audio, "close", None)):
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
        try:
            os.remove(self._tmp)
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        locks.release(self._lock)
        self._lock = None


def _writer_timecode(timecode: str | None, rate: Fraction) -> str | None:
    """``timecode`` canonical, or ConfigError: a muxer given a bad one drops it without a word (MOV) or
    stores it as it is (Matroska)."""
    if timecode is None:
        return None
    try:
        return offset_timecode(timecode, rate, 0)
    except ValueError as e:
        raise ConfigError(f"invalid output timecode: {e}") from None


# A writer's hidden temporary file has a lock (locks.py) held for as long as the writer lives, so the next
# run of the same output can tell a file left by a killed run from one a live run is writing.

def _claim_partial(directory: str, stem: str, ext: str):
    """Create ``.STEM.partial-XXXXXXXX.EXT`` in ``directory``, its lock held first; (path, the lock)."""
    def make(path: str) -> None:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        return locks.claim(make, lambda token: os.path.join(directory, f".{stem}.partial-{token}{ext}"))
    except FileExistsError:
        raise OutputError(f"cannot create a temporary file in {directory}") from None
    except OSError as e:
        raise OutputError(f"cannot write in {directory}: {e.strerror or e}") from None


def _remove_dead_partials(directory: str, stem: str, ext: str) -> None:
    """Delete this output's temporary files that no live writer holds (left by a killed run)."""
    pattern = re.compile(re.escape(f".{stem}.partial-") + r"[0-9a-f]{8}" + re.escape(ext))
    locks.remove_abandoned(directory, pattern, os.remove)
