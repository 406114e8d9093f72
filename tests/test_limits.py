"""Size limits from file headers: an image that claims more pixels than videostyle accepts (a
decompression bomb) is refused with one line before it is decoded, whatever its format."""
import re
import resource
import struct
import zlib
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from videostyle.cli import main
from videostyle.errors import InputError
from videostyle.io.frames import encode_exr, image_size, read_image
from videostyle.io.limits import MAX_PIXELS, check_pixels

BIG = 40000  # 40000 x 40000 = 1600 megapixels: 4.8 GB as RGB uint8


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(w=BIG, h=BIG) -> bytes:
    """A valid PNG header (8-bit RGB, w x h) with one short IDAT: tens of bytes claiming gigabytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


def jpeg_bomb(w=BIG, h=BIG) -> bytes:
    """A real 16x16 JPEG whose SOF0 frame header is patched to claim w x h."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, h, w)  # marker, length (2), precision (1), height, width
    return bytes(data)


def ppm_bomb(w=BIG, h=BIG) -> bytes:
    return b"P6\n# made by hand\n%d %d\n255\n" % (w, h) + b"\0" * 64


def exr_bomb(w=BIG, h=BIG) -> bytes:
    """A real 4x4 EXR whose dataWindow (and displayWindow) are patched to claim w x h."""
    data = bytearray(encode_exr(np.zeros((4, 4, 3), np.uint8)))
    for name in (b"dataWindow\0box2i\0", b"displayWindow\0box2i\0"):
        at = data.index(name) + len(name) + 4
        struct.pack_into("<4i", data, at, 0, 0, w - 1, h - 1)
    return bytes(data)


def dpx_bomb(w=BIG, h=BIG) -> bytes:
    """A real 4x4 DPX (FFmpeg's encoder) whose image header is patched to claim w x h."""
    data = bytearray(encode_dpx(np.zeros((4, 4, 3), np.uint8)))
    struct.pack_into({b"SDPX": ">", b"XPDS": "<"}[bytes(data[:4])] + "II", data, 772, w, h)
    return bytes(data)


def encode_dpx(image: np.ndarray, pix_fmt: str = "rgb24") -> bytes:
    ctx = av.CodecContext.create("dpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = image.shape[1], image.shape[0], pix_fmt, Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    return b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))


BOMBS = {".png": png_bomb, ".jpg": jpeg_bomb, ".ppm": ppm_bomb, ".exr": exr_bomb, ".dpx": dpx_bomb}


def test_check_pixels_message_and_limit():
    check_pixels(16384, 16384, "frame")          # 268 MP: 16K material passes
    check_pixels(MAX_PIXELS, 1, "frame")
    with pytest.raises(InputError) as e:
        check_pixels(MAX_PIXELS + 1, 1, "style image a.jpg")
    assert str(e.value).startswith("style image a.jpg is 400000001x1 (400 megapixels), more than videostyle accepts")
    assert "\n" not in str(e.value)


class Decoded(Exception):
    """A pixel decoder was reached."""


@pytest.fixture
def decoders(monkeypatch):
    """Every way videostyle decodes an image's pixels (OpenCV, FFmpeg through PyAV, Pillow's load), each
    replaced by a tripwire that records the call and raises instead of decoding: the work a bomb costs
    is counted in decoder calls, and a broken header check fails in milliseconds rather than spending
    minutes and 4.8 GB on the real decode."""
    from PIL import ImageFile
    calls = []

    def tripwire(name):
        def reached(*args, **kwargs):
            calls.append(name)
            raise Decoded(name)
        return reached

    for owner, name in ((cv2, "imdecode"), (cv2, "imread"), (av, "open"), (ImageFile.ImageFile, "load")):
        monkeypatch.setattr(owner, name, tripwire(name))
    return calls


@pytest.mark.parametrize("ext", sorted(BOMBS))
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, ext, decoders):
    path = tmp_path / f"bomb{ext}"
    path.write_bytes(BOMBS[ext]())
    assert path.stat().st_size < 5000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for read in (read_image, image_size):
        with pytest.raises(InputError) as e:
            read(str(path))
        assert decoders == [], read  # refused from the header: not one decoder call
        message = str(e.value)
        assert re.search(r"is 40000x40000 \(1600 megapixels\), more than videostyle accepts \(400", message)
        assert str(path) in message and "\n" not in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # nothing near 4.8 GB touched


def test_a_bomb_below_opencvs_own_limit_is_refused_too(tmp_path):
    """25000x25000 (625 MP) is under OpenCV's built-in 1 GP guard, which would decode it."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(25000, 25000))
    with pytest.raises(InputError, match="625 megapixels"):
        read_image(str(path))


def test_cli_refuses_a_bomb_style_image_with_one_line(tmp_path, capsys):
    from mediagen import make_video
    video = tmp_path / "in.mp4"
    make_video(video, n=2)
    style = tmp_path / "style.jpg"
    style.write_bytes(jpeg_bomb())
    code = main(["stylize", str(video), "--style", str(style), "-o", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "megapixels" in err and str(style) in err
    assert not (tmp_path / "out.mp4").exists()


def test_sequence_of_bombs_is_refused_when_opened(tmp_path):
    from videostyle.io.media import open_source
    folder = tmp_path / "shot"
    folder.mkdir()
    cv2.imwrite(str(folder / "0001.png"), np.zeros((8, 8, 3), np.uint8))
    (folder / "0002.png").write_bytes(png_bomb())
    with pytest.raises(InputError, match="0002.png is 40000x40000"):
        open_source(str(folder))


@pytest.mark.parametrize("name, data", [
    ("short.jpg", b"\xff\xd8\xff"), ("short.ppm", b"P6\n"), ("short.exr", b"\x76\x2f\x31\x01\x02\0\0\0abc"),
    ("short.dpx", b"SDPX" + bytes(100)), ("short.tif", b"II*\0" + b"\xff" * 20), ("noise.png", bytes(range(256)) * 8),
])
def test_broken_headers_are_one_line_input_errors(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    for read in (read_image, image_size):
        with pytest.raises(InputError, match="not a readable image"):
            read(str(path))
