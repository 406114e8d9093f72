"""Single images and numbered image sequences, read and written with OpenCV.

Every image handed to the rest of the package is an H x W x 3 ``uint8`` RGB array
(values 0..255). Conversion from other depths happens here, once. Writers also take uint16
(16-bit PNG/TIFF) and write EXR as linear half floats.
"""

import os

# OpenCV refuses EXR unless this is set before cv2 is imported.
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import errno  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
from typing import Sequence  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .atomic import write_atomic  # noqa: E402
from ..errors import InputError, OutputError  # noqa: E402
from .limits import check_pixels  # noqa: E402
from . import locks  # noqa: E402

# PPM/PGM/PBM/PNM/PAM are what artistic-videos (Ruder et al.) and its flow scripts write; DPX is the film
# scanners' format (decoded by FFmpeg: OpenCV has no DPX reader).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr", ".webp",
                              ".ppm", ".pgm", ".pbm", ".pnm", ".pam", ".dpx"})
# Decoded by FFmpeg (PyAV) instead of OpenCV.
_FFMPEG_EXTENSIONS = frozenset({".dpx"})

# The frame-number field of a printf pattern: "%d" or zero-padded "%04d".
_NUMBER_FIELD = re.compile(r"%(0\d+)?d")
# A compositing-style number field: a run of '#' or '@', one character per digit (see normalize_pattern).
_PADDING_FIELD = re.compile(r"#+|@+")
_DIGITS = re.compile(r"(\d+)")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXR_MAGIC = b"\x76\x2f\x31\x01"
_DPX_MAGICS = {b"SDPX": ">", b"XPDS": "<"}  # big- and little-endian


def is_image_path(path: str) -> bool:
    """True if the file name has one of the image extensions this module reads."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def normalize_pattern(path: str) -> str:
    """``path`` with a compositing-style frame-number field in its file name written as printf:
    ``shot.####.exr`` → ``shot.%04d.exr``, ``shot.@.exr`` → ``shot.%d.exr``, ``shot.@@@.exr`` →
    ``shot.%03d.exr``. One ``#`` or ``@`` per digit, zero-padded to that width (Nuke's ``#``; Maya
    FCheck's and RV's ``@``); a single ``#`` is one digit, not RV's four. Only the last run of ``#`` or
    ``@`` in the file name counts, and only in the name of an image file (a frame pattern): folders, video
    names and files that exist (``take#2.png``) keep their ``#`` and ``@``. A path holding a printf field
    already, or none, comes back as it is."""
    directory, name = os.path.split(path)
    runs = list(_PADDING_FIELD.finditer(name))
    if not runs or _NUMBER_FIELD.search(name) or not is_image_path(name) or os.path.lexists(path):
        return path
    m = runs[-1]
    width = len(m.group())
    field = "%d" if width == 1 else f"%0{width}d"
    return os.path.join(directory, f"{name[:m.start()]}{field}{name[m.end():]}")


def has_number_field(path: str) -> bool:
    """True if the file name (not the folders) contains a printf ``%d`` / ``%0Nd`` field, or a ``####`` /
    ``@`` field that normalize_pattern turns into one."""
    return _NUMBER_FIELD.search(os.path.basename(normalize_pattern(path))) is not None


def format_pattern(pattern: str, number: int) -> str:
    """Fill the number field of ``pattern`` (a path whose file name contains ``%d``/``%0Nd``, or
    ``####``/``@``: see normalize_pattern)."""
    directory, name = os.path.split(normalize_pattern(pattern))
    m = _NUMBER_FIELD.search(name)
    if m is None:
        raise ValueError(f"no %d field in {pattern!r}")
    width = int(m.group(1) or 0)
    return os.path.join(directory, f"{name[:m.start()]}{number:0{width}d}{name[m.end():]}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """H×W×3 0–255 (any dtype) → uint8, rounded and clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def to_uint16(image: np.ndarray) -> np.ndarray:
    """H×W×3 float 0–255 → uint16 0–65535 (×257, so 255 ↦ 65535 and 8-bit values stay exact)."""
    return np.clip(np.rint(np.asarray(image, np.float32) * 257.0), 0, 65535).astype(np.uint16)


def from_uint16(image: np.ndarray) -> np.ndarray:
    """uint16 → float32 0–255; ``to_uint16(from_uint16(x)) == x``."""
    return image.astype(np.float32) / 257.0


# --------------------------------------------------------------------------- reading


def read_image(path: str) -> np.ndarray:
    """Read an image file as an H x W x 3 ``uint8`` RGB array.

    Conversions: 16-bit integer images are rounded to 8 bits (``round(v / 257)``);
    grayscale is repeated into 3 channels; alpha is dropped (not composited);
    JPEG EXIF orientation is applied. Float images are clipped to [0, 1]; EXR files
    are assumed to hold *linear* light, so they get the sRGB transfer curve before
    quantising (other float formats, e.g. float TIFF, are taken as already display-encoded).
    EXR is decoded by OpenCV, or by FFmpeg (PyAV) where OpenCV was built without OpenEXR;
    DPX by FFmpeg. Multi-page files give their first page.

    Raises InputError (naming the path) if the file is missing, empty or not a readable image, or
    if its header claims more than limits.MAX_PIXELS (checked before anything is decoded).
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"image not found: {path}") from None
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e.strerror or e}") from None
    if data.size == 0:
        raise InputError(f"image file is empty: {path}")
    size = header_size(io.BytesIO(data))
    if size is not None:
        check_pixels(*size, f"image {path}")
    ext = os.path.splitext(path)[1].lower()
    is_exr = ext == ".exr"
    img = None
    if ext not in _FFMPEG_EXTENSIONS:
        try:
            # ANYDEPTH keeps 16-bit/float samples; ANYCOLOR keeps grayscale as one channel.
            img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        except cv2.error:
            img = None
    if img is not None and img.size:
        return to_rgb8(img, linear=is_exr, path=path)
    if is_exr or ext in _FFMPEG_EXTENSIONS:
        # Some OpenCV wheels are built without OpenEXR, and none reads DPX; FFmpeg decodes both.
        img = _read_with_ffmpeg(path)
        if img is not None:
            return to_rgb8(img, linear=is_exr, bgr=False, path=path)
    raise InputError(f"not a readable image: {path}")


def _read_with_ffmpeg(path: str) -> np.ndarray | None:
    """RGB array of an image file via PyAV — float32 for EXR, uint8 or uint16 (by the file's depth) for the
    rest — or None if it cannot be decoded."""
    import av  # only needed for these formats

    try:
        with av.open(path) as container:
            frame = next(container.decode(video=0))
            if not path.lower().endswith(".exr"):
                # 8-bit samples stay 8-bit: swscale's widening to 16 bits is not exactly ×257.
                deep = max(c.bits for c in frame.format.components) > 8
                return frame.reformat(format="rgb48le" if deep else "rgb24").to_ndarray()
            if frame.format.name in ("gbrpf16le", "gbrapf16le", "grayf16le"):
                return _half_planes(frame)
            if frame.format.name not in ("gbrpf32le", "gbrapf32le", "grayf32le"):
                frame = frame.reformat(format="gbrpf32le")
            return frame.to_ndarray()
    except (av.FFmpegError, OSError, StopIteration, ValueError):
        return None


def _half_planes(frame) -> np.ndarray:
    """RGB(A)/gray float32 of a planar half-float frame, read from the planes directly: PyAV cannot
    convert these to numpy, and swscale's conversion to float32 loses the shadows (it passes through
    16-bit integers, so linear values below ~1e-4 collapse)."""
    planes = [np.frombuffer(p, dtype="<f2").reshape(frame.height, p.line_size // 2)[:, :frame.width]
              for p in frame.planes]
    if len(planes) >= 3:  # stored G, B, R(, A)
        planes = [planes[2], planes[0], planes[1], *planes[3:]]
    return np.stack(planes, -1).astype(np.float32)


def linear_to_srgb(f: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1): linear light in [0, 1] → display values in [0, 1]."""
    return np.where(f <= 0.0031308, 12.92 * f, 1.055 * np.power(f, 1 / 2.4) - 0.055)


def srgb_to_linear(f: np.ndarray) -> np.ndarray:
    """Inverse of linear_to_srgb."""
    return np.where(f <= 0.04045, f / 12.92, np.power((f + 0.055) / 1.055, 2.4))


def to_rgb8(img: np.ndarray, *, linear: bool = False, bgr: bool = True, path: str = "image") -> np.ndarray:
    """Convert a BGR(A) (OpenCV order; ``bgr=False``: RGB(A)) or gray image of any common depth
    to H x W x 3 uint8 RGB, as described in read_image."""
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels < 3:
        img = np.repeat(img[:, :, :1], 3, axis=2)  # gray (+alpha)
    elif bgr:
        img = img[:, :, 2::-1]  # BGR(A) -> RGB, alpha dropped
    else:
        img = img[:, :, :3]

    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        # 257 maps 65535 exactly to 255 and inverts the usual 8->16 bit expansion (v * 257).
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype.kind == "f":
        f = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        f = np.clip(f, 0.0, 1.0)
        if linear:
            f = linear_to_srgb(f)
        img = np.floor(f * 255.0 + 0.5).astype(np.uint8)
    else:
        raise InputError(f"unsupported pixel type {img.dtype} in {path}")
    return np.ascontiguousarray(img)


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file as read_image returns it: from the header alone for PNG, PNM,
    EXR, DPX and JPEG (its EXIF rotation applied, as read_image does); others are decoded, after the
    header check. InputError above limits.MAX_PIXELS."""
    try:
        with open(path, "rb") as f:
            size = header_size(f, exact_only=True)
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e.strerror or e}") from None
    if size is None:
        h, w = read_image(path).shape[:2]
        return w, h
    check_pixels(*size, f"image {path}")
    return size


def image_has_alpha(path: str) -> bool:
    """Whether the image file ``path`` carries alpha (an alpha channel, or a transparent palette entry or
    colour), from its header alone: read_image drops alpha, so callers can say so. PNG, TIFF, WebP and
    the rest that Pillow knows by their mode; EXR by an ``A`` channel; DPX by its RGBA descriptor. False
    for a file none of these recognise (read_image then reports what is wrong with it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)  # EXR attributes come first; 64 kB holds any real header
            if head[:4] == _EXR_MAGIC:
                return any(c == b"A" or c.endswith(b".A") for c in _exr_channels(head))
            order = _DPX_MAGICS.get(head[:4])
            if order is not None:
                return len(head) > 800 and head[800] in (4, 51, 52)  # alpha, RGBA, ABGR elements
            image = _pillow_image(f)
    except OSError:
        return False
    if image is None:
        return False
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def header_size(f, exact_only: bool = False) -> tuple[int, int] | None:
    """(width, height) from the header of the image in the seekable binary file ``f``, reading no
    pixels; None when the format is not recognised. PNG, PNM and PAM, EXR and DPX are parsed here, JPEG
    by Pillow with its EXIF rotation applied; with ``exact_only`` false, other formats are asked of
    Pillow too, whose size ignores their rotation tags (the pixel count is right, the orientation may
    not be)."""
    f.seek(0)
    head = f.read(2048)  # PNG IHDR, PNM/PAM and DPX sizes lie in the first 2 kB
    for parse in (_png_size, _pnm_size, _dpx_size):
        size = parse(head)
        if size is not None:
            return size
    if head[:4] == _EXR_MAGIC:
        f.seek(0)
        return _exr_size(f.read(1 << 16))  # EXR attributes come first; 64 kB holds any real header
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg_size(f)
    return None if exact_only else _pillow_size(f)


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


# P1–P6: magic, then width and height as decimal tokens ('#' comments allowed); P7 (PAM): WIDTH/HEIGHT lines.
_PNM_SIZE = re.compile(rb"P[1-6](?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)")
_PAM_FIELD = re.compile(rb"^(WIDTH|HEIGHT)\s+(\d+)", re.M)


def _pnm_size(head: bytes) -> tuple[int, int] | None:
    m = _PNM_SIZE.match(head)
    if m:
        return int(m.group(1)), int(m.group(2))
    if head[:3] == b"P7\n":
        fields = dict(_PAM_FIELD.findall(head.split(b"ENDHDR", 1)[0]))
        if b"WIDTH" in fields and b"HEIGHT" in fields:
            return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
    return None


def _dpx_size(head: bytes) -> tuple[int, int] | None:
    # SMPTE 268M: image information header at offset 768; pixels per line at 772, lines at 776.
    order = _DPX_MAGICS.get(head[:4])
    if order is None or len(head) < 780:
        return None
    return struct.unpack_from(order + "II", head, 772)


def _exr_attribute(head: bytes, wanted: bytes) -> bytes | None:
    """The value of the attribute ``wanted`` in an OpenEXR header: a list of (name NUL, type NUL, int32
    size, value) attributes after the 8-byte magic and version, ended by an empty name."""
    pos = 8
    try:
        while head[pos] != 0:
            name_end = head.index(b"\0", pos)
            type_end = head.index(b"\0", name_end + 1)
            (length,) = struct.unpack_from("<i", head, type_end + 1)
            value = type_end + 5
            if head[pos:name_end] == wanted:
                return head[value:value + length]
            pos = value + length
    except (IndexError, ValueError, struct.error):
        pass
    return None


def _exr_size(head: bytes) -> tuple[int, int] | None:
    """Size from an OpenEXR header's dataWindow (box2i: xMin, yMin, xMax, yMax, inclusive)."""
    box = _exr_attribute(head, b"dataWindow")
    if box is None or len(box) < 16:
        return None
    x0, y0, x1, y1 = struct.unpack_from("<4i", box)
    return x1 - x0 + 1, y1 - y0 + 1


def _exr_channels(head: bytes) -> list[bytes]:
    """Channel names of an OpenEXR header's chlist: each a name NUL and 16 bytes (pixel type, linear
    flag, 3 reserved, x and y sampling), ended by an empty name."""
    chlist, names, pos = _exr_attribute(head, b"channels") or b"", [], 0
    while pos < len(chlist) and chlist[pos] != 0:
        end = chlist.find(b"\0", pos)
        if end < 0:
            break
        names.append(chlist[pos:end])
        pos = end + 17
    return names


def _jpeg_size(f) -> tuple[int, int] | None:
    # EXIF orientations 5–8 turn the picture a quarter turn; OpenCV applies them when decoding.
    image = _pillow_image(f)
    if image is None or image.format != "JPEG":
        return None
    try:
        turned = image.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 — broken EXIF: let the decoder decide
        return None
    return image.size[::-1] if turned else image.size


def _pillow_size(f) -> tuple[int, int] | None:
    image = _pillow_image(f)
    return None if image is None else image.size


def _pillow_image(f):
    """Pillow's lazy image of ``f`` (header read, no pixels), or None. Pillow's own decompression-bomb
    check (a warning above 89 megapixels, an error above 179, and no size) is bypassed by calling the
    format plugins directly, as Image.open does, so that check_pixels applies videostyle's limit."""
    try:
        from PIL import Image  # installed with torchvision
    except ImportError:
        return None
    Image.init()
    f.seek(0)
    prefix = f.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            accepted = accept is None or accept(prefix)
            if not accepted or isinstance(accepted, str):  # a str is Pillow's "looks like it, but" warning
                continue
            f.seek(0)
            return factory(f, "")
        except Exception:  # noqa: BLE001 — a plugin that fails on the header did not recognise the file
            continue
    return None


def _natural_key(name: str) -> list:
    # re.split with a capture group alternates text, digits, text, ... so positions always
    # compare str with str and int with int.
    parts = _DIGITS.split(name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


def _last_number(name: str) -> int | None:
    found = _DIGITS.findall(os.path.splitext(name)[0])
    return int(found[-1]) if found else None


def list_sequence(path: str) -> list[tuple[int | None, str]]:
    """List the frames of a sequence as ``(frame number or None, file path)``.

    ``path`` is a folder (every image file in it, hidden files skipped, natural sort so
    ``2.png`` comes before ``10.png``; the number is the last digit group of the name) or a
    printf pattern such as ``shot/%04d.png`` or ``shot/####.png`` (only names the pattern would produce,
    sorted by number). Returns an empty list when nothing matches. Raises InputError if the folder
    does not exist.
    """
    if has_number_field(path):
        path = normalize_pattern(path)  # shot/####.png lists like shot/%04d.png
        directory, name = os.path.split(path)
        directory = directory or "."
        if not os.path.isdir(directory):
            raise InputError(f"folder not found: {directory} (for frame pattern {path})")
        m = _NUMBER_FIELD.search(name)
        prefix, suffix = name[: m.start()], name[m.end():]
        candidate = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
        found = []
        for entry in os.scandir(directory):
            cm = candidate.fullmatch(entry.name)
            # Re-formatting rejects names the pattern would not produce (e.g. "7.png" for %04d).
            if cm and format_pattern(name, int(cm.group(1))) == entry.name and entry.is_file():
                found.append((int(cm.group(1)), os.path.join(os.path.dirname(path), entry.name)))
        found.sort()
        return found

    if not os.path.isdir(path):
        raise InputError(f"folder not found: {path}")
    names = [
        e.name
        for e in os.scandir(path)
        if not e.name.startswith(".") and is_image_path(e.name) and e.is_file()
    ]
    names.sort(key=_natural_key)
    return [(_last_number(n), os.path.join(path, n)) for n in names]


# --------------------------------------------------------------------------- writing


def _check_rgb(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype in (np.uint8, np.uint16) and image.ndim == 3
            and image.shape[2] == 3):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an H x W x 3 uint8 or uint16 RGB image, got shape {shape} dtype {dtype}")


# Formats that hold 16 bits per channel; .exr always gets half floats.
SIXTEEN_BIT_EXTENSIONS = frozenset({".png", ".tif", ".tiff"})


def encode_image(image: np.ndarray, ext: str = ".png") -> bytes:
    """File bytes of an H x W x 3 RGB array, format chosen by ``ext``. uint8 gives 8-bit files; uint16
    gives 16-bit PNG/TIFF; ``.exr`` gives linear half floats from either (see encode_exr)."""
    _check_rgb(image)
    ext = ext.lower()
    if ext == ".exr":
        return encode_exr(image)
    if image.dtype == np.uint16 and ext not in SIXTEEN_BIT_EXTENSIONS:
        raise OutputError(f"{ext} cannot hold 16-bit frames: use .png, .tif or .exr")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(image[:, :, ::-1]), params)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"cannot encode an image as {ext}")
    return buf.tobytes()


def encode_exr(image: np.ndarray) -> bytes:
    """OpenEXR bytes (RGB half float, ZIP) of a display-encoded uint8/uint16 RGB image: the sRGB curve is
    removed, so the file holds linear light with Rec.709/sRGB primaries in [0, 1] and an 8-bit image reads
    back exactly. The one EXR writer is exr.encode_exr (the OpenEXR library); colour-managed frames go
    through plates.PlateEncoder instead."""
    from .exr import encode_exr as write_exr

    _check_rgb(image)
    peak = 255.0 if image.dtype == np.uint8 else 65535.0
    return write_exr(srgb_to_linear(image.astype(np.float32) / peak).astype(np.float32))


def read_image16(path: str) -> np.ndarray:
    """A PNG/TIFF as H x W x 3 uint16 RGB, exactly (8-bit files are expanded ×257). For lossless state
    files such as the work folder's frames; other images go through read_image."""
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None or img.ndim != 3 or img.shape[2] != 3 or img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"not a readable RGB PNG/TIFF: {path}")
    if img.dtype == np.uint8:
        img = img.astype(np.uint16) * 257
    return np.ascontiguousarray(img[:, :, ::-1])


def write_png(path: str, image: np.ndarray) -> None:
    """Write an H x W x 3 uint8 (uint16) RGB array as an 8-bit (16-bit) PNG, atomically (atomic.py: a
    reader never sees a half-written file). Raises OutputError."""
    try:
        write_atomic(path, encode_image(image, ".png"))
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


class SequenceWriter:
    """Writes numbered frames (format by the pattern's extension; 8 or 16 bits per channel as the arrays
    given, .exr as half floats) into a hidden staging folder; commit() puts them in place.

    ``pattern`` is a path whose file name holds the number field (e.g. ``out/%06d.png``). "Frames of the
    pattern" are the files ``list_sequence(pattern)`` lists, whatever their numbers. What may happen to
    the target folder:

    - It already holds frames of the pattern: refused (OutputError, one line) unless ``overwrite``; with
      ``overwrite`` the committed set replaces them ALL (frames of the pattern that the new set lacks are
      deleted, so no stale higher-numbered frame survives). Nothing else in the folder is touched.
    - Staging: ``.FOLDER.partial-TAG-XXXXXXXX`` (TAG from the pattern's file name) inside the target folder
      if it exists, else next to it (hidden: ``list_sequence`` never picks it up). The writer holds a lock
      on it while alive, so at open the staging folders of this output that no live writer holds (left by
      killed runs; also the unlocked ``.FOLDER.partial-XXXXXXXX`` of older versions) are deleted.
    - Commit: every frame is fsynced as it is staged. A target folder that does not exist appears in one
      rename, complete or not at all. Into an existing folder the frames are renamed one by one (each
      atomic), then stale frames are deleted and the folder fsynced: a kill inside that window (a rename
      per frame) can leave new frames next to old ones of the pattern; the next run removes the staging
      folder left behind, and a rerun with ``overwrite`` replaces the mix.
    """

    def __init__(self, pattern: str, first_number: int, overwrite: bool = False,
                 numbers: Sequence[int] | None = None):
        self.pattern = pattern
        self.directory = os.path.dirname(os.path.abspath(pattern))
        self.next_number = first_number
        # The k-th frame written is named numbers[k] (an input's own numbers, gaps kept); without them,
        # frames are numbered on from first_number.
        self._numbers = numbers
        self.overwrite = overwrite
        self._ext = os.path.splitext(pattern)[1] or ".png"
        self._staged: list[str] = []
        if os.path.isdir(self.directory):
            stage_parent = self.directory
        elif os.path.lexists(self.directory):
            raise OutputError(f"output folder {self.directory} exists and is not a folder")
        else:
            stage_parent = os.path.dirname(self.directory)
            if not os.path.isdir(stage_parent):
                raise OutputError(f"output folder does not exist: {stage_parent}")
        self._refuse_existing()
        prefix = _stage_prefix(self.directory, pattern)
        try:
            for parent in {os.path.dirname(self.directory), stage_parent}:
                _remove_dead_stages(parent, prefix, os.path.basename(self.directory))
            self._stage, self._lock = _claim_stage(stage_parent, prefix)
        except OSError as e:
            raise OutputError(f"cannot write in {stage_parent}: {e.strerror or e}") from None

    def _existing(self) -> list[str]:
        """File names of the frames of the pattern now in the target folder."""
        if not os.path.isdir(self.directory):
            return []
        return [os.path.basename(p) for _, p in list_sequence(self.pattern)]

    def _refuse_existing(self) -> None:
        existing = [] if self.overwrite else self._existing()
        if existing:
            raise OutputError(f"{self.directory} already holds {len(existing)} frame(s) named like "
                              f"{os.path.basename(self.pattern)} (e.g. {existing[0]}); "
                              "use -y/--overwrite to replace them")

    def write(self, image: np.ndarray) -> None:
        """Stage one H x W x 3 uint8 or uint16 RGB frame; every frame must have the first one's size."""
        _check_rgb(image)
        if self._staged and image.shape != self._shape:
            h, w = self._shape[:2]
            raise ValueError(f"frame size {image.shape[1]}x{image.shape[0]} differs from the first frame's {w}x{h}")
        self._shape = image.shape
        self._stage_bytes(encode_image(image, self._ext))

    def write_encoded(self, data: bytes, shape: tuple) -> None:
        """Stage one frame already encoded in the pattern's format (plates.PlateEncoder), ``shape`` the
        H x W x 3 of its picture (every frame must have the first one's)."""
        if self._staged and tuple(shape) != tuple(self._shape):
            h, w = self._shape[:2]
            raise ValueError(f"frame size {shape[1]}x{shape[0]} differs from the first frame's {w}x{h}")
        self._shape = tuple(shape)
        self._stage_bytes(data)

    def _stage_bytes(self, data: bytes) -> None:
        if self._numbers is not None:
            if len(self._staged) >= len(self._numbers):
                raise ValueError(f"more frames than the {len(self._numbers)} numbers given for {self.pattern}")
            self.next_number = self._numbers[len(self._staged)]
        name = os.path.basename(format_pattern(self.pattern, self.next_number))
        try:
            _write_synced(os.path.join(self._stage, name), data)
        except OSError as e:
            raise OutputError(f"cannot write frame {name} for {self.pattern}: {e.strerror or e}") from None
        self._staged.append(name)
        self.next_number += 1

    @property
    def count(self) -> int:
        return len(self._staged)

    def commit(self) -> None:
        """Put the staged frames in place (see the class docstring); the staging folder is gone after."""
        try:
            self._refuse_existing()  # frames of the pattern may have appeared since open
            if os.path.lexists(self.directory) or not self._publish_folder():
                self._publish_frames()
        except OSError as e:
            raise OutputError(f"cannot move frames into {self.directory}: {e.strerror or e}") from None
        finally:
            self.abort()

    def _publish_folder(self) -> bool:
        """Rename the staging folder to the (absent) target folder; False if the target appeared."""
        try:
            os.rename(self._stage, self.directory)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False
            raise
        _fsync_dir(os.path.dirname(self.directory))
        return True

    def _publish_frames(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        new = set(self._staged)
        for name in self._staged:
            os.replace(os.path.join(self._stage, name), os.path.join(self.directory, name))
        for name in self._existing():
            if name not in new:  # an older, longer sequence: its higher numbers must not survive
                os.remove(os.path.join(self.directory, name))
        _fsync_dir(self.directory)

    def abort(self) -> None:
        """Delete the staging folder and release its lock; never raises."""
        shutil.rmtree(self._stage, ignore_errors=True)
        locks.release(self._lock)
        self._lock = None


def _stage_prefix(directory: str, pattern: str) -> str:
    """``.FOLDER.partial-TAG-``: the staging folders of this output (folder and pattern) and no other."""
    tag = hashlib.sha1(os.path.basename(pattern).encode()).hexdigest()[:8]
    return f".{os.path.basename(directory)}.partial-{tag}-"


def _claim_stage(parent: str, prefix: str):
    """Create a staging folder ``prefix`` + 8 hex digits in ``parent``, its lock (locks.py) held first, so
    that _remove_dead_stages of another run leaves it alone. Returns (path, the held lock)."""
    # The umask applies, as for any folder the user creates.
    return locks.claim(lambda path: os.mkdir(path, 0o777), lambda token: os.path.join(parent, prefix + token))


def _remove_dead_stages(parent: str, prefix: str, folder: str) -> None:
    """Delete staging folders of this output in ``parent`` that no live writer holds (left by a killed
    run), and the unlocked ``.FOLDER.partial-XXXXXXXX`` of older versions. A folder whose lock cannot
    be taken (in use) is left alone."""
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{8}|" + re.escape(f".{folder}.partial-") + r"[a-z0-9_]{8}")

    def remove(path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
    locks.remove_abandoned(parent, pattern, remove)


def _write_synced(path: str, data: bytes) -> None:
    """Write a new file and flush it to the disk, so that a later rename never exposes a torn frame."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask applies
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    """Make renames and deletions in ``folder`` durable (skipped where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
