"""DPX frames (io/dpx.py) and start timecodes carried through video files (io/video/).

DPX files are read back with FFmpeg's own decoder (PyAV), independently of the writer's code."""

from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest

from mediagen import H, W, make_video
from videostyle.errors import ConfigError, OutputError
from videostyle.io import dpx
from videostyle.io.dpx import encode_dpx
from videostyle.io.video import VideoWriter, offset_timecode, probe_video
from videostyle.io.video.probe import _timecode_tags

TEN_BIT_LEVEL = 65535 / 1023


def gradient16(h: int = H, w: int = W) -> np.ndarray:
    """Smooth H x W x 3 uint16 RGB ramps, from 0 to 65535 along each axis and the diagonal."""
    y, x = np.mgrid[0:h, 0:w]
    image = np.dstack([x * 65535 // (w - 1), y * 65535 // (h - 1), (x + y) * 65535 // (w + h - 2)])
    return image.astype(np.uint16)


def read_dpx(path, fmt: str) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format=fmt)


def decoded_format(path) -> str:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).format.name


def write(tmp_path, data: bytes, name: str = "f.dpx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def dpx_bit_size(data: bytes) -> int:
    # SMPTE 268M: the first image element starts at byte 768; its bit size is byte 35 of it.
    return data[768 + 35]


# --------------------------------------------------------------------------- DPX


def test_dpx_16_bit_gradient_reads_back_exactly(tmp_path):
    image = gradient16()
    data = encode_dpx(image, 16)
    path = write(tmp_path, data)
    assert dpx_bit_size(data) == 16
    back = read_dpx(path, "rgb48le")
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image).max() <= 1
    assert np.array_equal(back, image)


def test_dpx_10_bit_is_true_10_bit_rounded(tmp_path):
    image = gradient16()
    data = encode_dpx(image, 10)
    path = write(tmp_path, data)
    assert dpx_bit_size(data) == 10
    assert decoded_format(path) == "gbrp10le"
    # The 10-bit codes themselves: rounded, not truncated (truncation is off by one code for most values).
    codes = read_dpx(path, "gbrp10le")
    assert np.array_equal(codes, np.round(image.astype(np.float64) * 1023 / 65535))
    # And as 16-bit values, scaled back: within one 10-bit level of the original.
    back = read_dpx(path, "rgb48le").astype(np.float64)
    assert np.abs(back - image).max() <= TEN_BIT_LEVEL + 1


def test_dpx_10_bit_rounds_half_level_up(tmp_path):
    # 65535 / 1023 = 64.06: 32 is just below half a level (code 0), 33 just above (code 1).
    image = np.zeros((4, 6, 3), np.uint16)
    image[:, :3] = 32
    image[:, 3:] = 33
    codes = read_dpx(write(tmp_path, encode_dpx(image, 10)), "gbrp10le")
    assert (codes[:, :3] == 0).all() and (codes[:, 3:] == 1).all()


@pytest.mark.parametrize("bits", [10, 16])
def test_dpx_uint8_input_is_expanded_x257(tmp_path, bits):
    image8 = (gradient16() // 257).astype(np.uint8)
    path = write(tmp_path, encode_dpx(image8, bits))
    expanded = image8.astype(np.uint16) * 257
    if bits == 16:
        assert np.array_equal(read_dpx(path, "rgb48le"), expanded)
    else:
        expected = np.round(expanded.astype(np.float64) * 1023 / 65535)
        assert np.array_equal(read_dpx(path, "gbrp10le"), expected)


@pytest.mark.parametrize("bits", [8, 12, 0, None])
def test_dpx_bad_bits_raise_value_error(bits):
    with pytest.raises(ValueError, match="10 or 16"):
        encode_dpx(gradient16(), bits)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_dpx_alpha_at_16_bits_reads_back_exactly(tmp_path, dtype):
    image = gradient16()
    alpha = (65535 - image[:, :, 0]).astype(np.uint16)
    if dtype == np.uint8:
        image, alpha = (image // 257).astype(np.uint8), (alpha // 257).astype(np.uint8)
    path = write(tmp_path, encode_dpx(image, 16, alpha=alpha))
    assert decoded_format(path) == "rgba64le"
    back = read_dpx(path, "rgba64le")
    scale = 257 if dtype == np.uint8 else 1
    assert np.array_equal(back[:, :, :3], image.astype(np.uint16) * scale)
    assert np.array_equal(back[:, :, 3], alpha.astype(np.uint16) * scale)


def test_dpx_alpha_at_10_bits_raises_value_error():
    image = gradient16()
    with pytest.raises(ValueError, match="10-bit DPX cannot carry alpha"):
        encode_dpx(image, 10, alpha=image[:, :, 0])


@pytest.mark.parametrize("image, alpha", [
    (np.zeros((4, 4, 3), np.float32), None),
    (np.zeros((4, 4), np.uint16), None),
    (np.zeros((4, 4, 4), np.uint16), None),
    (np.zeros((0, 4, 3), np.uint16), None),
    (np.zeros((4, 4, 3), np.uint16), np.zeros((4, 5), np.uint16)),
    (np.zeros((4, 4, 3), np.uint16), np.zeros((4, 4), np.uint8)),
])
def test_dpx_bad_arrays_raise_value_error(image, alpha):
    with pytest.raises(ValueError):
        encode_dpx(image, 16, alpha=alpha)


def test_dpx_encoder_failure_is_one_line_output_error(monkeypatch):
    # A pixel format FFmpeg's dpx encoder refuses stands in for any failure inside FFmpeg.
    monkeypatch.setitem(dpx._PIX_FMTS, (16, False), "bgr48le")
    with pytest.raises(OutputError, match="cannot encode a DPX frame") as info:
        encode_dpx(gradient16(), 16)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- timecode


def make_timecoded(path, timecode: str, rate=Fraction(24), n: int = 4, codec: str = "libx264",
                   file_timecode: str | None = None) -> str:
    """A tiny video whose video stream is tagged with start ``timecode`` (MOV/MP4 turn it into a tmcd track),
    and the file itself with ``file_timecode`` if given."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.metadata["timecode"] = timecode
        if file_timecode is not None:
            c.metadata["timecode"] = file_timecode
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), 40 * i, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return str(path)


def write_video(path, timecode, rate=Fraction(24), codec=None, n: int = 3) -> str:
    w = VideoWriter(str(path), rate=rate, codec=codec, timecode=timecode)
    for i in range(n):
        w.write(np.full((H, W, 3), 50 * i, np.uint8))
    w.commit()
    return str(path)


def tmcd_timecodes(path) -> list:
    """The timecode of each data (tmcd) stream of ``path``, as FFmpeg reads it."""
    with av.open(str(path)) as c:
        return [s.metadata.get("timecode") for s in c.streams.data]


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_probe_reads_mov_timecode(tmp_path, codec):
    path = make_timecoded(tmp_path / "tc.mov", "01:00:00:00", codec=codec)
    assert tmcd_timecodes(path) == ["01:00:00:00"]  # the file really has a timecode track
    assert probe_video(path).timecode == "01:00:00:00"


def test_probe_without_timecode_is_none(tmp_path):
    path = tmp_path / "plain.mov"
    make_video(path, n=3)
    assert probe_video(str(path)).timecode is None


def test_probe_ignores_a_tag_that_is_no_timecode(tmp_path):
    # Matroska stores any string; one that is no timecode at the file's rate must not reach a writer.
    path = make_timecoded(tmp_path / "bad.mkv", "01:00:00:30", rate=Fraction(24))
    assert probe_video(path).timecode is None


def test_probe_takes_the_first_usable_tag(tmp_path):
    path = make_timecoded(tmp_path / "two.mkv", "bogus", file_timecode="02:00:00:12")
    assert probe_video(path).timecode == "02:00:00:12"


def test_probe_falls_back_to_the_file_then_the_tmcd_stream():
    # Files from other tools may tag only the tmcd track; FFmpeg-written ones tag the video stream too, so
    # the order is checked on stand-ins.
    def fake(video, file, *data):
        streams = SimpleNamespace(data=[SimpleNamespace(metadata=d) for d in data])
        return SimpleNamespace(metadata=video), SimpleNamespace(metadata=file, streams=streams)

    assert _timecode_tags(*fake({}, {}, {"language": "eng"}, {"timecode": "01:00:00:00"})) == ("01:00:00:00",)
    assert _timecode_tags(*fake({"TIMECODE": "01"}, {"timecode": "02"}, {"timecode": "03"})) == ("01", "02", "03")
    assert _timecode_tags(*fake({}, {}, {})) == ()


def test_writer_timecode_mov_round_trip(tmp_path):
    path = write_video(tmp_path / "out.mov", "01:00:10:05")
    assert tmcd_timecodes(path) == ["01:00:10:05"]
    assert probe_video(path).timecode == "01:00:10:05"
    assert probe_video(path).n_frames == 3  # the timecode track is not counted as video


def test_writer_drop_frame_timecode_mov(tmp_path):
    path = write_video(tmp_path / "df.mov", "00:59:59;29", rate=Fraction(30000, 1001))
    assert tmcd_timecodes(path) == ["00:59:59;29"]
    assert probe_video(path).timecode == "00:59:59;29"


@pytest.mark.parametrize("ext, codec", [(".mp4", None), (".mkv", None), (".webm", None), (".avi", "mpeg4"),
                                        (".mov", "prores_ks"), (".mkv", "ffv1")])
def test_writer_timecode_other_containers(tmp_path, ext, codec):
    path = write_video(tmp_path / f"out{ext}", "01:00:10:05", codec=codec)
    assert probe_video(path).timecode == "01:00:10:05"


def test_writer_timecode_gif_is_dropped(tmp_path):
    path = write_video(tmp_path / "out.gif", "01:00:10:05")
    assert probe_video(path).timecode is None


def test_writer_without_timecode_writes_no_track(tmp_path):
    path = write_video(tmp_path / "out.mov", None)
    assert tmcd_timecodes(path) == []
    assert probe_video(path).timecode is None


def test_writer_canonicalises_timecode(tmp_path):
    path = write_video(tmp_path / "out.mov", "1:00:10.05", rate=Fraction(30000, 1001))
    assert probe_video(path).timecode == "01:00:10;05"


@pytest.mark.parametrize("timecode, rate", [("bogus", Fraction(24)), ("01:00:00:24", Fraction(24)),
                                            ("01:00:00;00", Fraction(25))])
def test_writer_rejects_bad_timecode(tmp_path, timecode, rate):
    with pytest.raises(ConfigError, match="invalid output timecode"):
        VideoWriter(str(tmp_path / "out.mov"), rate=rate, timecode=timecode)
    assert list(tmp_path.iterdir()) == []  # refused before any temporary file


def test_render_from_frame_100_starts_100_frames_later(tmp_path):
    source = make_timecoded(tmp_path / "clip.mov", "01:00:00:00", rate=Fraction(24))
    probe = probe_video(source)
    start = offset_timecode(probe.timecode, probe.rate, 100)
    out = write_video(tmp_path / "render.mov", start)
    assert probe_video(out).timecode == "01:00:04:04"


@pytest.mark.parametrize("timecode, rate, frames, expected", [
    ("01:00:00:00", Fraction(24), 100, "01:00:04:04"),
    ("01:00:00:00", Fraction(24), 0, "01:00:00:00"),
    ("00:59:59:23", Fraction(24), 1, "01:00:00:00"),
    ("23:59:59:23", Fraction(24), 1, "00:00:00:00"),  # 24 h rollover
    ("23:59:59:20", Fraction(24), 24 * 3600 * 24 + 10, "00:00:00:06"),  # a day and then some
    ("00:00:00:00", Fraction(24), -1, "23:59:59:23"),
    ("10:00:00:00", Fraction(25), 25 * 3600, "11:00:00:00"),
    ("00:00:59:29", Fraction(30000, 1001), 1, "00:01:00:00"),  # non-drop at 29.97 counts every number
    ("1:02:03:04", Fraction(24), 0, "01:02:03:04"),
])
def test_offset_timecode_non_drop(timecode, rate, frames, expected):
    assert offset_timecode(timecode, rate, frames) == expected


NTSC, NTSC60 = Fraction(30000, 1001), Fraction(60000, 1001)


@pytest.mark.parametrize("timecode, rate, frames, expected", [
    ("00:00:59;29", NTSC, 1, "00:01:00;02"),  # 00 and 01 skipped at each minute...
    ("00:09:59;29", NTSC, 1, "00:10:00;00"),  # ...but every tenth
    ("00:00:00;00", NTSC, 17982, "00:10:00;00"),  # a ten-minute block: 9 minutes short two numbers
    ("00:00:00;00", NTSC, 107892, "01:00:00;00"),  # an hour of drop frame is 107892 frames
    ("01:00:00;00", NTSC, -1, "00:59:59;29"),
    ("00:01:00;02", NTSC, -1, "00:00:59;29"),
    ("23:59:59;29", NTSC, 1, "00:00:00;00"),  # 24 h rollover
    ("00:00:59;59", NTSC60, 1, "00:01:00;04"),  # four numbers at 59.94
    ("00:00:00.00", NTSC, 1800, "00:01:00;02"),  # "." is drop frame too; written with ";"
])
def test_offset_timecode_drop_frame(timecode, rate, frames, expected):
    assert offset_timecode(timecode, rate, frames) == expected


def test_offset_timecode_drop_frame_counts_every_frame_once():
    # Over twelve minutes, each step forward is one frame later and lands on an existing label.
    label, seen = "00:00:00;00", set()
    for _ in range(12 * 1800):
        following = offset_timecode(label, NTSC, 1)
        assert offset_timecode(following, NTSC, -1) == label
        seen.add(following)
        label = following
    assert len(seen) == 12 * 1800
    assert label == offset_timecode("00:00:00;00", NTSC, 12 * 1800)


@pytest.mark.parametrize("timecode, rate", [
    ("bogus", Fraction(24)),
    ("01:00:00", Fraction(24)),
    ("24:00:00:00", Fraction(24)),
    ("01:60:00:00", Fraction(24)),
    ("01:00:60:00", Fraction(24)),
    ("01:00:00:24", Fraction(24)),  # only frames 0-23 at 24 fps
    ("01:00:00;00", Fraction(25)),  # drop frame only at 29.97 and multiples
    ("01:00:00;00", Fraction(24000, 1001)),
    ("00:01:00;00", NTSC),  # a skipped drop-frame label
    ("00:01:00;03", NTSC60),
    ("01:00:00:00", Fraction(0)),
])
def test_offset_timecode_rejects(timecode, rate):
    with pytest.raises(ValueError):
        offset_timecode(timecode, rate, 1)
