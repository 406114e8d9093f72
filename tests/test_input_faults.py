"""Inputs a run goes on with but must not pass off as whole (issue 22, items 5-7), through the real CLI: a
frame sequence with a gap keeps its numbers, a video cut short says where it ended (and an explicit range
past that end is refused), alpha that is dropped is said. Each says so in one warning line on stderr,
with --quiet too, and in the --report JSON."""
import json
import os

import av
import cv2
import numpy as np
import pytest

from mediagen import texture
from videostyle.cli import main

W, H = 48, 32
RUN = ["--max-side", "32", "--iterations", "2,1", "--quiet", "--device", "cpu"]


def stylize(capsys, *argv):
    code = main(["stylize", *argv, *RUN])
    err = capsys.readouterr().err
    return code, err


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("videostyle: warning:")]


def frame(i: int) -> np.ndarray:
    """RGB uint8 frame i: a texture that moves one pixel right per frame, so each frame is its own."""
    return np.roll(texture(H, W, (4, 6), seed=3), i, axis=1)


@pytest.fixture()
def style(tmp_path):
    path = str(tmp_path / "style.png")
    cv2.imwrite(path, texture(32, 32, (4, 4), seed=7)[..., ::-1])
    return path


def test_a_gap_in_a_sequence_keeps_the_numbers_and_is_said(tmp_path, capsys, style):
    shot = tmp_path / "shot"
    shot.mkdir()
    numbers = [1, 2, 4, 5]
    for n in numbers:  # 16-bit PNGs, each frame different
        cv2.imwrite(str(shot / f"{n:04d}.png"), frame(n)[..., ::-1].astype(np.uint16) * 257)
    out, report = tmp_path / "out", tmp_path / "run.json"
    code, err = stylize(capsys, str(shot / "%04d.png"), "--style", style, "-o", str(out / "%04d.png"),
                        "--report", str(report), "--temporal-weight", "0", "--output-size", "original")
    assert code == 0, err
    lines = warnings(err)
    assert len(lines) == 1 and "missing (3)" in lines[0], err
    assert sorted(os.listdir(out)) == [f"{n:04d}.png" for n in numbers]
    # Output 0004 comes from input 0004: it matches that frame better than input 0002 (the frame before
    # the gap, which a renumbering run writes as 0003 and so shifts 0004 onto input 0005).
    for n in (4, 5):
        got = cv2.imread(str(out / f"{n:04d}.png"))[..., ::-1].astype(np.float32)
        own = np.abs(got - frame(n)).mean()
        assert all(own < np.abs(got - frame(m)).mean() for m in numbers if m != n), n
    r = json.loads(report.read_text())
    assert r["source"]["missing_numbers"] == [3] and r["source"]["missing_ranges"] == [[3, 3]]
    assert r["warnings"] == [lines[0].removeprefix("videostyle: warning: ")]

    # A video of the same sequence: the four frames one after another at the input's rate, and the
    # report names the gap.
    movie, report2 = tmp_path / "out.mp4", tmp_path / "movie.json"
    code, err = stylize(capsys, str(shot / "%04d.png"), "--style", style, "-o", str(movie),
                        "--report", str(report2), "--fps", "10", "--temporal-weight", "0")
    assert code == 0, err
    assert len(warnings(err)) == 1
    with av.open(str(movie)) as c:
        stream = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(stream)]
    assert times == pytest.approx([0, 0.1, 0.2, 0.3])
    assert json.loads(report2.read_text())["source"]["missing_numbers"] == [3]


def truncated_mp4(path, n: int = 12, keep: float = 0.5) -> str:
    """A faststart MP4 of ``n`` frames (the index first, as streaming sites write it) with only the
    first ``keep`` of its bytes; ``keep`` < 0: all but the last -``keep`` bytes."""
    whole = str(path) + ".whole.mp4"
    with av.open(whole, "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        noise = np.random.default_rng(0)
        for i in range(n):  # noise: every frame costs many bytes, so half the file holds few frames
            image = noise.integers(0, 256, (H, W, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = open(whole, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep) if keep > 0 else int(keep)])
    return str(path)


def decodable(path) -> int:
    """Frames an independent decode (PyAV, no threads) gets before the data ends."""
    n = 0
    with av.open(str(path)) as c:
        try:
            for _ in c.decode(video=0):
                n += 1
        except av.FFmpegError:
            pass
    return n


@pytest.mark.parametrize("keep", [0.5, -10], ids=["half", "last-packet-cut"])
def test_a_video_cut_short_says_where_it_ended(tmp_path, capsys, style, keep):
    clip = truncated_mp4(tmp_path / "cut.mp4", keep=keep)
    with av.open(clip) as c:
        assert c.streams.video[0].frames == 12  # the index still claims the whole clip
    out, report = tmp_path / "out.mp4", tmp_path / "run.json"
    code, err = stylize(capsys, clip, "--style", style, "-o", str(out), "--report", str(report))
    assert code == 0, err
    lines = warnings(err)
    r = json.loads(report.read_text())
    decoded = r["source"]["n_frames"]
    assert decodable(clip) <= decoded < 12
    assert len(lines) == 1 and "12 frames" in lines[0] and f"last good frame is {decoded - 1}" in lines[0], err
    assert r["source"]["ended_early"] == {"decoded_frames": decoded, "expected_frames": 12,
                                          "last_good_frame": decoded - 1}
    assert r["totals"]["frames"] == decoded

    # Asked for frames the file does not hold any more: exit 1, one line, nothing written.
    for frames in ("0:12", f"0-{decoded}"):
        out2 = tmp_path / "out2.mp4"
        code, err = stylize(capsys, clip, "--style", style, "-o", str(out2), "--frames", frames)
        assert code == 1, err
        assert err.startswith("videostyle: error:") and err.count("\n") == 1 and "ends early" in err, err
        assert not out2.exists()
    # A range within what decodes is rendered, with the warning.
    code, err = stylize(capsys, clip, "--style", style, "-o", str(tmp_path / "out3.mp4"), "--frames", "0:2")
    assert code == 0 and len(warnings(err)) == 1, err


def test_alpha_dropped_from_input_frames_or_the_style_is_said(tmp_path, capsys, style):
    shot = tmp_path / "shot"
    shot.mkdir()
    for n in range(1, 4):
        rgba = np.dstack([frame(n)[..., ::-1], np.full((H, W), 128, np.uint8)])  # BGRA for OpenCV
        cv2.imwrite(str(shot / f"{n:04d}.png"), rgba)
    report = tmp_path / "run.json"
    code, err = stylize(capsys, str(shot), "--style", style, "-o", str(tmp_path / "a.mp4"), "--report", str(report))
    assert code == 0, err
    lines = warnings(err)
    assert len(lines) == 1 and "alpha" in lines[0] and str(shot) in lines[0], err
    assert json.loads(report.read_text())["source"]["alpha_dropped"] is True

    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), np.dstack([cv2.imread(style), np.full((32, 32), 200, np.uint8)]))
    plain = tmp_path / "plain"
    plain.mkdir()
    for n in range(1, 3):
        cv2.imwrite(str(plain / f"{n:04d}.png"), frame(n)[..., ::-1])
    code, err = stylize(capsys, str(plain), "--style", str(painting), "-o", str(tmp_path / "b.mp4"))
    assert code == 0, err
    lines = warnings(err)
    assert len(lines) == 1 and "alpha" in lines[0] and str(painting) in lines[0], err


def test_alpha_in_a_video_is_said(tmp_path, capsys, style):
    clip = str(tmp_path / "alpha.mkv")
    with av.open(clip, "w") as c:  # FFV1 keeps an alpha plane (bgra)
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "bgra"
        for i in range(3):
            rgba = np.dstack([frame(i), np.full((H, W), 100, np.uint8)])
            for p in s.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    code, err = stylize(capsys, clip, "--style", style, "-o", str(tmp_path / "out.mp4"))
    assert code == 0, err
    lines = warnings(err)
    assert len(lines) == 1 and "alpha" in lines[0], err


def test_a_whole_input_gives_no_warning(tmp_path, capsys, style):
    """The other side of each rule: a sequence without a gap, a whole faststart MP4, RGB frames."""
    shot = tmp_path / "shot"
    shot.mkdir()
    for n in range(1, 4):
        cv2.imwrite(str(shot / f"{n:04d}.png"), frame(n)[..., ::-1])
    code, err = stylize(capsys, str(shot / "%04d.png"), "--style", style, "-o", str(tmp_path / "o" / "%04d.png"))
    assert code == 0 and warnings(err) == [], err
    clip = truncated_mp4(tmp_path / "cut.mp4", n=6)
    code, err = stylize(capsys, clip + ".whole.mp4", "--style", style, "-o", str(tmp_path / "w.mp4"))
    assert code == 0 and warnings(err) == [], err
