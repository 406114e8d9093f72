"""Non-square pixels (HDV and DV video, 2x anamorphic plates): read as they are shown, painted in square
pixels, written back on the input's own grid and tagged with --output-size original.

A disc drawn round as the picture is shown is the probe: stored squeezed, it must come out of the reader
round, and the stylized frames must keep it round. Files are written and read back with PyAV (FFmpeg)
and the OpenEXR library, independently of the code under test where it matters."""
import json
from fractions import Fraction

import av
import numpy as np
import OpenEXR
import pytest

from mediagen import texture
from videostyle.cli import main
from videostyle.io.dpx import encode_dpx, pixel_aspect as dpx_pixel_aspect
from videostyle.io.exr import encode_exr
from videostyle.io.media import open_source

RUN = ["--iterations", "3,2", "--quiet", "--device", "cpu"]
SW, SH = 48, 36  # stored frame; shown 64x36 at 4:3


def disc(w: int, h: int, across: float, shift: int = 0) -> np.ndarray:
    """Stored RGB (h x w) of a bright disc that is round when each pixel is shown ``across`` times as wide
    as tall, on a textured ground."""
    img = texture(h, w, (3, 4), seed=5) // 3
    yy, xx = np.mgrid[0:h, 0:w]
    r = h * 0.32
    img[((xx + 0.5) * across - w * across / 2 - shift) ** 2 + (yy + 0.5 - h / 2) ** 2 < r * r] = (250, 210, 40)
    return img


def roundness(rgb: np.ndarray) -> float:
    """Width over height of the disc (its bright yellow pixels) in a picture as read."""
    mask = (rgb[..., 0].astype(float) > 170) & (rgb[..., 2].astype(float) < 120)
    ys, xs = np.nonzero(mask)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


def make_anamorphic_video(path, sar: Fraction, n: int = 4, w: int = SW, h: int = SH) -> str:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.sample_aspect_ratio = sar
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(disc(w, h, float(sar), i), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return str(path)


def stored(path) -> tuple[int, int, Fraction | None]:
    """(width, height, sample aspect ratio) of a video's stream, as FFmpeg reports them."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        return st.width, st.height, st.sample_aspect_ratio


@pytest.fixture()
def style(tmp_path):
    path = tmp_path / "style.png"
    import cv2
    cv2.imwrite(str(path), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    return str(path)


def test_video_is_read_as_shown(tmp_path):
    video = make_anamorphic_video(tmp_path / "hdv.mp4", Fraction(4, 3))
    assert stored(video)[2] == Fraction(4, 3)
    src = open_source(video)
    assert (src.info.width, src.info.height) == (64, 36)
    assert src.info.pixel_aspect == Fraction(4, 3) and src.info.stored_size == (SW, SH)
    frames = list(src.frames())
    assert frames[0].image.shape == (36, 64, 3)
    # Round as shown (the stored disc is 0.75 as wide as tall).
    assert roundness(frames[2].image) == pytest.approx(1.0, abs=0.12)
    # A seek lands on the same frames (the after-seek check compares the stored size).
    later = list(open_source(video, 2, 4).frames())
    assert np.array_equal(later[0].image, frames[2].image)


def test_narrow_pixels_keep_every_row_and_column(tmp_path):
    """DV's 10:11 pixels: the height grows (no stored pixel is dropped), and the disc is round."""
    video = make_anamorphic_video(tmp_path / "dv.mkv", Fraction(10, 11), w=44, h=40)
    src = open_source(video)
    assert (src.info.width, src.info.height) == (44, 44)
    assert roundness(next(src.frames()).image) == pytest.approx(1.0, abs=0.12)


def test_implausible_tag_is_ignored(tmp_path):
    video = make_anamorphic_video(tmp_path / "odd.mp4", Fraction(9, 1))
    src = open_source(video)
    assert src.info.pixel_aspect == 1 and (src.info.width, src.info.height) == (SW, SH)


def test_video_render_square_and_original(tmp_path, style, capsys):
    video = make_anamorphic_video(tmp_path / "hdv.mov", Fraction(4, 3))
    square, own, report = tmp_path / "square.mp4", tmp_path / "own.mov", tmp_path / "r.json"
    assert main(["stylize", video, "--style", style, "-o", str(square), *RUN]) == 0
    assert stored(square)[:2] == (64, 36) and stored(square)[2] in (None, Fraction(1))
    capsys.readouterr()
    assert main(["stylize", video, "--style", style, "-o", str(own), "--output-size", "original", "--report", str(report),
                 "--compare", str(tmp_path / "cmp.mov"), *RUN]) == 0
    assert "written on its own 48x36 grid tagged 4:3" in capsys.readouterr().err
    assert stored(own) == (SW, SH, Fraction(4, 3))
    assert stored(tmp_path / "cmp.mov") == (2 * SW, SH, Fraction(4, 3))
    data = json.loads(report.read_text())
    assert data["source"]["pixel_aspect"] == "4/3" and data["source"]["width"] == 64
    # Read back as shown, the stylized disc is still round.
    back = list(open_source(str(own)).frames())
    assert back[0].image.shape == (36, 64, 3)
    assert roundness(back[1].image) == pytest.approx(1.0, abs=0.15)


def test_exr_plate_round_trip(tmp_path, style, capsys):
    """A 2x anamorphic EXR plate: painted as shown, written back on its grid with pixelAspectRatio 2."""
    (tmp_path / "in").mkdir()
    for i in range(3):
        rgb = (disc(32, 24, 2.0, i).astype(np.float32) / 255) ** 2.2
        alpha = np.ones((24, 32), np.float32)
        alpha[:, :3] = 0
        (tmp_path / "in" / f"plate.{1001 + i}.exr").write_bytes(encode_exr(rgb, alpha, pixel_aspect=2.0))
    src = open_source(str(tmp_path / "in" / "plate.####.exr"))
    assert (src.info.width, src.info.height, src.info.pixel_aspect) == (64, 24, 2)
    first = next(src.frames())
    assert first.image.shape == (24, 64, 3) and first.plate.alpha.shape == (24, 64)
    for size, shape, tag in (("processing", (24, 64), 1.0), ("original", (24, 32), 2.0)):
        out = tmp_path / size
        out.mkdir()
        assert main(["stylize", str(tmp_path / "in" / "plate.####.exr"), "--style", style, "-o", str(out / "s.####.exr"),
                     "--output-size", size, *RUN]) == 0
        with OpenEXR.File(str(out / "s.1002.exr"), separate_channels=True) as f:
            # The library empties the header when the file closes: read it inside.
            tagged, channels = f.header().get("pixelAspectRatio", 1.0), {k: np.array(v.pixels) for k, v in f.channels().items()}
        assert channels["R"].shape == shape
        assert tagged == pytest.approx(tag)
        if size == "original":  # the plate's own alpha, exactly (not resized there and back)
            assert np.array_equal(channels["A"].astype(np.float32), alpha)
        else:  # the transparent band, twice as wide in square pixels
            assert np.all(channels["A"][:, :5] == 0) and np.all(channels["A"][:, 7:] == 1)
    assert "cannot tag" not in capsys.readouterr().err


def test_dpx_pixel_aspect(tmp_path):
    rgb = np.zeros((8, 16, 3), np.uint16)
    data = encode_dpx(rgb, 16, pixel_aspect=Fraction(2))
    (tmp_path / "a.dpx").write_bytes(data)
    assert dpx_pixel_aspect(str(tmp_path / "a.dpx")) == 2
    with av.open(str(tmp_path / "a.dpx")) as c:  # FFmpeg's own reader agrees
        assert c.streams.video[0].sample_aspect_ratio == 2
    # A big-endian header (SDPX) states it in its own byte order; 0 means "not stated".
    big = bytearray(data)
    big[:4] = b"SDPX"
    big[1628:1636] = (4).to_bytes(4, "big") + (3).to_bytes(4, "big")
    (tmp_path / "b.dpx").write_bytes(bytes(big))
    assert dpx_pixel_aspect(str(tmp_path / "b.dpx")) == Fraction(4, 3)
    big[1628:1636] = bytes(8)
    (tmp_path / "c.dpx").write_bytes(bytes(big))
    assert dpx_pixel_aspect(str(tmp_path / "c.dpx")) == 1
    assert open_source(str(tmp_path / "a.dpx")).info.width == 32


def test_png_frames_on_the_own_grid_are_flagged(tmp_path, style, capsys):
    video = make_anamorphic_video(tmp_path / "hdv.mp4", Fraction(4, 3), n=2)
    (tmp_path / "png").mkdir()
    assert main(["stylize", video, "--style", style, "-o", str(tmp_path / "png" / "f.%04d.png"), "--output-size", "original",
                 *RUN]) == 0
    assert ".png files cannot tag: they will look squeezed" in capsys.readouterr().err
