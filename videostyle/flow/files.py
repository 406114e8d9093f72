"""Optical flow and reliability masks on disk, interchangeable with artistic-videos (Ruder et al.).

Middlebury ``.flo`` (all little-endian)::

    offset 0   float32  202021.25        magic; the bytes read 'PIEH'
    offset 4   int32    width
    offset 8   int32    height
    offset 12  float32  height × width × 2, row-major, (u, v) interleaved per pixel

(u, v) follow the videostyle convention: a file holding flow a→b says pixel p of frame a corresponds
to p + (u, v) in frame b.

Reliability masks are 8-bit binary PGM (``P5``), one byte per pixel, 255 = reliable, 0 = unreliable
(occluded, left the frame, or a motion boundary); a weight w ∈ [0, 1] is stored as round(255·w).

Names follow artistic-videos' makeOptFlow.sh, with 1-based frame numbers i < j:

    forward_{i}_{j}.flo    flow i → j
    backward_{j}_{i}.flo   flow j → i
    reliable_{j}_{i}.pgm   weights of backward_{j}_{i} (pixels of frame j)
    reliable_{i}_{j}.pgm   weights of forward_{i}_{j}  (pixels of frame i)

so ``reliable_{a}_{b}.pgm`` always holds the weights of the flow a → b.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import struct
from collections import deque
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from ..errors import ConfigError, InputError, OutputError
from .estimate import consistency_weights

FLO_MAGIC = 202021.25
_FLO_HEADER = struct.Struct("<fii")
assert struct.pack("<f", FLO_MAGIC) == b"PIEH"
# Middlebury's own reader rejects sides beyond 99999; a larger header is corruption, not a frame.
_MAX_SIDE = 99999


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def _replacing(path: str, ext: str) -> Iterator[str]:
    """Yield a hidden temporary path beside ``path`` ending in ``ext`` (OpenCV's writers choose the format
    by the extension, whatever ``path`` is called); it is renamed over ``path`` when the block succeeds
    and removed otherwise, so a reader (or a crash) never sees a half-written file under the final name.
    The name is reserved with O_EXCL first: OpenCV's writers only say False, and this way a folder that
    cannot be written is reported with the system's reason."""
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.partial-{secrets.token_hex(4)}{ext}")
    try:
        # os.open with 0o666 lets the umask decide permissions, as a plain open() would.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror or e}") from None


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write ``flow`` (H×W×2, any real dtype, stored as float32 pixels, (u, v)) as Middlebury .flo, with
    OpenCV's writer (its bytes are the format's, little-endian on every machine videostyle runs on).

    Atomic (temporary file, then os.replace). Raises ValueError for a wrong shape or a non-finite value
    (no reader could use it), OutputError if the file cannot be written.
    """
    path = os.fspath(path)
    flow = np.ascontiguousarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise ValueError(f"flow must be H x W x 2, got shape {flow.shape}")
    if not np.isfinite(flow).all():
        raise ValueError("flow holds NaN or infinite values")
    with _replacing(path, ".flo") as tmp:
        if not cv2.writeOpticalFlow(tmp, flow):
            raise OutputError(f"cannot write {path}")


def _flo_header(path: str, head: bytes, file_size: int) -> tuple[int, int]:
    if len(head) < _FLO_HEADER.size:
        raise InputError(f"{path} is not a .flo file: {file_size} bytes, shorter than the 12-byte header")
    magic, w, h = _FLO_HEADER.unpack(head[:_FLO_HEADER.size])
    if magic != FLO_MAGIC:
        raise InputError(f"{path} is not a .flo file: it starts with {head[:4]!r}, not b'PIEH'")
    if not (1 <= w <= _MAX_SIDE and 1 <= h <= _MAX_SIDE):
        raise InputError(f"{path} is corrupt: its header gives an impossible size {w}x{h}")
    expected = _FLO_HEADER.size + 8 * w * h
    if file_size < expected:
        raise InputError(f"{path} is truncated: {file_size} bytes, a {w}x{h} flow needs {expected}")
    if file_size > expected:
        raise InputError(f"{path} is corrupt: {file_size} bytes, a {w}x{h} flow has exactly {expected}")
    return w, h


def read_flo_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a .flo file from its header (validated against the file size)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(_FLO_HEADER.size)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise InputError(f"flow file not found: {path}") from None
    except OSError as e:
        raise InputError(f"cannot read flow file {path}: {e.strerror or e}") from None
    return _flo_header(path, head, size)


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury .flo file → H×W×2 float32 (native byte order), pixels, (u, v).

    Raises InputError naming ``path`` for a missing file, wrong magic, impossible size, a file
    shorter or longer than its header says, or a NaN or infinite value. (Our reader rather than
    cv2.readOpticalFlow, which says only "empty" for each of these.)
    """
    path = os.fspath(path)
    data = _read_bytes(path, "flow file")
    w, h = _flo_header(path, data, len(data))
    flow = np.frombuffer(data, dtype="<f4", offset=_FLO_HEADER.size).reshape(h, w, 2).astype(np.float32)
    _check_finite(path, flow)
    return flow


def _check_finite(path: str, flow: np.ndarray) -> None:
    # A NaN would make the warm start NaN, which is written as black and carried into every later frame.
    bad = ~np.isfinite(flow)
    if bad.any():
        y, x, _ = np.argwhere(bad)[0]
        raise InputError(f"{path} holds {int(bad.sum())} NaN or infinite values (the first at pixel x={x}, y={y}); "
                         "flows must be finite")


def write_mask(path: str | os.PathLike, weight: np.ndarray) -> None:
    """Write reliability weights (H×W, values in [0, 1]; clipped, NaN → 0) as an 8-bit binary PGM:
    round(255·w), so 255 = reliable. Written by OpenCV (``P5\\nW H\\n255\\n`` and the samples). Atomic;
    OutputError if it cannot be written."""
    path = os.fspath(path)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 2 or weight.size == 0:
        raise ValueError(f"mask must be H x W, got shape {weight.shape}")
    pixels = np.rint(np.clip(np.nan_to_num(weight, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    with _replacing(path, ".pgm") as tmp:
        if not cv2.imwrite(tmp, pixels, [cv2.IMWRITE_PXM_BINARY, 1]):
            raise OutputError(f"cannot write {path}")


_BACKWARD = re.compile(r"backward_(\d+)_(\d+)\.flo")
_PGM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)+(\d+)")


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a binary PGM (P5, 8- or 16-bit) → H×W float32 weights in [0, 1] (sample / maxval).

    Raises InputError naming ``path`` if it is missing, not a P5 PGM, or truncated.
    """
    path = os.fspath(path)
    data = _read_bytes(path, "mask")
    if data[:2] != b"P5":
        raise InputError(f"{path} is not a binary PGM mask (it does not start with P5)")
    pos, values = 2, []
    for _ in range(3):  # width, height, maxval; '#' comments may sit between them
        m = _PGM_TOKEN.match(data, pos)
        if m is None:
            raise InputError(f"{path} has a broken PGM header")
        values.append(int(m.group(1)))
        pos = m.end()
    w, h, maxval = values
    if pos >= len(data) or not data[pos:pos + 1].isspace():
        raise InputError(f"{path} has a broken PGM header")
    if not (1 <= w <= _MAX_SIDE and 1 <= h <= _MAX_SIDE and 1 <= maxval <= 65535):
        raise InputError(f"{path} has an impossible PGM header: {w}x{h}, maxval {maxval}")
    pos += 1  # exactly one whitespace byte separates the header from the samples
    dtype = np.dtype("u1") if maxval < 256 else np.dtype(">u2")
    need = w * h * dtype.itemsize
    if len(data) - pos < need:
        raise InputError(f"{path} is truncated: {len(data) - pos} bytes of samples, a {w}x{h} mask needs {need}")
    samples = np.frombuffer(data, dtype=dtype, count=w * h, offset=pos).reshape(h, w)
    return np.clip(samples.astype(np.float32) / maxval, 0.0, 1.0)


def finite_flow(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``flow`` as float32 with NaN and infinite components replaced by 0, and the H×W mask of the pixels
    that had one (None when there were none, the usual case, at the cost of one isfinite pass)."""
    flow = np.asarray(flow, dtype=np.float32)
    finite = np.isfinite(flow)
    if finite.all():
        return flow, None
    return np.where(finite, flow, np.float32(0)), ~finite.all(axis=2)


def distrust(weight: np.ndarray, bad: np.ndarray | None) -> np.ndarray:
    """Consistency weights with the pixels of ``bad`` (from finite_flow) set to 0: unreliable."""
    if bad is None:
        return weight
    weight = weight.copy()
    weight[bad] = 0
    return weight


# --------------------------------------------------------------------------- names


def flow_name(kind: str, a: int, b: int) -> str:
    """File name of the flow a → b (1-based frame numbers): ``forward_{a}_{b}.flo`` needs a < b,
    ``backward_{a}_{b}.flo`` needs a > b."""
    if kind == "forward" and a < b or kind == "backward" and a > b:
        return f"{kind}_{a}_{b}.flo"
    if kind not in ("forward", "backward"):
        raise ValueError(f"flow kind must be 'forward' or 'backward', got {kind!r}")
    raise ValueError(f"{kind} flow {a}→{b} runs the wrong way (forward: a < b, backward: a > b)")


def flow_name_between(a: int, b: int) -> str:
    """File name of the flow a → b (1-based, a ≠ b), forward or backward by the order of a and b."""
    if a == b:
        raise ValueError(f"no flow from frame {a} to itself")
    return flow_name("forward" if a < b else "backward", a, b)


def reliable_name(a: int, b: int) -> str:
    """File name of the weights of the flow a → b (1-based), on the pixels of frame a."""
    if a == b:
        raise ValueError(f"no flow from frame {a} to itself")
    return f"reliable_{a}_{b}.pgm"


# --------------------------------------------------------------------------- export


def export_flows(
    source,
    out_dir: str | os.PathLike,
    estimator: Callable[[np.ndarray, np.ndarray], np.ndarray],
    offsets: Iterable[int] = (1,),
    on_pair: Callable[[int, int], None] | None = None,
    resize: Callable[[np.ndarray], np.ndarray] | None = None,
) -> int:
    """Compute and write, for every frame t (0-based) and offset d with t − d ≥ 0, with i = t − d + 1
    and j = t + 1 (1-based): forward_{i}_{j}.flo (flow t−d → t), backward_{j}_{i}.flo (t → t−d),
    reliable_{j}_{i}.pgm (weights of the backward flow) and reliable_{i}_{j}.pgm (of the forward flow).

    ``source``: a media Source (or anything with ``frames()``, or an iterable) yielding Frames or
    RGB uint8 H×W×3 arrays; frames are used as decoded, after ``resize`` if given. ``estimator(a, b)``
    → flow a→b (e.g. a FlowEstimator). ``on_pair(i, j)`` is called with the 1-based numbers after each
    pair is written. Holds only max(offsets) + 1 frames. Creates ``out_dir`` if needed; files are
    written atomically. Returns the number of pairs written.

    Raises ConfigError for offsets that are not positive integers, InputError for frames whose size
    changes, OutputError when the folder or a file cannot be written.
    """
    try:
        steps = sorted({int(d) for d in offsets})
    except (TypeError, ValueError):
        raise ConfigError(f"flow offsets must be positive integers, got {offsets!r}") from None
    if not steps or steps[0] < 1:
        raise ConfigError(f"flow offsets must be positive integers, got {offsets!r}")
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create flow folder {out_dir}: {e.strerror or e}") from None

    frames = source.frames() if hasattr(source, "frames") else source
    recent: deque[np.ndarray] = deque(maxlen=steps[-1] + 1)  # recent[-1] is frame t
    numbers: deque[int] = deque(maxlen=steps[-1] + 1)       # their 1-based numbers in the input
    size = None
    pairs = 0
    for t, item in enumerate(frames):
        image = getattr(item, "image", item)
        # A Frame's own position names its files (a --frames range's flows read back by stylize with the
        # same range); a plain array is named by its place in the iterable.
        numbers.append(getattr(item, "number", t) + 1)
        if resize is not None:
            image = resize(image)
        if size is None:
            size = image.shape[:2]
        elif image.shape[:2] != size:
            raise InputError(f"frame {t + 1} is {image.shape[1]}x{image.shape[0]}, frame 1 is {size[1]}x{size[0]}; "
                             f"flow needs one frame size")
        recent.append(image)
        cur = numbers[-1]
        for d in steps:
            if d >= len(recent):
                break
            prev = numbers[-1 - d]
            earlier = recent[-1 - d]
            forward, bad_forward = finite_flow(estimator(earlier, image))
            backward, bad_backward = finite_flow(estimator(image, earlier))
            write_flo(os.path.join(out_dir, flow_name("forward", prev, cur)), forward)
            write_flo(os.path.join(out_dir, flow_name("backward", cur, prev)), backward)
            write_mask(os.path.join(out_dir, reliable_name(cur, prev)),
                       distrust(consistency_weights(backward, forward), bad_backward))
            write_mask(os.path.join(out_dir, reliable_name(prev, cur)),
                       distrust(consistency_weights(forward, backward), bad_forward))
            pairs += 1
            if on_pair is not None:
                on_pair(prev, cur)
    return pairs


# --------------------------------------------------------------------------- reading a folder


class FlowDirectory:
    """A folder of precomputed flows named as above (e.g. from export_flows or artistic-videos'
    makeOptFlow.sh), read with the stylizer's 0-based frame indices. Flows and masks of another size
    than the processing size (e.g. the reference's, made at the source size) are resized to it."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            raise InputError(f"flow folder not found: {self.path}")
        self._size: tuple[int, int] | None = None  # (width, height) flows are returned at, once set
        self._file_size: tuple[int, int] | None = None  # (width, height) every file of the folder has
        self.resized_from: tuple[int, int] | None = None  # the files' size when it is not the processing size

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def check_size(self, width: int, height: int) -> None:
        """Return every flow and mask read from now on at ``width``×``height`` (the processing size), and
        read one flow file's header now: its size is the one every file must have, and ``resized_from``
        when it differs. InputError if the folder holds no .flo file."""
        names = sorted(n for n in os.listdir(self.path) if n.endswith(".flo") and not n.startswith("."))
        if not names:
            raise InputError(f"no .flo files in flow folder {self.path}")
        self._size = (width, height)
        self._file_size = read_flo_size(self._file(names[0]))
        self.resized_from = self._file_size if self._file_size != self._size else None

    def check_offsets(self, offsets) -> None:
        """InputError if the folder holds no backward flow ``j`` frames apart for an offset ``j`` of
        ``offsets`` (the render's --long-term): found now, not frames into the render."""
        pairs = [(int(m.group(1)), int(m.group(2))) for m in map(_BACKWARD.fullmatch, os.listdir(self.path)) if m]
        apart = {a - b for a, b in pairs}
        # A clip shorter than j + 1 frames has no frames j apart to hold.
        span = max(a for a, _ in pairs) - min(b for _, b in pairs) if pairs else 0
        wanted = ",".join(map(str, sorted(offsets)))
        for j in sorted(offsets):
            if j not in apart and j <= span:
                held = ",".join(str(o) for o in sorted(offsets) if o in apart) or "1"
                raise InputError(f"flow folder {self.path} has no flows {j} frame{'s' if j > 1 else ''} apart, "
                                 f"which --long-term {wanted} needs: write them with `videostyle flow "
                                 f"--long-term {wanted}`, or render with --long-term {held}")

    def _check(self, path: str, size: tuple[int, int]) -> None:
        # Files of two sizes in one folder are two exports mixed, not one flow field resized.
        if self._file_size is not None and size != self._file_size:
            raise InputError(f"{path} is {size[0]}x{size[1]} but the other flows in {self.path} are "
                             f"{self._file_size[0]}x{self._file_size[1]}")

    def _read_flow(self, a: int, b: int) -> np.ndarray:
        """The flow a → b (1-based) as stored, size-checked."""
        path = self._file(flow_name_between(a, b))
        flow = read_flo(path)
        self._check(path, (flow.shape[1], flow.shape[0]))
        return flow

    def _resized(self, flow: np.ndarray) -> np.ndarray:
        return flow if self._size is None else resize_flow(flow, self._size)

    def pair(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow from frame t to frame s (0-based, usually s < t: the current frame and an earlier one)
        and its reliability, at the processing size.

        Returns (flow, weight): flow H×W×2 float32, pixels, t → s (pixel p of frame t came from
        p + flow[p] in frame s; pass it to ``warp`` to bring frame s into frame t), read from
        backward_{t+1}_{s+1}.flo (forward_… when s > t); weight H×W float32 in [0, 1] on frame t's
        pixels, from reliable_{t+1}_{s+1}.pgm, or, without that file, computed by
        ``consistency_weights`` from the flow and the opposite flow s → t. InputError names any
        missing or invalid file.
        """
        a, b = t + 1, s + 1
        flow = self._read_flow(a, b)
        mask_path = self._file(reliable_name(a, b))
        if os.path.isfile(mask_path):
            weight = read_mask(mask_path)
            if weight.shape != flow.shape[:2]:
                raise InputError(f"{mask_path} is {weight.shape[1]}x{weight.shape[0]} but its flow is "
                                 f"{flow.shape[1]}x{flow.shape[0]}")
            return self._resized(flow), weight if self._size is None else resize_mask(weight, self._size)
        opposite = self._read_flow(b, a)
        flow, opposite = self._resized(flow), self._resized(opposite)
        return flow, consistency_weights(flow, opposite)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``flow`` (H×W×2, pixels) at ``size`` = (width, height): the field resampled and each component
    scaled by the size ratio on its axis, so a vector still spans the same part of the picture.
    INTER_AREA when shrinking (the mean motion of the pixels merged, as the frames are shrunk),
    INTER_LINEAR when enlarging."""
    h, w = flow.shape[:2]
    if (w, h) == tuple(size):
        return flow
    shrink = size[0] * size[1] < w * h
    out = cv2.resize(flow, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / w
    out[..., 1] *= size[1] / h
    return out


def resize_mask(weight: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Reliability weights (H×W) at ``size`` = (width, height), nearest neighbour: a mask is a per-pixel
    decision (often 0/1), and blending across an occlusion edge would invent half-trusted pixels."""
    if weight.shape[::-1] == tuple(size):
        return weight
    return cv2.resize(weight, tuple(size), interpolation=cv2.INTER_NEAREST)
