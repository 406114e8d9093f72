"""Tiny synthetic media for the tests, written with PyAV."""

import os
from fractions import Fraction

import av
import cv2
import numpy as np

W, H = 48, 32
SAMPLE_RATE = 44100


def texture(h: int, w: int, cells: tuple[int, int], seed: int, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """H×W×3 uint8 smooth random texture: a ``cells`` grid of random colours (seeded) resized up, so
    optical flow has structure to follow at every position."""
    small = np.random.default_rng(seed).uniform(0, 255, (*cells, 3)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=interpolation).clip(0, 255).astype(np.uint8)


def pattern_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i: a colour that changes with i plus a fixed block in the top-left corner."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (40 + 25 * i) % 256
    img[..., 2] = 120
    img[: h // 2, : w // 2, 1] = 200
    return img


def make_sequence(folder, n: int, image, w: int = W, h: int = H) -> str:
    """``folder`` (created) with PNG frames 000.png … of ``image(i, w, h)`` (RGB uint8); returns its path."""
    os.makedirs(folder)
    for i in range(n):
        cv2.imwrite(os.path.join(folder, f"{i:03d}.png"), image(i, w, h)[..., ::-1])
    return str(folder)


def make_video(
    path,
    n=8,
    w=W,
    h=H,
    rate=Fraction(20),
    pts=None,
    time_base=None,
    audio=None,
    codec="libx264",
    gop=None,
    rotation=None,
    image=None,
):
    """Write a test video with PyAV. ``audio``: None or an audio codec name (a 440 Hz sine);
    ``image(i, w, h)`` makes frame i (default ``pattern_image``)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height = w, h
        s.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        if time_base is not None:
            s.time_base = time_base
            s.codec_context.time_base = time_base
        if gop is not None:
            s.codec_context.gop_size = gop
            s.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0"}
        if rotation is not None:
            s.set_display_rotation(rotation)
        if audio:
            a = c.add_stream(audio, rate=SAMPLE_RATE)
            a.codec_context.layout = "stereo"
        for i in range(n):
            f = av.VideoFrame.from_ndarray((image or pattern_image)(i, w, h), format="rgb24")
            if pts is not None:
                f.pts = pts[i]
                f.time_base = time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if audio:
            seconds = float(n / rate) if pts is None else float((2 * pts[-1] - pts[-2]) * time_base)
            total = int(seconds * SAMPLE_RATE)
            t = np.arange(total) / SAMPLE_RATE
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, total, 1024):
                chunk = np.ascontiguousarray(np.stack([wave[k : k + 1024]] * 2))
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = SAMPLE_RATE
                af.pts = k
                af.time_base = Fraction(1, SAMPLE_RATE)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return str(path)
