"""OpenEXR frames at float precision, through the OpenEXR library (the format's own reader and writer).

EXR holds scene light, unclipped, and by the format's convention its colour is *premultiplied* by alpha.
``read_exr`` gives straight (unpremultiplied) colour, so the network paints the colour of a pixel and not
its coverage; ``encode_exr`` premultiplies again. The ``framesPerSecond`` and ``timeCode`` attributes are
read and written, so a plate's timing survives the trip, and so is ``pixelAspectRatio`` (an anamorphic
plate). The data window is read; a display window that differs from it is not kept (the output's windows
are its pixels).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError, OutputError

HALF_MAX = 65504.0


@dataclass(frozen=True)
class ExrFrame:
    rgb: np.ndarray                    # H×W×3 float32, straight colour in the file's colour space
    alpha: np.ndarray | None           # H×W float32 in [0, 1], or None
    fps: Fraction | None = None        # framesPerSecond
    timecode: tuple | None = None      # (hours, minutes, seconds, frame, drop_frame)
    pixel_aspect: float = 1.0          # pixelAspectRatio: a stored pixel's width over its height


@dataclass(frozen=True)
class _Channel:
    pixels: np.ndarray


def _pick(channels: dict, name: str):
    """A default-layer channel by name (``R``), else the only layer's (``beauty.R``)."""
    if name in channels:
        return channels[name].pixels
    layered = [k for k in channels if k.split(".")[-1] == name]
    return channels[layered[0]].pixels if len(layered) == 1 else None


def read_exr(path: str) -> ExrFrame:
    """The colour (and alpha, attributes) of an EXR file; InputError naming the path otherwise."""
    import OpenEXR

    try:
        with OpenEXR.File(path, separate_channels=True) as f:
            # The library empties these when the file closes: copy them out while it is open.
            header = f.header()
            fps, timecode = _fps(header.get("framesPerSecond")), _timecode(header.get("timeCode"))
            pixel_aspect = _pixel_aspect(header.get("pixelAspectRatio"))
            channels = {name: _Channel(np.array(c.pixels)) for name, c in f.channels().items()}
    except Exception as e:  # OpenEXR raises RuntimeError, or its own error type
        raise InputError(f"not a readable EXR image: {path} ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    r, g, b = (_pick(channels, c) for c in "RGB")
    if r is None or g is None or b is None:
        y = _pick(channels, "Y")
        if y is None:
            raise InputError(f"{path} has no R, G, B or Y channels (it holds {', '.join(sorted(channels))})")
        r = g = b = y
    rgb = np.stack([np.asarray(c, np.float32) for c in (r, g, b)], -1)
    a = _pick(channels, "A")
    alpha = None
    if a is not None:
        alpha = np.clip(np.nan_to_num(np.asarray(a, np.float32), nan=0.0), 0.0, 1.0)
        covered = alpha > 0
        # Premultiplied by convention: colour where alpha is 0 carries no picture and stays as stored.
        rgb = np.where(covered[..., None], rgb / np.where(covered, alpha, 1.0)[..., None], rgb)
    return ExrFrame(np.ascontiguousarray(rgb, np.float32), alpha, fps, timecode, pixel_aspect)


def _pixel_aspect(value) -> float:
    """pixelAspectRatio as a number; 1 when absent or implausible (outside 1/4 … 4: a broken header)."""
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        return 1.0
    return ratio if 0.25 <= ratio <= 4.0 else 1.0


def _fps(value) -> Fraction | None:
    if value is None:
        return None
    try:
        rate = value if isinstance(value, Fraction) else Fraction(int(value[0]), int(value[1]))
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return rate if rate > 0 else None


def _timecode(value) -> tuple | None:
    if value is None:
        return None
    return (int(value.hours), int(value.minutes), int(value.seconds), int(value.frame), bool(value.dropFrame))


def encode_exr(rgb: np.ndarray, alpha: np.ndarray | None = None, *, half: bool = True,
               fps: Fraction | None = None, timecode: tuple | None = None, pixel_aspect: float = 1.0) -> bytes:
    """EXR bytes (scanlines, ZIP) of straight colour ``rgb`` (H×W×3 float, any range), premultiplied by
    ``alpha`` (H×W in [0, 1]) when given; ``half`` False writes float32. Values beyond half's range are
    held at ±65504 rather than turned into infinities."""
    import OpenEXR

    rgb = np.asarray(rgb, np.float32)
    channels = {}
    if alpha is not None:
        a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
        rgb = rgb * a[..., None]
        channels["A"] = a
    if half:
        rgb = np.clip(rgb, -HALF_MAX, HALF_MAX)
    kind = np.float16 if half else np.float32
    for i, c in enumerate("RGB"):
        channels[c] = np.ascontiguousarray(rgb[..., i], dtype=kind)
    if "A" in channels:
        channels["A"] = np.ascontiguousarray(channels["A"], dtype=kind)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if pixel_aspect != 1:
        header["pixelAspectRatio"] = float(pixel_aspect)
    if fps is not None:
        header["framesPerSecond"] = Fraction(fps).limit_denominator(1_000_000)
    if timecode is not None:
        tc = OpenEXR.TimeCode()
        tc.hours, tc.minutes, tc.seconds, tc.frame = timecode[:4]
        tc.dropFrame = bool(timecode[4]) if len(timecode) > 4 else False
        header["timeCode"] = tc
    # The library writes to a path only: a private temporary file, read back as bytes.
    fd, tmp = tempfile.mkstemp(suffix=".exr", prefix=".videostyle-")
    os.close(fd)
    try:
        with OpenEXR.File(header, channels) as f:
            f.write(tmp)
        with open(tmp, "rb") as f:
            return f.read()
    except Exception as e:
        raise OutputError(f"cannot encode an EXR frame: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        os.unlink(tmp)
