"""One interface over videos and image sequences: open_source() to read, open_sink() to write.

Frames read are H x W x 3 RGB display values (colour.py): ``uint8`` (0..255) for 8-bit pictures that need
no conversion, float32 in 0..255 for deep or colour-managed ones (plates.py), with their alpha and what else
the outputs need in ``Frame.plate``. Sinks take float arrays in 0..255 (the optimizer's precision) and store
them at their own depth and colour space: 8 bits, 16 bits (PNG/TIFF), 10/16-bit DPX, half or float EXR.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np

from . import frames as _frames
from . import video as _video
from .video import fields as _fields
from ..errors import ConfigError, InputError, OutputError
from .colour import ColourOptions, hdr_to_display
from .frameranges import FrameRange, Numbers, Positions, parse_frames
from .plates import PlateData, PlateEncoder, alpha_at, holds_alpha, read_plate
from .resize import display_size, resize_alpha, resize_rgb

VIDEO_EXTENSIONS = frozenset(_video.VIDEO_FORMATS)
DEFAULT_SEQUENCE_RATE = Fraction(25)
_SEQUENCE_OUTPUT_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".dpx"})


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "video" or "sequence"
    width: int  # of decoded frames, after rotation
    height: int
    n_frames: int  # exactly what frames() yields (after start/stop selection)
    rate: Fraction  # average frame rate; sequences: the fps given, default 25
    time_base: Fraction | None  # video stream time base; None for sequences
    has_audio: bool
    first_number: int | None  # sequences: number of the first selected file (e.g. 1001), else None
    # Sequences: the file number of each selected frame, where every name has one and they increase.
    # Frame outputs are named by them, so a gap in the input stays a gap (and 0004 stays 0004); None:
    # outputs are numbered on from first_number.
    numbers: tuple[int, ...] | None = None
    missing: tuple[tuple[int, int], ...] = ()  # sequences: (first, last) runs of numbers absent in the span
    ended_early: tuple[int, int] | None = None  # a video cut short: (frames decoded, frames its index lists)
    has_alpha: bool = False  # a frame carries alpha (Frame.plate.alpha)
    view: str = "clip"  # the view the frames were read with (colour.VIEWS): outputs invert it
    plates: bool = False  # frames carry PlateData the outputs need (alpha, a highlight cap, EXR attributes)
    timecode: str | None = None  # a video's timecode at the first selected frame (video outputs carry it)
    # Non-square pixels (a video's sample aspect ratio, an EXR's pixelAspectRatio, a DPX header's): the
    # stored pixel's width over its height. Frames are read at the displayed shape (width, height above:
    # square pixels); ``stored_size`` is the file's own grid, which --output-size original writes back.
    pixel_aspect: Fraction = Fraction(1)
    stored_size: tuple[int, int] | None = None
    interlaced: str | None = None  # an interlaced video: "top field first" or "bottom field first"
    # A video flagged interlaced whose pictures the field test (video/fields.py) found progressive (PsF):
    # read whole. Or its stated field order, where the test found the other: "bottom field first" …
    psf: bool = False
    order_stated: str | None = None
    hdr: str | None = None  # HDR video ("PQ" or "HLG"), read as SDR unless --input-colorspace says otherwise


@dataclass(frozen=True)
class Frame:
    """The one frame record, from decode to the encoder: drivers, the store and the outputs key frames by
    ``number``, and the pts travels with the image (the decoder resizes the image, never the record's
    other fields)."""
    number: int  # the frame's absolute position in the input: 0-based from the first frame of the file/sequence
    pts: int | None  # in info.time_base (video); None for sequences or unusable timestamps
    image: np.ndarray  # H x W x 3 RGB display values: uint8, or float32 0..255 (full size as decoded;
    # processing size after render.decode)
    plate: PlateData | None = None  # alpha (straight), highlight cap, EXR attributes; None: a plain picture
    lead_in: bool = False  # decoded before the selected range only to lead into it (Source.before): the
    # single pass reads its stylized result from the work folder; it is never solved, written or reported


def is_sequence_path(path: str) -> bool:
    """True for a folder, a frame pattern (``%d``/``%04d``, or ``####``/``@``: frames.normalize_pattern),
    or a path ending in a separator. A file that exists is that file, whatever its name holds."""
    return (
        os.path.isdir(path)
        or (_frames.has_number_field(path) and not os.path.isfile(path))
        or path.endswith("/")
        or path.endswith(os.sep)
    )


def _as_fraction(value, what: str) -> Fraction:
    try:
        # str() first so 29.97 becomes 2997/100, not a binary-float fraction.
        rate = Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ConfigError(f"{what} must be a positive number, got {value!r}") from None
    if rate <= 0:
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return rate


def _frame_range(start: int | str | FrameRange | None, stop: int | None) -> FrameRange:
    """The selection open_source was given: positions ``start``/``stop``, or a whole range as ``start``."""
    if isinstance(start, int):
        if start < 0 or (stop is not None and stop < 0):
            raise ConfigError(f"frame range start/stop must not be negative (got {start}:{stop})")
        return Positions(start, stop)
    if stop is not None:
        raise ValueError("give a frame range or start/stop positions, not both")
    return parse_frames(start)


# --------------------------------------------------------------------------- sources


class Source:
    """A readable video or frame sequence. ``frames()`` may be called repeatedly (re-reads)."""

    path: str
    info: MediaInfo
    start: int  # the span of the selected frames' positions in the input: 0-based, stop exclusive
    stop: int
    positions: tuple[int, ...]  # the selected positions, ascending: range(start, stop) unless the range
    # is stepped or listed (``--frames 1001-1100x2``), then every frame's absolute number

    def frames(self, stored: bool = False) -> Iterator[Frame]:
        """The selected frames in order. ``stored``: on the file's own pixel grid (info.stored_size) where
        its pixels are not square, rather than as shown (the outputs written back on that grid read
        the alpha and colour they keep from there, exactly)."""
        raise NotImplementedError

    # The same input, other positions (start, stop): set by open_source; None for a Source made otherwise.
    reopen: Callable[[int, int], "Source"] | None = None

    def positions_before(self, count: int) -> range:
        """The positions of the ``count`` frames just before the selection (fewer at the input's start);
        none when the selection is stepped (its frames are not neighbours) or cannot be reopened."""
        if self.reopen is None or len(self.positions) != self.stop - self.start:
            return range(0)
        return range(max(0, self.start - count), self.start)

    def before(self, count: int) -> "Source | None":
        """Those frames (``positions_before``) opened as a Source whose frames are marked ``lead_in``, or
        None when there are none."""
        span = self.positions_before(count)
        return _LeadIn(self.reopen(span.start, span.stop)) if span else None


class _LeadIn(Source):
    """Another Source's frames, marked as a lead-in."""

    def __init__(self, source: Source):
        self.source, self.path, self.info = source, source.path, source.info
        self.start, self.stop, self.positions = source.start, source.stop, source.positions

    def frames(self, stored: bool = False) -> Iterator[Frame]:
        with contextlib.closing(self.source.frames(stored)) as frames:
            for frame in frames:
                yield dataclasses.replace(frame, lead_in=True)


def _field_order(field: int | None) -> str | None:
    return None if field is None else ("bottom" if field else "top") + " field first"


class VideoSource(Source):
    """A video file. Its frame numbers (FIRST-LAST ranges) are the 0-based positions of its frames.
    ``audio`` False: the source reports no audio, so sinks copying its audio write none (``-an``)."""

    def __init__(self, path: str, frames: FrameRange, audio: bool = True, colour: ColourOptions = ColourOptions(),
                 deinterlace: str = "auto"):
        self.path = path
        self.probe = _video.probe_video(path)
        stated, psf = self.probe.field, False
        if deinterlace == "off":  # --deinterlace off: the frames as stored, both fields woven
            self.probe = dataclasses.replace(self.probe, field=None)
        elif deinterlace == "auto" and stated is not None:  # is it, and which field is first? (fields.py)
            found = _fields.detect(path)
            psf = found == "progressive"
            if found:
                self.probe = dataclasses.replace(self.probe, field=None if psf else int(found == "bff"))
        self.colour = colour.reading(float_file=False)
        # HDR video the user gave no colour space for is brought to SDR display values as it is read
        # (colour.hdr_to_display): the frames are then an SDR picture, for the network and the outputs.
        self.hdr = self.probe.hdr if colour.input is None else None
        decoded, declared = self.probe.n_frames, self.probe.declared_frames
        if declared is not None and _wanted_stop(frames) > decoded:
            # An explicit range is what the user needs whole: a cut-short file cannot give it.
            raise InputError(f"--frames {frames}: {path} ends early: {_ended_early(decoded, declared)}")
        self.positions = frames.positions(range(decoded), path)
        self.start, self.stop = self.positions[0], self.positions[-1] + 1
        self.info = MediaInfo(
            kind="video",
            width=self.probe.width,
            height=self.probe.height,
            n_frames=len(self.positions),
            rate=self.probe.rate,
            time_base=self.probe.time_base,
            has_audio=self.probe.has_audio and audio,
            first_number=None,
            ended_early=None if declared is None else (decoded, declared),
            has_alpha=self.probe.has_alpha,
            plates=self.probe.has_alpha,
            view=self.colour.view,
            # A stepped range's frames are named as a video's always are: position + 1 (frame 0 is 000001).
            numbers=tuple(p + 1 for p in self.positions) if frames.stepped else None,
            timecode=_start_timecode(self.probe, self.start),
            pixel_aspect=self.probe.pixel_aspect,
            stored_size=self.probe.stored_size if self.probe.pixel_aspect != 1 else None,
            interlaced=_field_order(self.probe.field),
            psf=psf,
            order_stated=_field_order(stated) if self.probe.field not in (None, stated) else None,
            hdr=self.probe.hdr.upper() if self.probe.hdr else None,
        )

    def time_span(self) -> tuple[Fraction, Fraction]:
        """(start, end) in seconds on the file's clock: first selected frame to the end of the last."""
        return self.probe.frame_time(self.start), self.probe.frame_time(self.stop)

    def frames(self, stored: bool = False) -> Iterator[Frame]:
        count = 0
        # Closed here, on this thread, when the caller stops early and closes this generator, so the
        # decoder is never left for the garbage collector to close on another thread.
        wanted = set(self.positions)
        with contextlib.closing(_video.decode_video(self.path, self.probe, self.start, self.stop,
                                                    alpha=self.info.has_alpha, stored=stored)) as decoded:
            for position, (pts, image) in enumerate(decoded, start=self.start):
                if position not in wanted:  # a stepped range: decoded (a video is read in order), not kept
                    continue
                count += 1
                plate = None
                if image.shape[2] == 4:  # ProRes 4444, FFV1 with alpha: straight, 8 or 16 bits
                    plate, image = PlateData(np.ascontiguousarray(image[..., 3])), np.ascontiguousarray(image[..., :3])
                top = np.float32(65535.0 if image.dtype == np.uint16 else 255.0)  # deep and HDR: 16 bits
                if self.hdr is not None:
                    image = hdr_to_display(image.astype(np.float32) / top, self.hdr)
                elif not self.colour.identity:
                    image = self.colour.to_display(image.astype(np.float32) / top)[0]
                elif image.dtype == np.uint16:  # deep: float 0–255, every gradation kept (as a deep PNG)
                    image = image.astype(np.float32) / np.float32(257.0)
                yield Frame(number=position, pts=pts, image=image, plate=plate)
        if count != self.info.n_frames:
            raise InputError(f"{self.path} gave {count} frames on decoding, {self.info.n_frames} when opened")


class SequenceSource(Source):
    """A folder of images, a printf pattern, or a single image file (a one-frame sequence).

    Sizes are checked when opening (PNG headers only; other formats are decoded), and again
    for each decoded frame, so a mismatch is reported naming the first offending file.
    """

    def __init__(self, path: str, frames: FrameRange, fps: Fraction | None, colour: ColourOptions = ColourOptions()):
        self.path = path
        if os.path.isfile(path):
            files = [(None, path)]
        else:
            files = _frames.list_sequence(path)
            if not files:
                raise InputError(f"no image files found for {path}")
        # FIRST-LAST ranges are the numbers in the file names; START:END positions in this list.
        self.positions = frames.positions([n for n, _ in files], path)
        self.start, self.stop = self.positions[0], self.positions[-1] + 1
        self.files = [files[p] for p in self.positions]
        first = self.files[0][1]
        # A float plate (EXR) holds light, linear by default; an 8/16-bit picture display values.
        self.colour = colour.reading(float_file=first.lower().endswith(".exr"))
        image, plate = read_plate(first, self.colour)  # also proves the first file readable
        height, width = image.shape[:2]
        self.stored = (width, height)
        plate_fps = plate.fps if plate is not None else None
        aspect = Fraction(plate.pixel_aspect).limit_denominator(1000) if plate is not None else Fraction(1)
        for _, name in self.files[1:]:
            size = _frames.image_size(name)
            if size != (width, height):
                raise InputError(_size_message(name, size, first, (width, height)))
        numbers, missing = _numbering(self.files, frames)
        shown = display_size(width, height, aspect)
        self.info = MediaInfo(
            kind="sequence",
            width=shown[0],
            height=shown[1],
            n_frames=len(self.files),
            rate=_as_fraction(fps, "fps") if fps is not None else (plate_fps or DEFAULT_SEQUENCE_RATE),
            time_base=None,
            has_audio=False,
            first_number=self.files[0][0],
            numbers=numbers,
            missing=missing,
            has_alpha=any(_frames.image_has_alpha(name) for _, name in self.files),
            view=self.colour.view,
            plates=plate is not None or any(_frames.image_has_alpha(name) for _, name in self.files),
            pixel_aspect=aspect,
            stored_size=self.stored if aspect != 1 else None,
        )

    def frames(self, stored: bool = False) -> Iterator[Frame]:
        expected, shown = self.stored, (self.info.width, self.info.height)
        for index, (_, name) in enumerate(self.files):
            image, plate = read_plate(name, self.colour)
            size = (image.shape[1], image.shape[0])
            if size != expected:
                raise InputError(_size_message(name, size, self.files[0][1], expected))
            if shown != expected and not stored:  # non-square pixels, seen as the plate is shown
                image = resize_rgb(image, shown)
                if plate is not None and plate.alpha is not None:
                    plate = dataclasses.replace(plate, alpha=resize_alpha(plate.alpha, shown))
            yield Frame(number=self.positions[index], pts=None, image=image, plate=plate)


def _start_timecode(probe, start: int) -> str | None:
    """The timecode of frame ``start`` of a video whose first frame has ``probe.timecode``."""
    if probe.timecode is None:
        return None
    try:
        return _video.offset_timecode(probe.timecode, probe.rate, start)
    except ValueError:
        return None  # a timecode this rate cannot count: the output goes without one


def _wanted_stop(frames: FrameRange) -> int:
    """The position after the last frame a range asks for by name (0: it asks for none in particular)."""
    if isinstance(frames, Numbers):
        return frames.last + 1
    if isinstance(frames, Positions):
        return frames.stop or 0
    return frames.numbers[-1] + 1  # a stepped or listed set


def _ended_early(decoded: int, declared: int) -> str:
    return f"its index lists {declared} frames, but only {decoded} decode (the last good frame is {decoded - 1})"


def _numbering(files: list[tuple[int | None, str]], frames: FrameRange):
    """(numbers, missing runs) of the selected files: see MediaInfo. The span checked for gaps is the one
    asked for by number (FIRST-LAST), else the selection's first to last number."""
    numbers = [n for n, _ in files]
    if any(n is None for n in numbers) or any(b <= a for a, b in zip(numbers, numbers[1:])):
        return None, ()
    if isinstance(frames, Positions):
        lo, hi = numbers[0], numbers[-1]
    elif isinstance(frames, Numbers):
        lo, hi = frames.first, frames.last
    else:  # a set: the numbers it asks for that the input lacks
        have = set(numbers)
        gone = [n for n in frames.numbers if n not in have]
        return tuple(numbers), tuple(_as_runs(gone))
    bounds = [lo - 1, *numbers, hi + 1]
    missing = tuple((a + 1, b - 1) for a, b in zip(bounds, bounds[1:]) if b - a > 1)
    return tuple(numbers), missing


def _as_runs(values: list[int]) -> list[tuple[int, int]]:
    """Ascending numbers as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _runs(runs, most: int = 8) -> str:
    """``3, 7-9, 12`` (at most ``most`` runs, then how many more)."""
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:most])
    return shown + (f" and {len(runs) - most} more runs" if len(runs) > most else "")


def input_warnings(source: "Source") -> list[str]:
    """One line for each thing about ``source`` a run goes on with but the user should know: numbers
    missing in a sequence, a video that ends before its index says, an interlaced video."""
    info, path, lines = source.info, source.path, []
    if info.missing:
        count = sum(b - a + 1 for a, b in info.missing)
        lines.append(f"{path}: {count} frame number{'s' if count > 1 else ''} missing ({_runs(info.missing)}); "
                     "frame outputs keep the input's numbers, a video output plays the frames one after another")
    if info.ended_early is not None:
        decoded, declared = info.ended_early
        lines.append(f"{path} ends early: {_ended_early(decoded, declared)}; using the frames that decode")
    if info.hdr and getattr(source, "hdr", None):
        lines.append(f"{path} is HDR video ({info.hdr}): read as an SDR picture (its reference white, 203 nits, as "
                     "SDR white; brighter light rolled off); the output is SDR (--input-colorspace names another reading)")
    if info.interlaced:
        stated = f"; the stream says {info.order_stated}, its motion says otherwise" if info.order_stated else ""
        lines.append(f"{path} is interlaced ({info.interlaced}{stated}): each frame is painted from its first "
                     "field, and written progressive")
    if info.psf:
        lines.append(f"{path} is flagged interlaced, but its pictures are progressive (PsF): read whole "
                     "(--deinterlace field paints each frame from one field instead)")
    return lines


def _output_ext(output: str) -> tuple[str, bool]:
    """(extension, True for frames) of an output: a frame pattern's or folder's frames, else the file's."""
    ext = os.path.splitext(output)[1].lower()
    if ext not in VIDEO_EXTENSIONS and is_sequence_path(output):
        return os.path.splitext(sequence_pattern(output))[1].lower(), True
    return ext, False


def alpha_dropped(source: Source, output: str, codec: str | None = None, depth: int = 8) -> str | None:
    """The line saying that an output cannot hold the input's alpha, or None when nothing is dropped."""
    info = source.info
    if not info.has_alpha:
        return None
    ext, frames = _output_ext(output)
    kept = holds_alpha(ext, depth) if frames else _video.holds_alpha(ext, codec)
    if kept:
        return None
    return (f"{source.path} has an alpha channel, which is dropped: {output} cannot hold it (write .png, .tif, "
            ".exr or --depth 16 .dpx frames, or a .mov with --codec prores_ks / .mkv with --codec ffv1)")


def pixel_aspect_note(source: Source, output: str, original: bool) -> str | None:
    """The line saying how an input of non-square pixels is painted and written (None for square pixels):
    as it is shown, then at the processing size in square pixels, or with ``original`` (--output-size
    original) on the input's own grid, tagged where ``output`` can say so."""
    info = source.info
    if info.stored_size is None:
        return None
    ratio = f"{info.pixel_aspect.numerator}:{info.pixel_aspect.denominator}"
    head = f"{source.path} has non-square pixels ({ratio}): painted as shown ({info.width}x{info.height})"
    if not original:
        return f"{head}, written in square pixels (--output-size original keeps its own grid)"
    (w, h), (ext, frames) = info.stored_size, _output_ext(output)
    tagged = ext in (".exr", ".dpx") if frames else ext in VIDEO_EXTENSIONS - {".gif"}  # GIF has no SAR
    if tagged:
        return f"{head}, written on its own {w}x{h} grid tagged {ratio}"
    return (f"{head}, written on its own {w}x{h} grid, which {ext} files cannot tag: they will look squeezed "
            "(write .exr, .dpx or a video, or the processing size)")


def _size_message(name, size, first, expected) -> str:
    return f"frame {name} is {size[0]}x{size[1]}, but {first} is {expected[0]}x{expected[1]}; all frames must have one size"


def open_source(path: str, start: int | str | FrameRange | None = 0, stop: int | None = None,
                fps: Fraction | None = None, *, audio: bool = True,
                colour: ColourOptions = ColourOptions(), deinterlace: str = "auto") -> Source:
    """Open a video file, an image folder, a frame pattern (``shot/%04d.png``, ``shot/####.png``,
    ``shot/@.png``: frames.normalize_pattern) or one image.

    ``start``/``stop`` select frames by 0-based index, ``stop`` exclusive and clamped to the
    end; or ``start`` is a whole ``--frames`` range (frameranges.parse_frames: ``"0:48"``,
    ``"1001-1050"`` in the sequence's own frame numbers, a FrameRange). The selected positions are
    ``source.start``/``source.stop``. An empty selection, or numbers the input does not have, raise
    InputError; bad range syntax ConfigError. ``fps`` is the rate of an image sequence (default 25);
    a video keeps its own rate and timestamps (its audio would drift from re-timed frames), so
    ``fps`` with a video is a ConfigError. ``audio`` False: the source reports no audio (``-an``).
    ``colour``: the input's colour space and view (colour.py; ConfigError for an unknown name).
    ``deinterlace`` (a video flagged interlaced): "auto" tests its first frames (video/fields.py) and paints
    each frame from its first field in time, or reads progressive pictures (PsF) whole; "field" trusts the
    flag and its field order; "off" reads the frames as stored (both fields woven).
    Raises InputError (one line, naming the path) for anything missing, unreadable, empty or inconsistent.
    """
    path = _frames.normalize_pattern(os.fspath(path))
    frames = _frame_range(start, stop)
    source = _opened_source(path, frames, fps, audio, colour, deinterlace)
    # The same input, other frames (Source.before): what a range render needs of the frames before it.
    source.reopen = lambda start, stop: open_source(path, start, stop, fps, audio=False, colour=colour,
                                                    deinterlace=deinterlace)
    return source


def _opened_source(path: str, frames: FrameRange, fps: Fraction | None, audio: bool, colour: ColourOptions,
                   deinterlace: str = "auto") -> Source:
    if is_sequence_path(path):
        return SequenceSource(path, frames, fps, colour)
    if not os.path.exists(path):
        raise InputError(f"input not found: {path}")
    if not os.path.isfile(path):
        raise InputError(f"input is not a file: {path}")
    if os.path.getsize(path) == 0:
        raise InputError(f"input file is empty: {path}")
    if _frames.is_image_path(path):
        return SequenceSource(path, frames, fps, colour)
    if fps is not None:
        raise ConfigError(f"--fps sets the rate of a frame-sequence input; the video {path} keeps its own "
                          "timing, so its audio stays in sync (re-time it with ffmpeg first)")
    return VideoSource(path, frames, audio, colour, deinterlace)


# --------------------------------------------------------------------------- sinks


def sequence_pattern(path: str) -> str:
    """The printf pattern frames are written to for an output ``path``: the pattern itself, or a folder's
    ``%06d.png``."""
    if _frames.has_number_field(path):
        return path
    return os.path.join(path, "%06d.png")


def check_output_path(input_path: str, output_path: str) -> None:
    """Raise OutputError if writing ``output_path`` would overwrite or write into ``input_path``."""
    inp = os.path.realpath(input_path)
    out = os.path.realpath(output_path)
    if is_sequence_path(output_path):
        out = os.path.realpath(sequence_pattern(output_path))
    if inp == out:
        raise OutputError(f"output {output_path} is the input; choose another name")
    if os.path.isdir(input_path) and is_sequence_path(output_path) and os.path.dirname(out) == inp:
        raise OutputError(f"output {output_path} would write frames into the input folder {input_path}")


class Sink:
    """Writes frames to a video or an image sequence; use as a context manager.

    A clean exit finishes the output and moves it into place atomically; an exception (or
    abort()) deletes the temporary output so nothing appears under the output name. If the
    process dies, only a hidden ``.NAME.partial-XXXX`` file or folder can remain.
    """

    def __init__(self, path: str, writer, kind: str, depth: int = 8, overwrite: bool = False,
                 encoder: PlateEncoder | None = None, rate: Fraction | None = None):
        self.path = path
        self.kind = kind  # "video" or "sequence"
        self.depth = depth  # bits per channel stored: 8, 10 (DPX), 16, or 32 (float EXR)
        self.overwrite = overwrite
        self._writer = writer
        self._encoder = encoder  # colour space out, alpha, EXR/DPX (plates.PlateEncoder); None: plain frames
        self._rate = rate
        self._finished = False

    @property
    def audio_mode(self) -> str:
        """"copy", "aac", "opus" (re-encoded for WebM) or "none"; known once the sink is open."""
        return getattr(self._writer, "audio_mode", "none")

    @property
    def n_written(self) -> int:
        return self._writer.count

    def write(self, image: np.ndarray, pts: int | None = None, plate: PlateData | None = None) -> None:
        """Add one H x W x 3 RGB frame of display values (uint8, or float 0..255 rounded to the sink's
        depth); every frame must have the first one's size. ``pts`` (video outputs) is in the source's time
        base; see open_sink. ``plate``: the source frame's alpha and attributes (plates.PlateData)."""
        if self._finished:
            raise ValueError(f"sink {self.path} is already closed")
        enc = self._encoder
        if enc is not None and self.kind == "sequence" and not (enc.plain and (plate is None or plate.alpha is None)):
            self._writer.write_encoded(enc.encode(image, plate, self._rate), image.shape)
            return
        if enc is not None and not enc.plain:
            image = enc.values(image, plate.peak if plate is not None else None) * np.float32(255.0)
        image = _at_depth(image, self.depth)
        if self.kind == "video":
            alpha = plate.alpha if plate is not None and getattr(self._writer, "alpha", False) else None
            self._writer.write(image, pts, None if alpha is None else alpha_at(alpha, 16 if self.depth == 16 else 8))
        else:
            self._writer.write(image)

    def close(self) -> None:
        """Finish the output and move it into place."""
        if self._finished:
            return
        self._finished = True
        if self.kind == "sequence" and self._writer.count == 0:
            self._writer.abort()
            raise OutputError(f"no frames were written to {self.path}")
        if self.kind == "video" and not self.overwrite and os.path.lexists(self.path):
            self._writer.abort()  # the file appeared while we encoded: it is not ours to replace
            raise OutputError(_exists_message(self.path))
        self._writer.commit()

    def abort(self) -> None:
        """Discard everything written so far."""
        if not self._finished:
            self._finished = True
            self._writer.abort()

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        # A sink dropped without close() must not leave its temporary output behind.
        try:
            self.abort()
        except Exception:
            pass


def _at_depth(image: np.ndarray, depth: int) -> np.ndarray:
    if depth == 16:  # to_uint16 maps 8-bit values exactly (×257)
        return image if image.dtype == np.uint16 else _frames.to_uint16(image)
    return image if image.dtype == np.uint8 else _frames.to_uint8(image)


def _exists_message(path: str) -> str:
    return f"output {path} already exists; use -y/--overwrite to replace it"


def _check_folder(folder: str) -> None:
    if not os.path.isdir(folder):
        raise OutputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder is not writable: {folder}")


def open_sink(
    path: str,
    info: MediaInfo,
    *,
    codec: str | None = None,
    crf: int | None = None,
    fps: Fraction | None = None,
    audio_from: Source | None = None,
    depth: int = 8,
    overwrite: bool = False,
    colour: ColourOptions = ColourOptions(),
) -> Sink:
    """Open an output for frames shaped like ``info`` describes.

    Video (``.mp4 .mov .mkv .webm .avi .gif``): codec defaults to libx264 (yuv420p, crf 18);
    .webm defaults to libvpx-vp9 and .gif to gif. Timing: without ``fps``, if ``info`` has a
    time base and write() gets pts, those pts are kept (shifted so the first frame is at 0),
    so VFR and 30000/1001 survive; AVI stores no timestamps and always gets a constant rate.
    Otherwise frames are spaced at a constant ``fps`` (an explicit ``fps`` always wins) or
    ``info.rate``. Odd sizes are padded by 1 px (edge replicated) for yuv420p/yuv422p.
    Audio from ``audio_from`` (a video source) covering the selected frames is copied, or
    re-encoded to AAC (Opus for .webm) when the container refuses the codec, and dropped
    for .gif; see Sink.audio_mode.

    Sequence (a folder, a path ending in a separator, or a pattern like ``out/%04d.png``):
    images named by the pattern (``%06d.png`` in a folder), format by the pattern's extension,
    named by ``info.numbers`` (the input's own, gaps kept), else numbered from ``info.first_number``
    (or 1). Files appear only at close. ``depth`` 16 writes
    16-bit PNG/TIFF/DPX (DPX: 10-bit unless 16); ``.exr`` is half float (float32 with ``depth`` 32), in
    the output colour space (``colour``, see colour.py), with the input's alpha and EXR attributes.
    Videos with ``depth`` 16: FFV1 (16-bit RGB) or ProRes (10-bit), see video.VideoWriter.

    An existing output is never replaced unless ``overwrite``: a video file that exists (at open, or
    by the time it would be renamed into place) or a folder already holding frames of the pattern is
    an OutputError. With ``overwrite`` a sequence output replaces ALL frames of its pattern (no stale
    higher-numbered frame survives); see frames.SequenceWriter for what is staged, kept and deleted.

    Raises OutputError for a missing/unwritable folder, an unknown extension, an output that
    exists (without ``overwrite``), or an output that is the input; ConfigError for an unusable codec, fps or depth.
    """
    path = os.fspath(path)
    if depth not in (8, 10, 16, 32):
        raise ConfigError(f"--depth must be 8, 10, 16 or 32, got {depth}")
    if audio_from is not None:
        check_output_path(audio_from.path, path)
    rate = _as_fraction(fps, "fps") if fps is not None else info.rate

    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_EXTENSIONS and is_sequence_path(path):
        pattern = sequence_pattern(path)
        ext = os.path.splitext(pattern)[1].lower()
        if ext not in _SEQUENCE_OUTPUT_EXTENSIONS:
            raise OutputError(f"cannot write frames named {pattern}: use .png, .jpg, .tif, .bmp, .webp, .exr or .dpx")
        depth = _sequence_depth(ext, depth)
        encoder = PlateEncoder(ext, depth, colour.writing(float_file=ext == ".exr"), info.view, info.pixel_aspect)
        first = info.first_number if info.first_number is not None else 1
        writer = _frames.SequenceWriter(pattern, first, overwrite, numbers=info.numbers)
        return Sink(path, writer, "sequence", depth, overwrite, encoder, rate)

    if depth in (10, 32):
        raise ConfigError(f"--depth {depth} is for {'.dpx' if depth == 10 else '.exr'} frames; a video takes 8 or 16")
    encoder = PlateEncoder(ext, depth, colour.writing(float_file=False), info.view)
    if os.path.isdir(path):
        raise OutputError(f"output {path} is a folder")
    _check_folder(os.path.dirname(os.path.abspath(path)))
    if not overwrite and os.path.lexists(path):
        raise OutputError(_exists_message(path))
    audio = None
    if audio_from is not None and audio_from.info.has_audio and isinstance(audio_from, VideoSource):
        start, end = audio_from.time_span()
        audio = _video.AudioSpan(audio_from.path, start, end)
    writer = _video.VideoWriter(
        path,
        rate=rate,
        time_base=None if fps is not None else info.time_base,
        codec=codec,
        crf=crf,
        audio=audio,
        depth=depth,
        timecode=info.timecode,
        alpha=info.has_alpha,
        pixel_aspect=info.pixel_aspect,
    )
    return Sink(path, writer, "video", depth, overwrite, encoder, rate)


def _sequence_depth(ext: str, depth: int) -> int:
    """The depth frames of ``ext`` are written at: EXR half (16) unless 32 is asked, DPX 10 unless 16."""
    if ext == ".exr":
        return 32 if depth == 32 else 16
    if ext == ".dpx":
        return 16 if depth == 16 else 10
    if depth in (10, 32):
        raise ConfigError(f"--depth {depth} is for {'.dpx' if depth == 10 else '.exr'} frames, not {ext}")
    if depth == 16 and ext not in _frames.SIXTEEN_BIT_EXTENSIONS:
        raise ConfigError(f"--depth 16 needs .png, .tif, .dpx or .exr frames, not {ext}")
    return depth
