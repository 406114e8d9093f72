"""Small pieces with known answers: prefetch thread, colour preservation, work-folder bookkeeping."""
import json
import os

import cv2
import numpy as np
import pytest

from videostyle.method.colour import preserve_colors
from videostyle.errors import ConfigError
from videostyle.io.frames import to_uint8
from videostyle.run.memory import available_bytes, check_fits, estimate_bytes, parse_meminfo
from videostyle.run.prefetch import Prefetch
from videostyle.run.store import WorkStore, default_work_dir


def test_prefetch_keeps_order_and_reraises():
    assert list(Prefetch(iter(range(50)), depth=2)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("decoder broke")

    it = Prefetch(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(it)


def test_preserve_colors_keeps_source_chroma_and_stylized_luma():
    rng = np.random.default_rng(0)
    stylized = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    source = np.zeros((16, 16, 3), np.uint8)
    source[:] = (150, 120, 105)                       # a muted warm tone: stays in gamut
    out = to_uint8(preserve_colors(stylized.astype(np.float32), source))  # float, as the pipeline passes it
    ycc_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb).astype(int)
    ycc_sty = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb).astype(int)
    ycc_src = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb).astype(int)
    mid = (ycc_sty[..., 0] > 60) & (ycc_sty[..., 0] < 190)   # away from gamut clipping
    assert np.abs(ycc_out[..., 0] - ycc_sty[..., 0])[mid].max() <= 3
    assert np.abs(ycc_out[..., 1:] - ycc_src[..., 1:])[mid].mean() < 4


def test_work_dir_names():
    assert default_work_dir("shots/out.mp4") == "shots/out.mp4.videostyle"
    # A pattern's work folder lies beside its folder, never among the frames.
    assert default_work_dir("out/%04d.png") == os.path.abspath("out") + ".#.png.videostyle"
    assert default_work_dir("frames/") == "frames.videostyle"


def test_store_saves_atomically_and_refuses_changed_settings(tmp_path):
    root = str(tmp_path / "w")
    store = WorkStore.open(root, {"config": {"a": 1}})
    assert store.load(0) is None
    img = np.arange(192, dtype=np.uint16).reshape(8, 8, 3) * 341  # 16-bit values, not on the 8-bit grid
    store.save(0, img, {"index": 0})
    loaded, record = store.load(0)
    assert np.array_equal(loaded, img) and record == {"index": 0}
    (tmp_path / "w" / "frames" / "p00" / "000001.png").write_bytes(b"half a png")  # no record: not done
    assert store.load(1) is None and store.count() == 1
    assert WorkStore.open(root, {"config": {"a": 1}}).load(0) is not None
    with pytest.raises(ConfigError, match="config.a"):
        WorkStore.open(root, {"config": {"a": 2}})
    assert WorkStore.open(root, {"config": {"a": 2}}, restart=True).load(0) is None
    assert json.load(open(tmp_path / "w" / "manifest.json"))["config"] == {"a": 2}


def test_memory_estimate_is_linear_and_refusal_names_a_size_that_fits():
    import torch
    a, b = estimate_bytes(256, 144), estimate_bytes(512, 288)
    assert 3.9 < (b - estimate_bytes(1, 1)) / (a - estimate_bytes(1, 1)) < 4.1
    check_fits(256, 144, torch.device("cpu"), available=10 * 2 ** 30)
    with pytest.raises(ConfigError, match="--max-side") as e:
        check_fits(3840, 2160, torch.device("cpu"), available=2 * 2 ** 30)
    side = int(str(e.value).split("--max-side ")[1].split()[0])
    check_fits(side, side * 9 // 16, torch.device("cpu"), available=2 * 2 ** 30)


MEMINFO = """MemTotal:       32768000 kB
MemFree:          512000 kB
MemAvailable:   20480000 kB
Buffers:          100000 kB
Cached:         18000000 kB
"""


def test_free_memory_is_memavailable_not_free_pages():
    """A machine that has read files for a while has little free memory but much available (page cache
    the kernel drops on demand): the check must count what is available."""
    assert parse_meminfo(MEMINFO) == 20480000 * 1024
    assert parse_meminfo("MemTotal: 1 kB\nMemFree: 1 kB\n") is None  # kernels before 3.14
    check_fits(1024, 576, __import__("torch").device("cpu"), available=parse_meminfo(MEMINFO))


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux only")
def test_cpu_available_memory_reads_memavailable():
    """The CPU's available memory is the kernel's MemAvailable line, read here without the code under test
    (before and after: the value moves while the machine runs)."""
    import re

    import torch

    def mem_available() -> int:
        with open("/proc/meminfo") as f:
            kib = re.search(r"^MemAvailable:\s+(\d+) kB$", f.read(), re.MULTILINE)
        return int(kib.group(1)) * 1024

    low = mem_available()
    got = available_bytes(torch.device("cpu"))
    high = mem_available()
    low, high = min(low, high), max(low, high)
    assert low * 0.98 <= got <= high * 1.02, (low, got, high)


# --------------------------------------------------------------------------- input formats


def _rgb(h=8, w=6, seed=3):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".ppm", ".pnm", ".pam", ".pgm", ".pbm"])
def test_netpbm_frames_read_as_rgb(tmp_path, ext):
    """The reference implementation's frames (PPM) and the rest of the Netpbm family."""
    from videostyle.io.frames import image_size, list_sequence, read_image
    rgb = _rgb()
    gray = ext in (".pgm", ".pbm")
    written = rgb[..., 0] if gray else rgb[..., ::-1]      # OpenCV writes BGR
    for k in (1, 2):
        assert cv2.imwrite(str(tmp_path / f"frame_{k:04d}{ext}"), written)
    path = str(tmp_path / f"frame_0001{ext}")
    expected = np.repeat(rgb[..., :1], 3, 2) if gray else rgb
    if ext == ".pbm":
        expected = np.where(expected > 0, 255, 0)        # 1 bit: whatever OpenCV thresholds, black or white
        assert set(np.unique(read_image(path))) <= {0, 255}
    else:
        assert np.array_equal(read_image(path), expected)
    assert image_size(path) == (6, 8)
    assert [n for n, _ in list_sequence(str(tmp_path))] == [1, 2]


def test_16_bit_ppm_is_rounded_to_8_bits(tmp_path):
    from videostyle.io.frames import read_image
    rgb = _rgb()
    assert cv2.imwrite(str(tmp_path / "deep.ppm"), rgb[..., ::-1].astype(np.uint16) * 257)
    assert np.array_equal(read_image(str(tmp_path / "deep.ppm")), rgb)


@pytest.mark.parametrize("pix_fmt, tolerance", [("rgb24", 0), ("gbrp10le", 1), ("rgb48le", 0)])
def test_dpx_frames_are_decoded_by_ffmpeg(tmp_path, pix_fmt, tolerance):
    """DPX (film scans; OpenCV has no reader): read through PyAV, a folder of them is a sequence."""
    from fractions import Fraction

    import av

    from videostyle.io.frames import image_size
    from videostyle.io.media import open_source
    rgb = _rgb(10, 14)
    ctx = av.CodecContext.create("dpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 14, 10, pix_fmt, Fraction(1, 25)
    # Each made without an 8-bit round trip through swscale, which is off by one level.
    frame = (av.VideoFrame.from_ndarray(rgb, format="rgb24") if pix_fmt == "rgb24" else
             av.VideoFrame.from_ndarray(rgb.astype(np.uint16) * 257, format="rgb48le").reformat(format=pix_fmt))
    data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
    shot = tmp_path / "scan"
    shot.mkdir()
    for k in (1001, 1002):
        (shot / f"scan.{k}.dpx").write_bytes(data)
    assert image_size(str(shot / "scan.1001.dpx")) == (14, 10)
    source = open_source(str(shot))
    assert (source.info.width, source.info.height, source.info.n_frames, source.info.first_number) == (14, 10, 2, 1001)
    for f in source.frames():
        assert np.abs(f.image.astype(int) - rgb).max() <= tolerance


def test_image_size_reads_headers_only_and_agrees_with_read_image(tmp_path, monkeypatch):
    """Opening a sequence checks every frame's size: for PNG, Netpbm, EXR, DPX and JPEG (EXIF rotation
    included) from the header, without decoding, and equal to what read_image returns."""
    from PIL import Image

    from videostyle.io import frames
    rgb = _rgb(8, 6)
    paths = []
    for ext in (".png", ".ppm", ".pgm", ".jpg"):
        paths.append(str(tmp_path / f"a{ext}"))
        cv2.imwrite(paths[-1], rgb[..., 0] if ext == ".pgm" else rgb)
    (tmp_path / "a.exr").write_bytes(frames.encode_exr(rgb))
    paths.append(str(tmp_path / "a.exr"))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        paths.append(str(tmp_path / f"turned{orientation}.jpg"))
        Image.fromarray(rgb).save(paths[-1], exif=exif.tobytes())
    decoded = {p: frames.read_image(p).shape[1::-1] for p in paths}
    assert decoded[str(tmp_path / "turned6.jpg")] == (8, 6)  # OpenCV turns it; so must image_size

    def no_decoding(*args, **kwargs):
        raise AssertionError("image_size decoded an image")
    monkeypatch.setattr(frames.cv2, "imdecode", no_decoding)
    monkeypatch.setattr(frames.cv2, "imread", no_decoding)
    for p in paths:
        assert frames.image_size(p) == decoded[p], p
