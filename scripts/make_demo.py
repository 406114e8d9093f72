"""Make a small demo clip (with audio) and a procedural 'painting', so the quick start runs offline.

    python scripts/make_demo.py demo/

writes demo/clip.mp4 (320×180, 24 fps, 2 s, a moving scene with a 440 Hz tone) and demo/painting.png.
"""
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS, SECONDS, RATE = 320, 180, 24, 2, 44100


def scene(i: int) -> np.ndarray:
    """A sky-to-ground gradient, a sun, hills that pan, and a ball that crosses the frame."""
    y = np.linspace(0, 1, H)[:, None, None]
    img = (np.array([90, 150, 230]) * (1 - y) + np.array([230, 210, 160]) * y) * np.ones((1, W, 1))
    img = img.astype(np.uint8).copy()
    cv2.circle(img, (250, 45), 22, (255, 220, 90), -1)
    xs = np.arange(W)
    hills = (120 + 18 * np.sin((xs + 3 * i) / 37.0) + 9 * np.sin((xs + 3 * i) / 11.0)).astype(int)
    for x, top in zip(xs, hills):
        img[top:, x] = (60, 130 + (x + 3 * i) % 40, 70)
    cv2.circle(img, (int(30 + 5.5 * i), 110), 16, (200, 40, 50), -1)
    cv2.rectangle(img, (140, 95), (175, 140), (120, 80, 50), -1)
    return img


def painting(size: int = 256, seed: int = 3) -> np.ndarray:
    """Swirling strokes in a saturated palette: enough texture at every scale for Gram statistics."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = 6 * np.sin(3 * xx + 2 * yy) + 4 * np.cos(5 * yy - xx)
    field = np.sin(18 * (xx * np.cos(angle) + yy * np.sin(angle)))
    palette = np.array([[30, 50, 120], [240, 200, 60], [70, 140, 200], [20, 30, 60], [230, 230, 200]], float)
    idx = ((field + 1) / 2 * (len(palette) - 1)).round().astype(int)
    img = palette[idx] + rng.normal(0, 12, (size, size, 3))
    return cv2.GaussianBlur(img.clip(0, 255).astype(np.uint8), (3, 3), 0)


def write_clip(path: Path) -> None:
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        a = c.add_stream("aac", rate=RATE)
        for i in range(FPS * SECONDS):
            for p in v.encode(av.VideoFrame.from_ndarray(scene(i), format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        t = np.arange(RATE * SECONDS) / RATE
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(wave), 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([wave[k:k + 1024]] * 2)),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = RATE, k, Fraction(1, RATE)
            for p in a.encode(frame):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "demo")
    out.mkdir(parents=True, exist_ok=True)
    write_clip(out / "clip.mp4")
    cv2.imwrite(str(out / "painting.png"), painting()[..., ::-1])
    print(f"wrote {out / 'clip.mp4'} and {out / 'painting.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
