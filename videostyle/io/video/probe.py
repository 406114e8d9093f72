"""Probing a video file: its frame count and timestamps (decoding as little as possible), its shape as
shown (rotation, non-square pixels), interlace, HDR, depth, alpha, audio and start timecode."""
from __future__ import annotations

import array
import contextlib
import dataclasses
import os
import threading
from dataclasses import dataclass
from fractions import Fraction

import av

from ...errors import InputError
from ..limits import check_pixels
from ..resize import display_size
from .common import AV_ERRORS, reason
from .timecode import offset_timecode


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
        key = file_identity(path)
        with _PROBES_LOCK:
            known = _PROBES.get(key)
        if known is not None:
            return known
        with opened(path) as (container, stream):
            # The header's size, before any frame is decoded: a file can claim any size (see limits).
            check_pixels(stream.codec_context.width, stream.codec_context.height, f"the video {path}")
            info = _stream_facts(stream, container)
            packets, intact = _scan_packets(container, stream)
            declared = stream.frames or 0
        scan = _scan_first(path, packets) if packets is not None else None
        if scan is None:
            with opened(path) as (container, stream):
                scan = _scan_frames(container, stream)
    except InputError:
        raise
    except AV_ERRORS as e:
        raise InputError(f"not a readable video: {path} ({reason(e)})") from None
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
    except (ValueError, *AV_ERRORS):
        return False


def _has_alpha(pix_fmt: str | None) -> bool:
    """Whether FFmpeg's pixel format ``pix_fmt`` (yuva420p, rgba, gbrap, ya8, …) has an alpha plane."""
    try:
        return pix_fmt is not None and any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, *AV_ERRORS):
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
    with opened(path) as (container, stream):
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


@contextlib.contextmanager
def opened(path: str):
    """(container, video stream) of ``path``, closed on leaving the block, on the thread that leaves it."""
    with av.open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        yield container, stream


def file_identity(path: str) -> tuple:
    """What tells one file from another for the caches of this process: path, inode, size, mtime."""
    st = os.stat(path)
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
