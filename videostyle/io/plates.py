"""Plates: frame files read deep and colour-managed, with their alpha; and frames encoded back into them.

A frame's picture is what the network sees (colour.py): H×W×3 display values ×255, ``uint8`` where the
file is an 8-bit display picture that needs no conversion (the path videostyle always had, bit for bit),
``float32`` otherwise: 16-bit PNG/TIFF, EXR and converted colour spaces keep their precision, so a smooth
gradient does not reach the content target banded to 8 bits.

What else the outputs need of the plate travels beside it as ``PlateData``: alpha as stored (uint8,
uint16 or float32, so that it is written back exactly), the brightest scene-linear value (the inverse
view's cap), and an EXR's framesPerSecond and timeCode.

Alpha is straight everywhere in the pipeline (exr.py unpremultiplies an EXR). Writing: EXR premultiplies
(colour 0 where alpha is 0); PNG, TIFF and DPX are straight, and where alpha is 0 the colour is the input's,
untouched (run/outputs.py puts it there).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from ..errors import InputError, OutputError
from . import frames as _frames
from .colour import Transfer
from .dpx import pixel_aspect as dpx_pixel_aspect
from .exr import encode_exr, read_exr
from .limits import check_pixels

# Outputs that hold an alpha channel, by extension (videos: io/video/write.py, by codec).
ALPHA_EXTENSIONS = frozenset({".png", ".tif", ".tiff", ".exr", ".dpx"})
_INTEGER_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def holds_alpha(ext: str, depth: int) -> bool:
    """Whether frames of ``ext`` written at ``depth`` keep alpha (FFmpeg has no 10-bit RGBA DPX)."""
    return ext.lower() in ALPHA_EXTENSIONS and not (ext.lower() == ".dpx" and depth != 16)


@dataclass(frozen=True)
class PlateData:
    alpha: np.ndarray | None = None    # H×W, straight, as stored (uint8, uint16, or float32 in [0, 1])
    peak: float | None = None          # brightest scene-linear value, where the view inverts highlights
    fps: Fraction | None = None        # EXR framesPerSecond
    timecode: tuple | None = None      # EXR timeCode: (hours, minutes, seconds, frame, drop_frame)
    pixel_aspect: float = 1.0          # EXR pixelAspectRatio: the file's pixels are this much wider than tall


def alpha_float(alpha: np.ndarray) -> np.ndarray:
    """Alpha as float32 in [0, 1], whatever it is stored as."""
    top = _INTEGER_MAX.get(alpha.dtype)
    return alpha.astype(np.float32) / np.float32(top) if top else np.clip(alpha.astype(np.float32), 0.0, 1.0)


def alpha_at(alpha: np.ndarray, depth: int) -> np.ndarray:
    """Alpha for a file of ``depth`` bits (8 or 16): exact where the stored depth is the same, ×257 from 8
    to 16 bits (exact too), rounded otherwise."""
    want = np.uint8 if depth == 8 else np.uint16
    if alpha.dtype == want:
        return alpha
    if alpha.dtype == np.uint8 and want == np.uint16:
        return alpha.astype(np.uint16) * 257
    top = 255.0 if depth == 8 else 65535.0
    return np.rint(alpha_float(alpha) * top).astype(want)


def _check_size(path: str) -> None:
    try:
        with open(path, "rb") as f:
            size = _frames.header_size(f)
    except OSError:
        return  # the reader says what is wrong
    if size is not None:
        check_pixels(*size, f"image {path}")


def _maybe_deep(path: str) -> bool:
    """Whether a file may hold more than 8 bits per channel (a PNG says so in its header)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        try:
            with open(path, "rb") as f:
                head = f.read(25)
        except OSError:
            return False
        return len(head) == 25 and head[24] > 8
    return ext in (".tif", ".tiff", ".dpx", ".pam", ".pgm", ".ppm", ".pnm")


def _raw(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB values as stored: uint8/uint16/float32, alpha or None) of a non-EXR image."""
    img = None
    if os.path.splitext(path)[1].lower() not in (".dpx",):
        try:
            img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        except (cv2.error, OSError, ValueError):
            img = None
    if img is None or not img.size:
        img = _frames._read_with_ffmpeg(path)  # DPX, and what OpenCV cannot decode: RGB order already
        if img is None:
            raise InputError(f"not a readable image: {path}")
        return np.ascontiguousarray(img[..., :3]), None
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, 2), None
    if img.shape[2] == 2:  # gray + alpha
        return np.repeat(img[..., :1], 3, 2), img[..., 1].copy()
    rgb = np.ascontiguousarray(img[..., 2::-1])
    return rgb, (img[..., 3].copy() if img.shape[2] == 4 else None)


def read_plate(path: str, colour: Transfer) -> tuple[np.ndarray, PlateData | None]:
    """(picture, PlateData or None) of a frame file; see the module docstring. InputError naming the path
    for a file that is missing or unreadable."""
    if not os.path.isfile(path):
        raise InputError(f"image not found: {path}")
    _check_size(path)
    if path.lower().endswith(".exr"):
        e = read_exr(path)
        display, peak = colour.to_display(e.rgb)
        return display, PlateData(e.alpha, peak if colour.inverts_highlights else None, e.fps, e.timecode,
                                  e.pixel_aspect)
    has_alpha = _frames.image_has_alpha(path)
    aspect = float(dpx_pixel_aspect(path)) if path.lower().endswith(".dpx") else 1.0
    if aspect != 1:  # a DPX that states non-square pixels: the plate's data carries it
        picture, data = _plate_pixels(path, colour, has_alpha)
        return picture, dataclasses.replace(data or PlateData(), pixel_aspect=aspect)
    return _plate_pixels(path, colour, has_alpha)


def _plate_pixels(path: str, colour: Transfer, has_alpha: bool) -> tuple[np.ndarray, PlateData | None]:
    """read_plate's picture of a file that is not EXR (its pixel aspect aside)."""
    if colour.identity and not has_alpha and not _maybe_deep(path):
        return _frames.read_image(path), None  # the 8-bit path, exactly as it always was
    rgb, alpha = _raw(path)
    top = _INTEGER_MAX.get(rgb.dtype)
    if colour.identity and rgb.dtype == np.uint8:
        picture = rgb
    else:
        values = rgb.astype(np.float32) / np.float32(top) if top else rgb.astype(np.float32)
        picture, _ = colour.to_display(values)
    return np.ascontiguousarray(picture), (PlateData(alpha) if alpha is not None else None)


# --------------------------------------------------------------------------- writing


class PlateEncoder:
    """Encodes finished frames (display values ×255, float) into one output format: colour space out,
    depth, alpha. ``view`` is the view the input was read with (its inverse brings the light back)."""

    def __init__(self, ext: str, depth: int, colour: Transfer, view: str, pixel_aspect: float = 1.0):
        self.ext, self.depth, self.colour, self.view = ext.lower(), depth, colour, view
        self.pixel_aspect = float(pixel_aspect)  # of the frames written: EXR tags it (pixelAspectRatio)
        self.holds_alpha = holds_alpha(self.ext, depth)

    @property
    def plain(self) -> bool:
        """True when the display values are the file's values (sRGB out of an sRGB-read picture)."""
        return self.colour.space is None and self.view == "clip" and self.ext not in (".exr", ".dpx")

    def values(self, display: np.ndarray, peak: float | None) -> np.ndarray:
        """Output colour-space values (float32, unclipped) of display values ×255."""
        if self.colour.space is None and self.view == "clip":
            return np.clip(np.asarray(display, np.float32) / np.float32(255.0), 0.0, 1.0)
        return self.colour.from_display(display, peak, self.view)

    def encode(self, display: np.ndarray, data: PlateData | None, fps: Fraction | None = None) -> bytes:
        data = data or PlateData()
        alpha = data.alpha if self.holds_alpha else None
        values = self.values(display, data.peak)
        if self.ext == ".exr":
            return encode_exr(values, None if alpha is None else alpha_float(alpha), half=self.depth != 32,
                              fps=data.fps or fps, timecode=data.timecode, pixel_aspect=self.pixel_aspect)
        bits = 16 if self.depth in (10, 16) else 8
        top = 65535.0 if bits == 16 else 255.0
        q = np.rint(np.clip(values, 0.0, 1.0) * top).astype(np.uint16 if bits == 16 else np.uint8)
        if self.ext == ".dpx":
            from .dpx import encode_dpx
            return encode_dpx(q, self.depth if self.depth in (10, 16) else 10,
                              None if alpha is None else alpha_at(alpha, 16),
                              Fraction(self.pixel_aspect).limit_denominator(1000))
        if alpha is None:
            return _frames.encode_image(q, self.ext)
        bgra = np.concatenate([q[..., ::-1], alpha_at(alpha, bits)[..., None]], -1)
        ok, buf = cv2.imencode(self.ext, np.ascontiguousarray(bgra))
        if not ok:
            raise OutputError(f"cannot encode an RGBA image as {self.ext}")
        return buf.tobytes()


def read_style(path: str, colour) -> np.ndarray:
    """A style image as the network sees it: sRGB display values unless ``colour`` (colour.ColourOptions)
    names its space (--style-colorspace), or the file is an EXR (light: through the view)."""
    if colour.style is None and not path.lower().endswith(".exr"):
        return _frames.read_image(path)
    return read_plate(path, colour.style_reading(float_file=path.lower().endswith(".exr")))[0]
