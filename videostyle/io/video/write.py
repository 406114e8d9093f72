"""Encoding RGB frames into a video file with PyAV: into a hidden temporary file renamed into place on
commit, tagged BT.709 (or 601 where the codec cannot say), with its timestamps, timecode, pixel aspect,
alpha (ProRes 4444, FFV1) and audio."""
from __future__ import annotations

import contextlib
import os
import re
from fractions import Fraction

import av
import numpy as np

from ...errors import ConfigError, OutputError
from .. import locks
from .audio import AudioSpan, AudioTracks
from .common import AV_ERRORS, BT709, LIMITED_RANGE, SMPTE170M, VIDEO_FORMATS, reason, untagged_matrix
from .timecode import offset_timecode

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
        except (*AV_ERRORS, ValueError):
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
            if isinstance(e, AV_ERRORS):
                raise OutputError(f"cannot write video {path}: {reason(e)}") from None
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
                self._audio = AudioTracks(self._out, self._fmt, audio)
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
            cc.colorspace = cc.color_primaries = cc.color_trc = SMPTE170M if self._bt601 else BT709
            cc.color_range = LIMITED_RANGE

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
        except AV_ERRORS as e:
            raise OutputError(f"cannot write video {self.path}: {reason(e)}") from None
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
        except AV_ERRORS as e:
            self.abort()
            raise OutputError(f"cannot write video {self.path}: {reason(e)}") from None
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
