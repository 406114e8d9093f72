"""Carrying a source's audio into an output video: every track, copied where the container takes it,
re-encoded (AAC, or Opus for WebM) where it does not, trimmed to the frames rendered."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ...errors import InputError
from .common import AV_ERRORS, reason


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
    except (ValueError, IndexError, *AV_ERRORS):
        return False
    return True


# FFmpeg's default layout names by channel count, for re-encoding: a source may carry an
# unordered layout ("2 channels") that encoders and MP4 reject.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


class AudioTracks:
    """Every audio stream of the source, each fed by an AudioTrack in the source's order: a camera or
    broadcast file carries several (four or eight mono tracks, a mix and its stems), and an editor
    needs them all. GIF output gets none."""

    def __init__(self, out, fmt: str, span: AudioSpan):
        self.tracks: list[AudioTrack] = []
        if fmt == "gif":
            return
        try:
            with av.open(span.path) as c:
                count = len(c.streams.audio)
        except AV_ERRORS as e:
            raise InputError(f"cannot read audio of {span.path}: {reason(e)}") from None
        try:
            for index in range(count):
                self.tracks.append(AudioTrack(out, fmt, span, index))
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


class AudioTrack:
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
        except (*AV_ERRORS, IndexError) as e:
            raise InputError(f"cannot read audio of {span.path}: {reason(e)}") from None
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
