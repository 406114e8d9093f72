"""Rebuild the bundled assets from their sources (see README.md in this folder for where each comes from).

Run by hand, never at install or run time: ``python assets/make_assets.py SOURCES_DIR`` where SOURCES_DIR
holds ``astronaut.png`` (scikit-image 0.26.0 wheel, ``skimage/data/astronaut.png``), ``starry_night.jpg``
(Debian ``opencv-doc`` 4.6.0+dfsg-12, ``usr/share/doc/opencv-doc/examples/data/starry_night.jpg``) and
``great_wave.png`` (made by ``great_wave_from_pieces`` from the GCompris puzzle pieces, see README.md).
Needs only numpy, OpenCV, PyAV.
"""
from __future__ import annotations

import os
import re
import sys
from fractions import Fraction

import av
import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP_SIZE = (320, 180)          # 16:9, small enough for a CPU demo, big enough to look at
FPS = 12
SECONDS = 3
PAINTING_SIDE = 512             # longer side of the bundled paintings
SAMPLE_RATE = 44100


def _ease(t: float) -> float:
    """Smoothstep: the camera starts and stops gently, as a real move would."""
    return t * t * (3 - 2 * t)


def _window(t: float) -> tuple[float, float, float]:
    """(x, y, width) of the 16:9 crop at time t ∈ [0, 1] on the 512×512 photograph: a pan from the flag
    to the shuttle model with a slow push in on the face."""
    x0, y0, w0 = 0.0, 20.0, 440.0
    x1, y1, w1 = 150.0, 0.0, 340.0
    e = _ease(t)
    return x0 + (x1 - x0) * e, y0 + (y1 - y0) * e, w0 + (w1 - w0) * e


def clip_frames(photo: np.ndarray) -> list[np.ndarray]:
    """RGB frames of the camera move; each crop is resampled by one affine warp (sub-pixel smooth)."""
    # A light blur before shrinking ~1.1–1.4× keeps the fine print of the badges from aliasing.
    soft = cv2.GaussianBlur(photo, (0, 0), 0.6)
    out_w, out_h = CLIP_SIZE
    frames = []
    n = FPS * SECONDS
    for i in range(n):
        x, y, w = _window(i / (n - 1))
        s = out_w / w
        m = np.array([[s, 0, -x * s], [0, s, -y * s]], np.float32)
        frames.append(cv2.warpAffine(soft, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return frames


def tone(seconds: float) -> np.ndarray:
    """A soft A-major chord with fades: a real audio track for the demo to carry through."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.3)
    return (0.25 * wave * fade).astype(np.float32)


def write_clip(path: str, frames: list[np.ndarray]) -> None:
    with av.open(path, "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height = CLIP_SIZE
        v.pix_fmt = "yuv420p"
        v.options = {"crf": "24", "preset": "veryslow"}
        a = c.add_stream("aac", rate=SAMPLE_RATE)
        a.codec_context.layout = "mono"
        a.bit_rate = 48000
        for image in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        samples = tone(len(frames) / FPS)
        step = 1024
        for k in range(0, len(samples), step):
            chunk = samples[k:k + step][None, :]
            f = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            f.sample_rate = SAMPLE_RATE
            f.pts = k
            f.time_base = Fraction(1, SAMPLE_RATE)
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)


def write_painting(src: str, dst: str) -> None:
    image = cv2.imread(src, cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    s = PAINTING_SIDE / max(h, w)
    small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(dst, small, [cv2.IMWRITE_JPEG_QUALITY, 90])


def great_wave_from_pieces(resource_dir: str) -> np.ndarray:
    """BGR image of The Great Wave put back together from the GCompris "paintings" puzzle: each piece
    (RGBA .webp, a jigsaw shape) is placed with its centre at the board's fractional (x, y) of a 702×515
    area and alpha-composited; the ragged outer edge is cropped."""
    board = open(os.path.join(resource_dir, "board", "board7_0.qml")).read()
    items = re.findall(r'"pixmapfile" : "(image/[^"]+\.webp)",\s*"x" : "([\d.]+)",\s*"y" : "([\d.]+)"', board)
    w_area, h_area = 702, 515
    canvas = np.zeros((h_area * 2, w_area * 2, 4), np.float32)
    for name, x, y in items:
        piece = cv2.imread(os.path.join(resource_dir, name), cv2.IMREAD_UNCHANGED)
        h, w = piece.shape[:2]
        x0 = round(float(x) * w_area) + w_area // 2 - w // 2
        y0 = round(float(y) * h_area) + h_area // 2 - h // 2
        a = piece[..., 3:4].astype(np.float32) / 255
        region = canvas[y0:y0 + h, x0:x0 + w]
        region[..., :3] = region[..., :3] * (1 - a) + piece[..., :3] * a
        region[..., 3:4] += a * (1 - region[..., 3:4])
    ys, xs = np.nonzero(canvas[..., 3] > 0.5)
    crop = canvas[ys.min() + 2:ys.max() - 1, xs.min() + 2:xs.max() - 1]
    return (crop[..., :3] / np.maximum(crop[..., 3:4], 1e-3)).clip(0, 255).astype(np.uint8)


def main(sources: str) -> None:
    photo = cv2.imread(os.path.join(sources, "astronaut.png"), cv2.IMREAD_COLOR)[..., ::-1]
    write_clip(os.path.join(HERE, "astronaut.mp4"), clip_frames(np.ascontiguousarray(photo)))
    write_painting(os.path.join(sources, "starry_night.jpg"), os.path.join(HERE, "starry_night.jpg"))
    write_painting(os.path.join(sources, "great_wave.png"), os.path.join(HERE, "great_wave.jpg"))


if __name__ == "__main__":
    main(sys.argv[1])
