"""Video that does not say its YUV matrix is read as players show it: BT.709 for HD, BT.601 for SD.

FFmpeg's converter assumes BT.601 at any size; an HD camera file encoded BT.709 and left untagged (the
cockatoo clip this project measures on is one) then reads with its greens some 30 levels too high. The
files here are encoded with a known matrix and no tag, by PyAV directly."""
import av
import numpy as np
import pytest

from videostyle.io.media import open_source
from videostyle.io.video import VideoWriter

COLOURS = [(0, 200, 0), (200, 30, 30), (40, 60, 220), (128, 128, 128)]


def bars(w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    for i, c in enumerate(COLOURS):
        img[:, i * w // 4:(i + 1) * w // 4] = c
    return img


def centres(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return np.array([img[h // 2, (2 * i + 1) * w // 8] for i in range(4)], np.int32)


def untagged(path, w: int, h: int, matrix: str) -> str:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "2"}
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(bars(w, h), format="rgb24")
            for p in s.encode(frame.reformat(format="yuv420p", dst_colorspace=matrix, dst_color_range="MPEG")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    with av.open(str(path)) as c:
        assert next(c.decode(video=0)).colorspace == 2  # unspecified: the file does not say
    return str(path)


@pytest.mark.parametrize("w, h, matrix", [(1280, 720, "ITU709"), (640, 360, "ITU601"), (720, 576, "ITU601")])
def test_untagged_reads_as_players_show_it(tmp_path, w, h, matrix):
    clip = untagged(tmp_path / "c.mp4", w, h, matrix)
    got = centres(next(open_source(clip).frames()).image)
    assert np.abs(got - np.array(COLOURS)).max() <= 3


def test_mpeg4_at_hd_is_written_as_it_is_read(tmp_path):
    """MPEG-4 part 2 cannot carry the tag: at HD its frames are encoded BT.709, as they will be read."""
    path = str(tmp_path / "o.avi")
    w = VideoWriter(path, rate=25, codec="mpeg4")
    for _ in range(2):
        w.write(bars(1280, 720))
    w.commit()
    assert np.abs(centres(next(open_source(path).frames()).image) - np.array(COLOURS)).max() <= 4
    with av.open(path) as c:  # decoded with BT.709 by FFmpeg itself, not the reader under test
        f = next(c.decode(video=0))
        assert f.colorspace == 2
        rgb = f.reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()
    assert np.abs(centres(rgb) - np.array(COLOURS)).max() <= 4


def test_ten_bit_video_is_read_deep(tmp_path):
    """A 10-bit ProRes (422 HQ) is read at its depth, as a deep PNG is: a gradient over 4 eight-bit levels
    keeps its 10-bit steps, where an 8-bit decode has 5."""
    w, h = 64, 16
    ramp = np.linspace(100.0, 104.0, w)[None, :, None] * np.ones((h, 1, 3))
    q = np.rint(ramp * 257).astype(np.uint16)
    path = str(tmp_path / "deep.mov")
    with av.open(path, "w") as out:
        s = out.add_stream("prores_ks", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv422p10le"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(q, format="rgb48le")
            for p in s.encode(frame.reformat(format="yuv422p10le", dst_colorspace="ITU709", dst_color_range="MPEG")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    src = open_source(path)
    image = next(src.frames()).image
    assert image.dtype == np.float32
    row = image[h // 2, :, 1]
    assert len(np.unique(np.round(row, 3))) >= 10
    assert np.abs(row - ramp[0, :, 1]).max() < 0.75  # within a 10-bit step or so of the ramp
    with av.open(path) as c:
        eight = next(c.decode(video=0)).to_ndarray(format="rgb24")[h // 2, :, 1]
    assert len(np.unique(eight)) <= 6
