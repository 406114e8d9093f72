"""Frames read after a seek are exactly the frames a decode from the start gives (issue 10, item 11)."""

import re

import av
import numpy as np

from videostyle.io.video import decode as video
from videostyle.io.video import probe_video
from videostyle.io.media import open_source

from avspy import count_opened
from mediagen import make_video, texture

W, H = 64, 48


def moving_texture(i, w, h):
    """Frame i: a textured window sliding over a larger texture (detail in every 8x8 block)."""
    big = texture(h + 40, w + 40, (12, 16), seed=1)
    return np.ascontiguousarray(big[2 * i : 2 * i + h, i : i + w])


def make_old_x264_444(path, n=8, gop=4):
    """Lossless H.264 High 4:4:4 written by today's x264, its version SEI (first packet only) rewritten
    to build 142. FFmpeg then decodes it with its workaround for x264 < 151's 4:4:4 bug, but only after
    it has read that SEI: a decoder that starts at a later IDR decodes it differently — the property of
    ../shared/data/videos/cockatoo.mp4 (x264 core 142, High 4:4:4), whose later IDRs came out near-black.
    Two GOPs only: in this all-lossless stream FFmpeg's later GOPs depend on its threading mode even when
    decoded from the start, so they are no stable reference (the real clip's are)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=20)
        s.width, s.height, s.pix_fmt = W, H, "yuv444p"
        s.codec_context.gop_size = gop
        s.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "x264-params": "qp=0"}
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(moving_texture(i, W, H), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    data = open(path, "rb").read()
    found = re.search(rb"x264 - core (\d{3})", data)
    assert found, "x264 wrote no version SEI"
    open(path, "wb").write(data[: found.start(1)] + b"142" + data[found.end(1) :])
    return str(path)


def decoded_from_start(path):
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]


def plain_seek(path, pts):
    """The frame at ``pts`` after a bare keyframe seek in a fresh decoder (what videostyle used to do)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        c.seek(pts, stream=s)
        return next(f for f in c.decode(s) if f.pts >= pts).to_ndarray(format="rgb24")


def test_seek_is_exact_when_only_the_first_packet_sets_up_the_decoder(tmp_path, monkeypatch):
    path = make_old_x264_444(tmp_path / "old444.mp4")
    whole = decoded_from_start(path)
    # The file has the property: a bare seek to the second IDR decodes another picture.
    assert np.abs(plain_seek(path, whole[4][0]).astype(int) - whole[4][1]).mean() > 10
    probe = probe_video(path)
    video._seek_is_exact(path, probe)  # the once-per-file check, so the counts below are the reads' own
    opened = count_opened(monkeypatch)  # every read's container, counting its seeks and decoded frames
    for start, stop in [(4, 8), (5, 7), (7, 8)]:
        opened.clear()
        part = list(open_source(path, start, stop).frames())
        assert [f.pts for f in part] == [pts for pts, _ in whole[start:stop]]
        for frame, (_, expected) in zip(part, whole[start:stop]):
            assert np.array_equal(frame.image, expected), f"frame {frame.number} after a seek"
        # It did seek: one read, which decoded the first frame (to set up the decoder), then the GOP from
        # the keyframe at 4 to the range's end (and one frame more, to see the range end), where a decode
        # from the start decodes every frame before the range too.
        reads = [c for c in opened if c.decoded]
        assert len(reads) == 1 and reads[0].seeks == 1, (start, [(c.seeks, c.decoded) for c in opened])
        assert reads[0].decoded <= 1 + (stop - 4) + 1, (start, stop, reads[0].decoded)  # from the start: >= stop
    monkeypatch.undo()
    assert video._check_seek(path, probe)  # the once-per-file check agrees


def make_b_frame_mp4(path, n=24, gop=8):
    """x264 with three B-frames between references, keyframes every ``gop`` frames, in MP4."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=20)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.gop_size = gop
        s.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0",
                                   "x264-params": "bframes=3:b-adapt=0:open-gop=1"}
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(moving_texture(i, W, H), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return str(path)


def test_every_start_of_a_b_frame_mp4_is_exact_and_seeks(tmp_path):
    # MP4's demuxer seeks by decode time, which runs ahead of presentation time with B-frames: a target
    # just before a keyframe first lands past it. The seek is retried earlier (it used to decode the
    # whole file from the start instead).
    path = make_b_frame_mp4(tmp_path / "b.mp4")
    whole = decoded_from_start(path)
    probe = probe_video(path)
    for start in range(1, len(whole)):
        with av.open(path) as c:
            s = c.streams.video[0]
            assert next(video._seek_decode(c, s, probe.pts[start])).pts == probe.pts[start]
        got = list(video.decode_video(path, probe, start, min(start + 4, len(whole))))
        assert [pts for pts, _ in got] == [pts for pts, _ in whole[start : start + 4]]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, whole[start:]))


def test_seek_check_runs_once_per_file_and_sees_a_changed_file(tmp_path):
    path = make_video(tmp_path / "c.mp4", n=12, gop=4)
    probe = probe_video(path)
    key = video.file_identity(path)
    list(video.decode_video(path, probe, 6, 8))
    assert video._SEEK_EXACT[key] is True
    make_video(tmp_path / "c.mp4", n=12, gop=4, image=moving_texture)  # same name, new file
    assert video.file_identity(path) != key
