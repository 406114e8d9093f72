"""DPX frames (SMPTE 268M), encoded by FFmpeg's dpx encoder through PyAV.

The encoder picks the file's bit depth from the pixel format it is given, so the depth is chosen
here by pixel format:

- 16 bits: ``rgb48le`` (RGB) or ``rgba64le`` (RGBA), one 16-bit word per channel.
- 10 bits: ``gbrp10le``, written as true 10-bit DPX (three 10-bit channels packed in each 32-bit
  word, packing "method A"). FFmpeg has no 10-bit DPX pixel format with alpha, so 10 bits cannot
  carry alpha.

Files are little-endian (the ``le`` formats); DPX readers detect byte order from the magic number.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from ..errors import OutputError

DPX_BITS = (10, 16)

# (bits, has alpha) -> the pixel format handed to the encoder, which decides the file's bit depth.
_PIX_FMTS = {(16, False): "rgb48le", (16, True): "rgba64le", (10, False): "gbrp10le"}


def pixel_aspect(path: str) -> Fraction:
    """The pixel aspect ratio a DPX file's header states (image orientation header, bytes 1628–1635:
    horizontal, vertical); 1 when it states none (0 or all ones: undefined) or an implausible one."""
    try:
        with open(path, "rb") as f:
            head = f.read(1636)
    except OSError:
        return Fraction(1)
    if len(head) < 1636 or head[:4] not in (b"SDPX", b"XPDS"):
        return Fraction(1)
    order = "big" if head[:4] == b"SDPX" else "little"
    across, down = (int.from_bytes(head[i:i + 4], order) for i in (1628, 1632))
    if across in (0, 0xFFFFFFFF) or down in (0, 0xFFFFFFFF):
        return Fraction(1)
    ratio = Fraction(across, down)
    return ratio if Fraction(1, 4) <= ratio <= 4 else Fraction(1)


def encode_dpx(image: np.ndarray, bits: int, alpha: np.ndarray | None = None,
               pixel_aspect: Fraction = Fraction(1)) -> bytes:
    """File bytes of one DPX frame of an H x W x 3 RGB array, uint16 (0..65535) or uint8 (0..255,
    expanded exactly x257 first), at ``bits`` 10 or 16 per channel.

    16 bits keep every uint16 value exactly (``rgb48le``; with ``alpha`` ``rgba64le``, RGBA).
    10 bits store ``round(v * 1023 / 65535)`` of each 16-bit value (``gbrp10le``): rounded, not truncated,
    so every value is within half a 10-bit level.
    ``alpha``: H x W, same dtype as ``image``; only at 16 bits — 10-bit DPX with alpha raises ValueError
    (FFmpeg's encoder has no 10-bit RGBA format).

    Raises ValueError for a bad argument (shape, dtype, bits, alpha at 10 bits), OutputError (one line) if
    FFmpeg fails to encode. ``pixel_aspect`` (a stored pixel's width over its height) goes in the header."""
    if bits not in DPX_BITS:
        raise ValueError(f"DPX bits must be 10 or 16, got {bits!r}")
    rgb = _as_uint16(_check_rgb(image))
    if alpha is not None:
        if bits == 10:
            raise ValueError("10-bit DPX cannot carry alpha: use 16 bits")
        rgb = np.dstack([rgb, _as_uint16(_check_alpha(alpha, image))])
    pix_fmt = _PIX_FMTS[bits, alpha is not None]
    if bits == 10:
        rgb = _to_10_bits(rgb)
    return _encode(np.ascontiguousarray(rgb), pix_fmt, Fraction(pixel_aspect))


def _check_rgb(image) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
            and image.dtype in (np.uint8, np.uint16) and image.size):
        raise ValueError(f"expected an H x W x 3 uint8 or uint16 RGB image, "
                         f"got {getattr(image, 'shape', type(image))} {getattr(image, 'dtype', '')}")
    return image


def _check_alpha(alpha, image: np.ndarray) -> np.ndarray:
    if not (isinstance(alpha, np.ndarray) and alpha.shape == image.shape[:2] and alpha.dtype == image.dtype):
        raise ValueError(f"alpha must be an H x W {image.dtype.name} array of the image's size "
                         f"{image.shape[:2]}, got {getattr(alpha, 'shape', type(alpha))} {getattr(alpha, 'dtype', '')}")
    return alpha


def _as_uint16(values: np.ndarray) -> np.ndarray:
    # x257 maps 0..255 onto 0..65535 exactly (255 * 257 == 65535), the inverse of v // 257.
    return values.astype(np.uint16) * np.uint16(257) if values.dtype == np.uint8 else values


def _to_10_bits(values: np.ndarray) -> np.ndarray:
    """round(v * 1023 / 65535) in integers. Done here because swscale's rgb48 -> gbrp10 conversion
    truncates (drops the low 6 bits), which is up to a whole 10-bit level off."""
    return ((values.astype(np.uint32) * 1023 + 65535 // 2) // 65535).astype(np.uint16)


def _encode(pixels: np.ndarray, pix_fmt: str, pixel_aspect: Fraction = Fraction(1)) -> bytes:
    height, width = pixels.shape[:2]
    try:
        ctx = av.CodecContext.create("dpx", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
        ctx.time_base = Fraction(1, 25)  # required by the API; a single image has no timing
        if pixel_aspect != 1:
            ctx.sample_aspect_ratio = pixel_aspect  # the encoder writes it to the orientation header
        # from_ndarray takes gbrp formats in RGB channel order and uint16 in native byte order.
        frame = av.VideoFrame.from_ndarray(pixels, format=pix_fmt)
        data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
    except (av.FFmpegError, ValueError) as e:
        raise OutputError(f"cannot encode a DPX frame: {' '.join(str(e).split())}") from None
    if not data:
        raise OutputError("cannot encode a DPX frame: the encoder returned nothing")
    return data
