"""HDR video (Rec.2100 HLG and PQ, as phones and cameras record it) is read as an SDR picture, not as its
washed-out signal values.

The clips are made as a camera would: an SDR picture taken to linear light with its white at HDR
reference white (203 nits), encoded by OpenColorIO's Rec.2100 display spaces, 10-bit HEVC (lossless)
with the BT.2020 / HLG or PQ tags. Read back, the colours below the shoulder's knee must be the SDR
picture's; read as plain values (what an 8-bit decode gives) they are far from it."""
import av
import numpy as np
import pytest

from mediagen import texture
from videostyle.cli import main
from videostyle.io.colour import BUILTIN, LINEAR, convert, srgb_decode
from videostyle.io.media import open_source

W, H = 64, 48
PATCHES = [(0, 160, 0), (180, 40, 40), (118, 118, 118), (60, 90, 150)]  # below the shoulder's knee
SPACES = {"hlg": ("Rec.2100-HLG - Display", 18), "pq": ("Rec.2100-PQ - Display", 16)}
REFERENCE_WHITE = 2.03  # ITU-R BT.2408: HDR reference white, 203 cd/m², over the 100 of OCIO's display spaces
RUN = ["--iterations", "3,2", "--quiet", "--device", "cpu"]


def sdr(shift: int = 0) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for i, c in enumerate(PATCHES):
        img[:, i * 16:(i + 1) * 16] = c
    return np.roll(img, shift, axis=1)


def make_hdr(path, kind: str, n: int = 3) -> str:
    space, trc = SPACES[kind]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx265", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p10le"
        s.options = {"x265-params": "log-level=error:lossless=1"}
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 9, trc, 9, 1
        for i in range(n):
            linear = (srgb_decode(sdr(i).astype(np.float64) / 255) * REFERENCE_WHITE).astype(np.float32)
            signal = np.clip(convert(BUILTIN, LINEAR, space, linear), 0, 1)
            q = np.rint(signal * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(q, format="rgb48le")
            for p in s.encode(frame.reformat(format="yuv420p10le", dst_colorspace="BT2020", dst_color_range="MPEG")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return str(path)


def patches(img: np.ndarray) -> np.ndarray:
    return np.array([img[H // 2, 8 + 16 * i] for i in range(4)], np.float32)


@pytest.mark.parametrize("kind", ["hlg", "pq"])
def test_hdr_reads_as_the_sdr_picture(tmp_path, kind):
    clip = make_hdr(tmp_path / f"{kind}.mov", kind)
    src = open_source(clip)
    assert src.info.hdr == kind.upper()
    got = patches(next(src.frames()).image)
    assert np.abs(got - np.array(PATCHES)).max() <= 3
    with av.open(clip) as c:  # the signal as plain 8-bit values: washed out
        plain = patches(next(c.decode(video=0)).to_ndarray(format="rgb24"))
    assert np.abs(plain - np.array(PATCHES)).max() > 40


def test_named_colour_space_is_the_users(tmp_path):
    """--input-colorspace says how to read it: the same space named gives the same SDR picture."""
    from videostyle.io.colour import ColourOptions
    clip = make_hdr(tmp_path / "h.mov", "hlg")
    named = open_source(clip, colour=ColourOptions(input="Rec.2100-HLG - Display"))
    assert np.abs(patches(next(named.frames()).image) - np.array(PATCHES)).max() <= 3
    plain = open_source(clip, colour=ColourOptions(input="sRGB Encoded Rec.709 (sRGB)"))
    assert np.abs(patches(next(plain.frames()).image) - np.array(PATCHES)).max() > 40


def test_render_says_so_and_refuses_hdr_video_out(tmp_path, capsys):
    import cv2
    clip = make_hdr(tmp_path / "h.mov", "pq")
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    assert main(["stylize", clip, "--style", str(style), "-o", str(tmp_path / "o.mp4"), *RUN]) == 0
    assert "is HDR video (PQ): read as an SDR picture" in capsys.readouterr().err
    code = main(["stylize", clip, "--style", str(style), "-o", str(tmp_path / "o2.mp4"),
                 "--output-colorspace", "Rec.2100-PQ - Display", *RUN])
    assert code == 2 and "is HDR video, and a video output is written SDR" in capsys.readouterr().err
    assert not (tmp_path / "o2.mp4").exists()
