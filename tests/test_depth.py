"""Frames for compositing: 16-bit PNG/TIFF and linear half-float EXR outputs, checked with readers that
are not ours (OpenCV for PNG/TIFF, the OpenEXR library for EXR)."""
import os

import cv2
import numpy as np
import OpenEXR
import av
import pytest

from mediagen import make_video, texture
from videostyle.cli import main
from videostyle.io.frames import encode_exr, read_image, srgb_to_linear


def exr_rgb(path) -> np.ndarray:
    """H×W×3 float32 RGB of an EXR file, read by the OpenEXR library; also checks it stores halves."""
    channels = OpenEXR.File(str(path)).channels()
    if "RGB" in channels:
        pixels = channels["RGB"].pixels
    else:
        pixels = np.stack([channels[c].pixels for c in "RGB"], -1)
    assert pixels.dtype == np.float16
    return pixels.astype(np.float32)


def test_exr_encoding_is_linear_half_and_reads_back_exactly(tmp_path):
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2).repeat(2, axis=0)  # 2×256 gray
    ramp[1, :, 0] = 255 - ramp[1, :, 0]  # a different red row: catches channel order
    path = tmp_path / "ramp.exr"
    path.write_bytes(encode_exr(ramp))
    linear = exr_rgb(path)
    assert linear.shape == ramp.shape
    np.testing.assert_allclose(linear, srgb_to_linear(ramp / 255.0), rtol=1e-3, atol=1e-6)
    assert linear[0, 0, 0] == 0.0 and linear[0, 255, 0] == 1.0
    assert abs(linear[0, 128, 1] - 0.2158605) < 2e-4  # sRGB 128 is 21.6 % linear light
    assert (read_image(str(path)) == ramp).all()  # every 8-bit level survives the trip


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """One clip stylized into 8-bit PNG, 16-bit PNG, 16-bit TIFF and EXR frames (same settings)."""
    d = tmp_path_factory.mktemp("depth")
    video = make_video(d / "in.mp4", n=3)
    style = str(d / "style.png")
    cv2.imwrite(style, texture(32, 32, (4, 4), seed=1))
    outputs = {"png8": ("%04d.png", []), "png16": ("%04d.png", ["--depth", "16"]),
               "tif16": ("%04d.tif", ["--depth", "16"]), "exr": ("%04d.exr", []),
               "ffv1": ("out.mkv", ["--depth", "16", "--codec", "ffv1"]),
               "prores": ("out.mov", ["--depth", "16", "--codec", "prores_ks"])}
    for name, (target, extra) in outputs.items():
        os.makedirs(d / name)
        code = main(["stylize", video, "--style", style, "-o", str(d / name / target),
                     "--iterations", "8,4", "--quiet", *extra])
        assert code == 0, name
    return d


def deep_video_frames(path) -> list[np.ndarray]:
    """Decoded by FFmpeg straight to 16-bit RGB (our own reader stops at 8 bits)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb48le") for f in c.decode(video=0)]


def frames(folder, ext):
    names = sorted(os.listdir(folder))
    assert names == [f"{i:04d}.{ext}" for i in (1, 2, 3)]
    return [os.path.join(folder, n) for n in names]


def test_16_bit_png_and_tiff_keep_the_optimizers_precision(renders):
    for p8, p16, t16 in zip(frames(renders / "png8", "png"), frames(renders / "png16", "png"),
                            frames(renders / "tif16", "tif")):
        a8, a16, b16 = (cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in (p8, p16, t16))
        assert a8.dtype == np.uint8 and a16.dtype == np.uint16 and a16.shape == a8.shape
        assert (a16 == b16).all()
        # Finer than 8 bits (most values fall between 8-bit levels), and the 8-bit output is its rounding.
        assert (a16 % 257 != 0).mean() > 0.5
        assert np.abs(a16 / 257.0 - a8).max() <= 0.5 + 1e-9


def test_exr_frames_are_the_16_bit_frames_in_linear_light(renders):
    for p8, p16, e in zip(frames(renders / "png8", "png"), frames(renders / "png16", "png"),
                          frames(renders / "exr", "exr")):
        a16 = cv2.imread(p16, cv2.IMREAD_UNCHANGED)[..., ::-1]
        linear = exr_rgb(e)
        np.testing.assert_allclose(linear, srgb_to_linear(a16 / 65535.0), rtol=1e-3, atol=1e-5)
        a8 = cv2.imread(p8)[..., ::-1]
        assert np.abs(read_image(e).astype(int) - a8).max() <= 1  # halves round values near 8-bit ties


def test_16_bit_video_ffv1_is_lossless_and_prores_is_close(renders):
    png16 = [cv2.imread(p, cv2.IMREAD_UNCHANGED)[..., ::-1].astype(int) for p in frames(renders / "png16", "png")]
    ffv1 = deep_video_frames(renders / "ffv1" / "out.mkv")
    prores = deep_video_frames(renders / "prores" / "out.mov")
    assert len(ffv1) == len(prores) == len(png16) == 3
    for a, f, p in zip(png16, ffv1, prores):
        assert np.array_equal(f, a)  # FFV1 16-bit RGB: the frames exactly
        assert np.abs(p - a).mean() < 0.01 * 65535  # ProRes is lossy (4:2:2, DCT; this texture is all detail)


@pytest.mark.parametrize("codec,ext", [("prores_ks", "mov"), ("ffv1", "mkv")])
def test_16_bit_video_has_no_8_bit_banding(tmp_path, codec, ext):
    """A gentle gradient spans 4 eight-bit levels across the frame; at 16 bits in, the decoded video
    must show many more steps than an 8-bit path could."""
    from videostyle.io.media import MediaInfo, open_sink
    from fractions import Fraction
    ramp = np.linspace(30000, 30600, 64)
    image = np.repeat(np.repeat(ramp[None, :, None], 32, axis=0), 3, axis=2).astype(np.uint16)
    info = MediaInfo("video", 64, 32, 2, Fraction(25), None, False, None)
    with open_sink(str(tmp_path / f"ramp.{ext}"), info, codec=codec, depth=16) as sink:
        sink.write(image)
        sink.write(image)
    decoded = deep_video_frames(tmp_path / f"ramp.{ext}")[0][16, :, 1]
    assert len(np.unique(image[16, :, 1] // 257)) <= 4
    assert len(np.unique(decoded)) >= 8, np.unique(decoded)
