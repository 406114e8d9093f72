"""Media I/O: write-then-read round trips on tiny media made in tmp_path."""

import contextlib
import itertools
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from videostyle.errors import ConfigError, InputError, OutputError
from videostyle.io.frames import list_sequence, read_image, write_png
from videostyle.io.media import check_output_path, is_sequence_path, open_sink, open_source

from avspy import count_opened
from mediagen import H, SAMPLE_RATE, W, make_video, pattern_image


def copy_all(source, out_path, **kwargs):
    with open_sink(str(out_path), source.info, **kwargs) as sink:
        for frame in source.frames():
            sink.write(frame.image, frame.pts)
    return sink


def stream_summary(path):
    """{type: (codec name, duration in seconds)} of a file's streams."""
    with av.open(str(path)) as c:
        out = {}
        for s in c.streams:
            if s.duration is not None:
                seconds = float(s.duration * s.time_base)
            else:  # Matroska/WebM keep no per-stream duration
                seconds = float(c.duration / av.time_base)
            out[s.type] = (s.codec_context.name, seconds)
        return out


def first_frame(source):
    """The first frame; the decoder is closed here rather than left suspended for the garbage collector."""
    with contextlib.closing(source.frames()) as frames:
        return next(frames)


def video_times(source):
    return [f.pts * source.info.time_base for f in source.frames()]


def mean_error(a, b):
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def leftovers(folder):
    """'.partial' names in ``folder``: staging paths and their lock files alike."""
    return sorted(n for n in os.listdir(folder) if ".partial" in n)


# --------------------------------------------------------------------------- video round trips


def test_constant_rate_round_trip(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=8))
    assert src.info.kind == "video"
    assert (src.info.width, src.info.height, src.info.n_frames, src.info.rate) == (W, H, 8, 20)
    assert src.info.has_audio is False and src.info.first_number is None
    frames = list(src.frames())
    assert [f.number for f in frames] == list(range(8))
    assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8
    assert mean_error(frames[3].image, pattern_image(3)) < 4

    sink = copy_all(src, tmp_path / "out.mp4")
    assert sink.audio_mode == "none"
    out = open_source(str(tmp_path / "out.mp4"))
    assert out.info.n_frames == 8 and out.info.rate == 20
    assert video_times(out) == video_times(src)
    assert mean_error(first_frame(out).image, pattern_image(0)) < 4
    assert "audio" not in stream_summary(tmp_path / "out.mp4")
    assert leftovers(tmp_path) == []


def test_ntsc_rate_round_trip(tmp_path):
    ntsc = Fraction(30000, 1001)
    src = open_source(make_video(tmp_path / "in.mp4", n=10, rate=ntsc))
    assert src.info.rate == ntsc
    copy_all(src, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].average_rate == ntsc
        assert c.streams.video[0].frames == 10
    out = open_source(str(tmp_path / "out.mp4"))
    assert out.info.n_frames == 10 and out.info.rate == ntsc
    assert video_times(out) == [Fraction(1001 * i, 30000) for i in range(10)]


def test_variable_rate_pts_survive(tmp_path):
    tb = Fraction(1, 1000)
    pts = [0, 40, 70, 150, 160, 300, 333, 400]
    src = open_source(make_video(tmp_path / "in.mp4", n=8, pts=pts, time_base=tb))
    assert video_times(src) == [p * tb for p in pts]
    copy_all(src, tmp_path / "out.mp4")
    out = open_source(str(tmp_path / "out.mp4"))
    assert out.info.n_frames == 8
    assert out.info.time_base == src.info.time_base
    assert [f.pts for f in out.frames()] == [f.pts for f in src.frames()]


def test_x265_frames_33_to_48_pixels_wide_do_not_corrupt_memory(tmp_path):
    """x265's lookahead corrupts the heap on frames 33–48 px wide (io/video/write.py). 40 short encodes at such
    widths, in a child process with glibc's heap checks on (MALLOC_CHECK_=3), must all finish: without
    the workaround the child aborted within a few files ("corrupted size vs. prev_size")."""
    code = textwrap.dedent(f"""
        import os, numpy as np
        from fractions import Fraction
        from videostyle.io.media import MediaInfo, open_sink
        rng = np.random.default_rng(0)
        for i in range(40):
            w = (48, 40, 36, 34)[i % 4]
            info = MediaInfo("video", w, 32, 4, Fraction(20), None, False, None)
            path = os.path.join({str(tmp_path)!r}, f"{{i}}.mp4")
            with open_sink(path, info, codec="libx265") as sink:
                for k in range(4):
                    sink.write(rng.integers(0, 255, (32, w, 3), dtype=np.uint8))
        print("done")
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MALLOC_CHECK_": "3"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "done" in r.stdout, r.stderr[-2000:]
    assert open_source(str(tmp_path / "39.mp4")).info.n_frames == 4


def test_explicit_fps_gives_constant_rate(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=6, rate=Fraction(20)))
    copy_all(src, tmp_path / "out.mp4", fps=Fraction(10))
    out = open_source(str(tmp_path / "out.mp4"))
    assert out.info.rate == 10 and out.info.n_frames == 6


@pytest.mark.parametrize(
    "name, codec, pix_fmt",
    [
        ("out.mkv", "ffv1", "bgr0"),
        ("out.mov", "prores_ks", "yuv422p10le"),
        ("out.mp4", "libx265", "yuv420p"),
        ("out.avi", "mpeg4", "yuv420p"),
        ("out.webm", None, "yuv420p"),
    ],
)
def test_other_codecs(tmp_path, name, codec, pix_fmt):
    src = open_source(make_video(tmp_path / "in.mp4", n=4))
    copy_all(src, tmp_path / name, codec=codec)
    with av.open(str(tmp_path / name)) as c:
        assert c.streams.video[0].codec_context.format.name == pix_fmt
    out = open_source(str(tmp_path / name))
    assert out.info.n_frames == 4
    written = first_frame(src).image
    decoded = first_frame(out).image
    if codec == "ffv1":
        assert np.array_equal(decoded, written)  # lossless RGB
    else:
        assert mean_error(decoded, written) < 4


def test_odd_size_is_padded_by_one_pixel(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=3))
    image = np.zeros((31, 47, 3), np.uint8)
    image[:, -1] = (250, 10, 10)  # last column red, so edge replication makes column 48 red too
    with open_sink(str(tmp_path / "odd.mp4"), src.info) as sink:
        for f in src.frames():
            sink.write(image, f.pts)
    out = open_source(str(tmp_path / "odd.mp4"))
    assert (out.info.width, out.info.height, out.info.n_frames) == (48, 32, 3)
    decoded = first_frame(out).image
    assert decoded[:, -1, 0].mean() > 180 and decoded[-1, :-4, 0].mean() < 40


def test_rotation_metadata_is_applied(tmp_path):
    src = open_source(make_video(tmp_path / "rot.mp4", n=2, rotation=90))
    assert (src.info.width, src.info.height) == (H, W)
    image = first_frame(src).image
    assert image.shape == (W, H, 3)
    # 90 degrees counter-clockwise moves the top-left block to the bottom-left.
    assert image[-4, 4, 1] > 150 and image[4, 4, 1] < 50


def test_animated_gif_input(tmp_path):
    src = open_source(make_video(tmp_path / "anim.gif", n=5, rate=Fraction(10), codec="gif"))
    assert (src.info.kind, src.info.n_frames, src.info.width, src.info.height) == ("video", 5, W, H)
    frames = list(src.frames())
    assert all(f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 for f in frames)
    assert mean_error(frames[2].image, pattern_image(2)) < 30  # 256-colour palette


def test_frames_can_be_iterated_twice(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=5))
    first = [f.image for f in src.frames()]
    second = [f.image for f in src.frames()]
    assert len(first) == len(second) == 5
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


# --------------------------------------------------------------------------- selection


def test_video_start_stop_selection(tmp_path):
    path = make_video(tmp_path / "in.mp4", n=12, gop=4)  # keyframes at 0, 4, 8: exercises seeking
    whole = list(open_source(path).frames())
    src = open_source(path, start=5, stop=9)
    assert src.info.n_frames == 4
    part = list(src.frames())
    assert [f.number for f in part] == [5, 6, 7, 8]  # absolute: the source's own positions
    assert [f.pts for f in part] == [f.pts for f in whole[5:9]]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(part, whole[5:9]))
    assert open_source(path, start=10).info.n_frames == 2
    assert open_source(path, stop=100).info.n_frames == 12
    with pytest.raises(InputError, match="selects no frames"):
        open_source(path, start=12)
    with pytest.raises(InputError):
        open_source(path, start=3, stop=3)


def test_sequence_start_stop_selection(tmp_path):
    for n in range(1001, 1006):
        write_png(str(tmp_path / f"f.{n}.png"), pattern_image(n))
    src = open_source(str(tmp_path / "f.%d.png"), start=1, stop=3)
    assert src.info.n_frames == 2 and src.info.first_number == 1002
    with pytest.raises(InputError):
        open_source(str(tmp_path), start=5)


# --------------------------------------------------------------------------- audio


def test_audio_is_copied(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=20, audio="aac"))
    assert src.info.has_audio
    sink = copy_all(src, tmp_path / "out.mp4", audio_from=src)
    assert sink.audio_mode == "copy"
    streams = stream_summary(tmp_path / "out.mp4")
    assert streams["audio"][0] == "aac"
    assert streams["audio"][1] == pytest.approx(streams["video"][1], abs=0.05)
    assert open_source(str(tmp_path / "out.mp4")).info.has_audio


def test_audio_follows_frame_selection(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=40, audio="aac"), start=10, stop=30)
    copy_all(src, tmp_path / "out.mkv", audio_from=src)
    with av.open(str(tmp_path / "out.mkv")) as c:
        packets = [p for p in c.demux(c.streams.audio[0]) if p.dts is not None]
    start = packets[0].pts * packets[0].time_base
    end = (packets[-1].pts + packets[-1].duration) * packets[-1].time_base
    # 20 frames at 20 fps: one second, give or take one AAC packet at each end.
    assert abs(start) < 0.05 and end == pytest.approx(1.0, abs=0.05)
    assert open_source(str(tmp_path / "out.mkv")).info.n_frames == 20


@pytest.mark.parametrize(
    "src_name, audio, out_name, mode, rate",
    [
        ("in.mp4", "aac", "out.webm", "opus", 48000),  # WebM takes only Opus/Vorbis
        ("in.mkv", "pcm_s16le", "out.mp4", "aac", SAMPLE_RATE),  # MP4 refuses this PCM
    ],
)
def test_audio_reencoded_when_container_refuses_it(tmp_path, src_name, audio, out_name, mode, rate):
    src = open_source(make_video(tmp_path / src_name, n=10, audio=audio))
    sink = copy_all(src, tmp_path / out_name, audio_from=src)
    assert sink.audio_mode == mode
    assert stream_summary(tmp_path / out_name)["audio"][0] == mode
    with av.open(str(tmp_path / out_name)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples / rate == pytest.approx(0.5, abs=0.05)


def test_audio_dropped_for_gif(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=4, audio="aac"))
    sink = copy_all(src, tmp_path / "out.gif", audio_from=src)
    assert sink.audio_mode == "none"
    assert set(stream_summary(tmp_path / "out.gif")) == {"video"}
    assert open_source(str(tmp_path / "out.gif")).info.n_frames == 4


# --------------------------------------------------------------------------- sequences


def test_sequence_folder_natural_sort(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for n in (10, 2, 1):
        write_png(str(folder / f"{n}.png"), pattern_image(n))
    (folder / "notes.txt").write_text("not an image")
    assert [os.path.basename(p) for _, p in list_sequence(str(folder))] == ["1.png", "2.png", "10.png"]
    src = open_source(str(folder))
    assert (src.info.kind, src.info.n_frames, src.info.first_number) == ("sequence", 3, 1)
    assert src.info.rate == 25 and src.info.time_base is None and not src.info.has_audio
    frames = list(src.frames())
    assert [f.pts for f in frames] == [None] * 3
    assert all(np.array_equal(f.image, pattern_image(n)) for f, n in zip(frames, (1, 2, 10)))


def test_printf_pattern_in_and_out(tmp_path):
    for n in range(3):
        write_png(str(tmp_path / f"{n:04d}.png"), pattern_image(n))
    write_png(str(tmp_path / "7.png"), pattern_image(7))  # "%04d" would never name a file "7.png"
    src = open_source(str(tmp_path / "%04d.png"), fps=Fraction(12))
    assert src.info.n_frames == 3 and src.info.rate == 12 and src.info.first_number == 0
    copy_all(src, tmp_path / "out" / "frame_%03d.png")
    assert sorted(os.listdir(tmp_path / "out")) == ["frame_000.png", "frame_001.png", "frame_002.png"]
    assert np.array_equal(read_image(str(tmp_path / "out" / "frame_002.png")), pattern_image(2))
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "out") == []


def test_sequence_numbering_preserved_and_video_to_sequence(tmp_path):
    src_dir = tmp_path / "shot"
    src_dir.mkdir()
    for n in (1001, 1002, 1003):
        write_png(str(src_dir / f"shot_{n}.png"), pattern_image(n))
    src = open_source(str(src_dir))
    assert src.info.first_number == 1001
    copy_all(src, str(tmp_path / "styled") + os.sep)
    assert sorted(os.listdir(tmp_path / "styled")) == ["001001.png", "001002.png", "001003.png"]

    video = open_source(make_video(tmp_path / "in.mp4", n=3))
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "000001.png").write_bytes(b"old")
    with pytest.raises(OutputError, match="overwrite"):  # refused unless asked (like ffmpeg without -y)
        copy_all(video, tmp_path / "existing")
    assert (tmp_path / "existing" / "000001.png").read_bytes() == b"old"
    copy_all(video, tmp_path / "existing", overwrite=True)
    assert sorted(os.listdir(tmp_path / "existing")) == ["000001.png", "000002.png", "000003.png"]
    assert read_image(str(tmp_path / "existing" / "000001.png")).shape == (H, W, 3)


def test_sequence_to_video(tmp_path):
    for n in range(4):
        write_png(str(tmp_path / f"{n}.png"), pattern_image(n))
    src = open_source(str(tmp_path), fps=Fraction(24000, 1001))
    copy_all(src, tmp_path / "out.mp4")
    out = open_source(str(tmp_path / "out.mp4"))
    assert out.info.n_frames == 4 and out.info.rate == Fraction(24000, 1001)


def test_mismatched_sizes_name_the_file(tmp_path):
    write_png(str(tmp_path / "a1.png"), pattern_image(0))
    write_png(str(tmp_path / "a2.png"), pattern_image(1, w=40))
    write_png(str(tmp_path / "a3.png"), pattern_image(2, w=40))
    with pytest.raises(InputError, match="a2.png"):
        open_source(str(tmp_path))
    # Non-PNG files are decoded to learn their size.
    cv2.imwrite(str(tmp_path / "a2.png"), pattern_image(1))
    cv2.imwrite(str(tmp_path / "b.jpg"), pattern_image(1, h=20))
    with pytest.raises(InputError, match="a3.png"):
        open_source(str(tmp_path))


def test_single_image_is_a_one_frame_sequence(tmp_path):
    write_png(str(tmp_path / "still.png"), pattern_image(0))
    src = open_source(str(tmp_path / "still.png"))
    assert (src.info.kind, src.info.n_frames, src.info.first_number) == ("sequence", 1, None)


def test_is_sequence_path(tmp_path):
    assert is_sequence_path(str(tmp_path))
    assert is_sequence_path("frames/%04d.png") and is_sequence_path("frames/f_%d.exr")
    assert is_sequence_path("new_folder/") and is_sequence_path("new_folder" + os.sep)
    assert not is_sequence_path("movie.mp4") and not is_sequence_path("100%.mp4")


# --------------------------------------------------------------------------- images


def test_read_image_depths_and_channels(tmp_path):
    rgb = pattern_image(0)
    sixteen = rgb.astype(np.uint16) * 257 + 100  # +100 must round away
    cv2.imwrite(str(tmp_path / "deep.png"), sixteen[:, :, ::-1])
    assert np.array_equal(read_image(str(tmp_path / "deep.png")), rgb)
    cv2.imwrite(str(tmp_path / "deep.tif"), sixteen[:, :, ::-1])
    assert np.array_equal(read_image(str(tmp_path / "deep.tif")), rgb)

    cv2.imwrite(str(tmp_path / "gray.png"), rgb[:, :, 0])
    gray = read_image(str(tmp_path / "gray.png"))
    assert gray.shape == (H, W, 3) and np.array_equal(gray[..., 1], rgb[..., 0])

    bgra = np.dstack([rgb[:, :, ::-1], np.full((H, W), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert np.array_equal(read_image(str(tmp_path / "alpha.png")), rgb)


def test_read_exr_applies_srgb(tmp_path):
    linear = np.zeros((2, 4, 3), np.float32)
    linear[0, 0] = (0.0, 0.18, 1.0)  # mid grey 0.18 is sRGB 117.6
    linear[0, 1] = (2.0, -1.0, np.nan)  # clipped / NaN -> 0
    with av.open(str(tmp_path / "lin.exr"), "w", format="image2") as c:  # cv2 may lack EXR
        s = c.add_stream("exr", rate=1)
        s.width, s.height, s.pix_fmt = 4, 2, "gbrpf32le"
        for p in s.encode(av.VideoFrame.from_ndarray(linear, format="gbrpf32le")):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    img = read_image(str(tmp_path / "lin.exr"))
    assert img.dtype == np.uint8 and img.shape == (2, 4, 3)
    assert tuple(img[0, 0]) == (0, 118, 255)
    assert tuple(img[0, 1]) == (255, 0, 0)


def test_write_png_round_trip(tmp_path):
    path = str(tmp_path / "x.png")
    write_png(path, pattern_image(5))
    write_png(path, pattern_image(6))  # overwrite in place
    assert np.array_equal(read_image(path), pattern_image(6))
    assert os.listdir(tmp_path) == ["x.png"]
    with pytest.raises(ValueError):
        write_png(path, np.zeros((4, 4), np.uint8))


# --------------------------------------------------------------------------- opening


def repeat_clip(src, dst, times):
    """``dst``: the packets of ``src`` (one GOP) muxed ``times`` times one after the other, in a few ms."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        s = i.streams.video[0]
        t = o.add_stream_from_template(s)
        packets = [p for p in i.demux(s) if p.size]
        pts = sorted(p.pts for p in packets)
        step = (pts[1] - pts[0]) * len(packets)
        for k in range(times):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts, q.duration = p.pts + k * step, p.dts + k * step, p.duration
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, t
                o.mux(q)
    return str(dst)


def full_decode_pts(path):
    with av.open(str(path)) as c:
        return [f.pts for f in c.decode(c.streams.video[0])]


def test_opening_a_long_clip_does_not_decode_it(tmp_path, monkeypatch):
    # Frame count and timestamps come from the packets; only the first frame is decoded, to check them.
    # Opening used to decode the whole clip. Counted in frames decoded (PyAV's decoder, spied on).
    gop = make_video(tmp_path / "gop.mp4", n=20, w=320, h=240, gop=20, image=lambda i, w, h: np.ascontiguousarray(
        np.roll(np.tile(pattern_image(i, 64, 48), (5, 5, 1)), 3 * i, axis=1)))
    long = repeat_clip(gop, tmp_path / "long.mp4", 50)
    expected = full_decode_pts(long)
    containers = count_opened(monkeypatch)
    src = open_source(long)
    decoded_opening = sum(c.decoded for c in containers)
    first_two = [f.pts for f in itertools.islice(first_frames(src), 2)]
    decoded = sum(c.decoded for c in containers)
    assert src.info.n_frames == len(expected) == 1000
    assert list(src.probe.pts) == expected and first_two == expected[:2]
    # Opening: the first frame, maybe a few the decoder hands out with it; reading two frames: two more.
    assert decoded_opening <= 4 and decoded <= decoded_opening + 4, (decoded_opening, decoded)


def first_frames(source, n=2):
    with contextlib.closing(source.frames()) as frames:
        return [next(frames) for _ in range(n)]


@pytest.mark.parametrize("name, fmt, codec", [
    ("x.mp4", "mp4", "libx264"),
    ("x.mkv", "matroska", "libx264"),
    ("x.avi", "avi", "mpeg2video"),   # B-frames, AVI: pts made up by the demuxer
    ("x.mpg", "mpeg", "libx264"),     # packets without pts: decoded in full
    ("x.ts", "mpegts", "mpeg2video"),
])
def test_probe_from_packets_agrees_with_a_full_decode(tmp_path, name, fmt, codec):
    path = str(tmp_path / name)
    with av.open(path, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=20)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.gop_size = 6
        if codec == "mpeg2video":
            s.codec_context.max_b_frames = 2
        for i in range(15):
            for p in s.encode(av.VideoFrame.from_ndarray(pattern_image(i), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    src = open_source(path)
    decoded = full_decode_pts(path)
    assert src.info.n_frames == len(decoded) == 15
    assert src.probe.pts is None or list(src.probe.pts) == decoded
    assert [f.pts for f in src.frames()] == (decoded if src.probe.pts is not None else [None] * 15)


# --------------------------------------------------------------------------- errors


def test_bad_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="missing.mp4"):
        open_source(str(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="junk.mp4"):
        open_source(str(junk))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4"):
        open_source(str(tmp_path / "empty.mp4"))
    for name in ("notes.mp4", "notes.txt"):  # FFmpeg would read the .txt as ANSI-art "video"
        (tmp_path / name).write_text("hello, this is not a video\n" * 20)
        with pytest.raises(InputError, match=name):
            open_source(str(tmp_path / name))
    (tmp_path / "style.jpg").write_text("not an image")
    with pytest.raises(InputError, match="style.jpg"):
        read_image(str(tmp_path / "style.jpg"))
    with pytest.raises(InputError, match="style.jpg"):
        open_source(str(tmp_path / "style.jpg"))
    with pytest.raises(InputError, match="nope.png"):
        read_image(str(tmp_path / "nope.png"))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(InputError, match="emptydir"):
        open_source(str(tmp_path / "emptydir"))
    with pytest.raises(InputError, match="nodir"):
        open_source(str(tmp_path / "nodir" / "%04d.png"))


def test_error_messages_are_one_line(tmp_path):
    (tmp_path / "junk.mov").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 300)
    with pytest.raises(InputError) as info:
        open_source(str(tmp_path / "junk.mov"))
    assert "\n" not in str(info.value) and "junk.mov" in str(info.value)


def test_output_errors(tmp_path):
    src_path = make_video(tmp_path / "in.mp4", n=2, audio="aac")
    src = open_source(src_path)
    with pytest.raises(OutputError, match="no_such_dir"):
        open_sink(str(tmp_path / "no_such_dir" / "out.mp4"), src.info)
    with pytest.raises(OutputError, match="no_such_dir"):
        open_sink(str(tmp_path / "no_such_dir" / "deeper" / "%04d.png"), src.info)
    with pytest.raises(OutputError):
        open_sink(src_path, src.info, audio_from=src)
    with pytest.raises(OutputError):
        check_output_path(src_path, str(tmp_path / "." / "in.mp4"))
    check_output_path(src_path, str(tmp_path / "other.mp4"))
    with pytest.raises(OutputError):
        check_output_path(str(tmp_path), str(tmp_path / "%04d.png"))
    with pytest.raises(OutputError, match="unknown video extension"):
        open_sink(str(tmp_path / "out.flv"), src.info)
    with pytest.raises(ConfigError):
        open_sink(str(tmp_path / "out.mp4"), src.info, codec="no-such-codec")
    with pytest.raises(ConfigError):
        open_sink(str(tmp_path / "out.webm"), src.info, codec="libx264")
    with pytest.raises(ConfigError, match="crf"):
        open_sink(str(tmp_path / "out.mp4"), src.info, crf=99)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


@pytest.mark.parametrize("target", ["out.mp4", "out.mkv", "frames/%04d.png", "folder/"])
def test_exception_inside_sink_leaves_nothing(tmp_path, target):
    src = open_source(make_video(tmp_path / "in.mp4", n=4, audio="aac"))
    out = os.path.join(str(tmp_path), target)
    with pytest.raises(RuntimeError):
        with open_sink(out, src.info, audio_from=src) as sink:
            for i, f in enumerate(src.frames()):
                sink.write(f.image, f.pts)
                if i == 2:
                    raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_unclosed_sink_is_cleaned_up(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=2))
    sink = open_sink(str(tmp_path / "out.mp4"), src.info)
    sink.write(pattern_image(0), 0)
    del sink
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


@pytest.mark.parametrize("target", ["out.mp4", "frames/"])
def test_frames_of_another_size_are_refused(tmp_path, target):
    src = open_source(make_video(tmp_path / "in.mp4", n=2))
    with pytest.raises(ValueError, match="differs"):
        with open_sink(os.path.join(str(tmp_path), target), src.info) as sink:
            sink.write(pattern_image(0))
            sink.write(pattern_image(1, w=W + 2))
    with pytest.raises(ValueError):
        with open_sink(os.path.join(str(tmp_path), target), src.info) as sink:
            sink.write(np.zeros((H, W), np.float32))  # floats are fine (rounded to the depth), a gray plane is not
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]
