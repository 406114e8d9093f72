"""Output sinks: what an existing output becomes (refused, or replaced whole), leftovers of killed runs,
failures and signals while the writer thread stops, and bounded memory for full-size source frames."""

import dataclasses
import os
import signal
import subprocess
import sys
import weakref

import cv2
import numpy as np
import pytest

from videostyle.errors import OutputError
from videostyle.io.frames import list_sequence, read_image
from videostyle.io.media import MediaInfo, open_sink, open_source
from videostyle.run.outputs import Outputs

from mediagen import H, W, make_video, pattern_image

TESTS = os.path.dirname(os.path.abspath(__file__))
SEQ_INFO = MediaInfo(kind="sequence", width=W, height=H, n_frames=3, rate=25, time_base=None, has_audio=False,
                     first_number=1)


def write_frames(path, n, shade=0, **kwargs):
    with open_sink(str(path), SEQ_INFO, **kwargs) as sink:
        for i in range(n):
            sink.write(pattern_image(i + shade))


def partials(folder):
    """Every '.partial' name under ``folder`` (any depth), the lock files beside them (io/locks.py) not
    counted; a lock file whose staging path is gone is a stray, and fails here."""
    names = sorted(os.path.relpath(os.path.join(d, n), folder)
                   for d, dirs, files in os.walk(folder) for n in dirs + files if ".partial" in n)
    stray = [n for n in names if n.endswith(".lock") and n[:-len(".lock")] not in names]
    assert not stray, f"lock files left without their staging path: {stray}"
    return [n for n in names if not n.endswith(".lock")]


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``."""
    out = {}
    for d, _, files in os.walk(folder):
        for n in files:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder)] = f.read()
    return out


# --------------------------------------------------------------------------- existing outputs (item 5)


@pytest.mark.parametrize("target", ["out/%04d.png", "out/", "clip.mp4"])
def test_existing_output_is_refused_with_one_line_and_left_unchanged(tmp_path, target):
    out = os.path.join(str(tmp_path), target)  # keeps a trailing "/"
    if target.endswith(".mp4"):
        make_video(out, n=2)
    else:
        write_frames(out, 3)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError) as info:
        write_frames(out, 2, shade=5)
    assert "\n" not in str(info.value) and "overwrite" in str(info.value)
    assert snapshot(tmp_path) == before and partials(tmp_path) == []


def test_overwrite_replaces_every_frame_of_the_pattern_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    write_frames(out / "%04d.png", 5)
    # Not frames of the pattern: another pattern, another padding, a text file, a hidden file.
    for name in ("other_0001.png", "7.png", "notes.txt", ".hidden"):
        (out / name).write_bytes(b"keep")
    write_frames(out / "%04d.png", 2, shade=9, overwrite=True)
    assert [os.path.basename(p) for _, p in list_sequence(str(out / "%04d.png"))] == ["0001.png", "0002.png"]
    assert np.array_equal(read_image(str(out / "0002.png")), pattern_image(10))
    assert all((out / n).read_bytes() == b"keep" for n in ("other_0001.png", "7.png", "notes.txt", ".hidden"))
    assert partials(tmp_path) == []


def test_overwrite_replaces_a_video(tmp_path):
    out = tmp_path / "clip.mp4"
    make_video(out, n=5)
    src = open_source(make_video(tmp_path / "in.mp4", n=2))
    with open_sink(str(out), src.info, overwrite=True) as sink:
        for f in src.frames():
            sink.write(f.image, f.pts)
    assert open_source(str(out)).info.n_frames == 2
    assert partials(tmp_path) == []


def test_a_video_that_appears_while_encoding_is_not_replaced(tmp_path):
    src = open_source(make_video(tmp_path / "in.mp4", n=2))
    out = tmp_path / "clip.mp4"
    with pytest.raises(OutputError, match="overwrite"):
        with open_sink(str(out), src.info) as sink:
            for f in src.frames():
                sink.write(f.image, f.pts)
            out.write_bytes(b"someone else's")
    assert out.read_bytes() == b"someone else's" and partials(tmp_path) == []


def test_a_new_frame_folder_appears_in_one_rename(tmp_path):
    """The staging folder itself becomes the output folder: it appears complete or not at all."""
    sink = open_sink(str(tmp_path / "out") + "/", SEQ_INFO)
    for i in range(3):
        sink.write(pattern_image(i))
    [stage] = partials(tmp_path)
    staged_inode = os.stat(tmp_path / stage).st_ino
    assert not (tmp_path / "out").exists()
    sink.close()
    assert os.stat(tmp_path / "out").st_ino == staged_inode
    assert sorted(os.listdir(tmp_path / "out")) == ["000001.png", "000002.png", "000003.png"]
    assert partials(tmp_path) == []


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from mediagen import pattern_image
from videostyle.io.media import MediaInfo, open_sink
info = MediaInfo("sequence", 48, 32, 3, 25, None, False, 1)
sink = open_sink({out!r}, info, overwrite=True)
for i in range(3):
    sink.write(pattern_image(i))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("exists", [False, True])
def test_leftovers_of_killed_runs_of_the_same_output_are_removed(tmp_path, exists):
    out = tmp_path / "out"
    if exists:
        write_frames(out / "%04d.png", 2)
    pattern = str(out / "%04d.png")
    code = KILLED_WRITER.format(tests=TESTS, out=pattern)
    done = subprocess.run([sys.executable, "-c", code], cwd=TESTS, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == -signal.SIGKILL
    [killed] = partials(tmp_path)
    # Kept: a live writer of the same output, another output's staging, a hidden folder not ours.
    live = open_sink(pattern, SEQ_INFO, overwrite=True)
    live.write(pattern_image(0))
    [live_stage] = set(partials(tmp_path)) - {killed}
    parent = out if exists else tmp_path
    keep = [parent / ".out.partial-0123abcd-deadbeef.other", parent / ".elsewhere.partial-abcd1234"]
    for k in keep:
        k.mkdir()
    # The unlocked staging folder of an older version (a random 8-character suffix) is ours too.
    legacy = parent / ".out.partial-x_7k2q9z"
    legacy.mkdir()
    write_frames(pattern, 3, overwrite=True)
    left = set(partials(tmp_path))
    assert killed not in left and os.path.relpath(legacy, tmp_path) not in left
    assert live_stage in left and all(k.is_dir() for k in keep)
    live.close()  # the live writer still commits
    not_ours = {".elsewhere.partial-abcd1234", ".out.partial-0123abcd-deadbeef.other"} if exists else set()
    assert set(os.listdir(out)) == {"0001.png"} | not_ours


def test_temporary_video_files_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    target = str(tmp_path / "out.mp4")
    code = KILLED_WRITER.format(tests=TESTS, out=target).replace('"sequence"', '"video"')
    done = subprocess.run([sys.executable, "-c", code], cwd=TESTS, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == -signal.SIGKILL
    [killed] = partials(tmp_path)
    other = tmp_path / ".other.partial-0123abcd.mp4"  # another output's: not ours to delete
    other.write_bytes(b"x")
    info = dataclasses.replace(SEQ_INFO, kind="video")
    live = open_sink(target, info, overwrite=True)
    live.write(pattern_image(0))
    [live_tmp] = set(partials(tmp_path)) - {killed, other.name}
    second = open_sink(target, info, overwrite=True)  # another run of the same output, while one is live
    assert killed not in partials(tmp_path) and live_tmp in partials(tmp_path) and other.exists()
    second.abort()
    live.close()
    assert os.path.isfile(target) and partials(tmp_path) == [other.name]


# --------------------------------------------------------------------------- failures and signals (item 10)


def video_source(tmp_path, n=4):
    return open_source(make_video(tmp_path / "in.mp4", n=n, audio="aac"))


def open_outputs(tmp_path, src, output="out.mp4", compare="cmp.mp4", **kw):
    info = src.info
    def place(name):  # os.path.join keeps a trailing "/" (a frame folder)
        return name and os.path.join(str(tmp_path), name)

    return Outputs(place(output), place(compare), info, (info.width, info.height),
                   False, 8, audio_from=src, **kw)


def feed(outputs, src):
    for f in src.frames():
        outputs.remember(f)
        outputs.write(f.number, f.image.astype(np.float32), f.image)


@pytest.mark.parametrize("compare", ["cmp.flv", "cmp.mp4"])
def test_a_compare_sink_that_cannot_open_leaves_no_main_temporary_file(tmp_path, compare):
    src = video_source(tmp_path)
    if compare == "cmp.mp4":
        (tmp_path / compare).write_bytes(b"exists")
    with pytest.raises(OutputError) as info:
        open_outputs(tmp_path, src, compare=compare)
    # Checked while the exception (and so the half-built object) is still alive.
    assert info.value is not None and partials(tmp_path) == []
    assert not (tmp_path / "out.mp4").exists()


def test_a_compare_sink_that_cannot_commit_aborts_the_main_one(tmp_path):
    src = video_source(tmp_path)
    with pytest.raises(OutputError):
        with open_outputs(tmp_path, src, compare="cmp/") as outputs:
            feed(outputs, src)
            outputs.finish()
            (tmp_path / "cmp").write_bytes(b"a file where the frame folder goes")
    assert sorted(os.listdir(tmp_path)) == ["cmp", "in.mp4"] and partials(tmp_path) == []


def test_a_main_sink_that_cannot_commit_leaves_no_compare_temporary_file(tmp_path):
    src = video_source(tmp_path)
    with pytest.raises(OutputError):
        with open_outputs(tmp_path, src, output="frames/", compare="cmp.mp4") as outputs:
            feed(outputs, src)
            outputs.finish()
            (tmp_path / "frames").write_bytes(b"a file where the frame folder goes")
    # The compare is committed first (documented): it is complete, and nothing temporary remains.
    assert partials(tmp_path) == [] and open_source(str(tmp_path / "cmp.mp4")).info.n_frames == 4


class Interrupting:
    """A thread join that is interrupted by a signal (KeyboardInterrupt) the first ``times`` times."""

    def __init__(self, thread, times=1):
        self.join, self.times, self.calls = thread.join, times, 0

    def __call__(self, timeout=None):
        self.calls += 1
        if self.calls <= self.times:
            raise KeyboardInterrupt
        return self.join(timeout)


@pytest.mark.parametrize("where", ["exit", "finish"])
def test_a_second_signal_while_the_writer_stops_still_aborts_both_sinks(tmp_path, where):
    src = video_source(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with open_outputs(tmp_path, src) as outputs:
            feed(outputs, src)
            outputs._thread.join = Interrupting(outputs._thread, times=2)
            if where == "finish":
                outputs.finish()  # first signal here, the second in __exit__
            raise KeyboardInterrupt  # the first signal; the second comes while waiting for the writer
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]
    assert not outputs._thread.is_alive()


def test_a_signal_inside_the_encoder_while_finishing_aborts_both_sinks(tmp_path, monkeypatch):
    src = video_source(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with open_outputs(tmp_path, src, output="frames/", compare="cmp.mp4") as outputs:
            write = outputs.side.write
            calls = []

            def interrupted(image, pts=None):
                calls.append(pts)
                if len(calls) == 3:
                    raise KeyboardInterrupt
                write(image, pts)

            outputs.side.write = interrupted
            feed(outputs, src)
            outputs.finish()
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


# --------------------------------------------------------------------------- memory (item 8)


class Counted:
    """A real source whose full-size frames are counted while alive (weak references)."""

    def __init__(self, source):
        self.source, self.path, self.info = source, source.path, source.info
        self.alive: list[weakref.ref] = []
        self.peak = 0

    def __getattr__(self, name):  # everything else is the real source's
        return getattr(self.source, name)

    def frames(self):
        for frame in self.source.frames():
            self.alive = [r for r in self.alive if r() is not None] + [weakref.ref(frame.image)]
            self.peak = max(self.peak, len(self.alive))
            yield frame


def test_full_size_frames_are_read_again_not_kept(tmp_path):
    """Multi-pass order: the whole clip is decoded (and remembered) before the first frame is written."""
    src = Counted(video_source(tmp_path, n=8))
    info = src.info
    small = (info.width // 2, info.height // 2)
    with Outputs(str(tmp_path / "out") + "/", str(tmp_path / "cmp") + "/", info, (small[0], small[1]), True, 8,
                 audio_from=src) as outputs:
        decoded = []
        for f in src.frames():
            outputs.remember(f)
            decoded.append((f.number, cv2.resize(f.image, small, interpolation=cv2.INTER_AREA)))
        for index, image in decoded:
            outputs.write(index, image.astype(np.float32), image)
    assert src.peak <= 3
    full = [f.image for f in open_source(str(tmp_path / "in.mp4")).frames()]
    side = [read_image(p) for _, p in list_sequence(str(tmp_path / "cmp"))]
    assert len(side) == 8 and all(np.array_equal(s[:, :W], f) for s, f in zip(side, full))


@pytest.mark.slow
def test_multipass_with_original_size_compare_keeps_memory_bounded(tmp_path, monkeypatch):
    from videostyle.run import pipeline, plan
    from videostyle.config import MultiPassConfig, OptimConfig, StylizeConfig

    n = 6
    video = make_video(tmp_path / "in.mp4", n=n)
    style = str(tmp_path / "style.png")
    cv2.imwrite(style, np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    counted = []

    def open_counted(*args, **kwargs):
        counted.append(Counted(open_source(*args, **kwargs)))
        return counted[-1]

    monkeypatch.setattr(plan, "open_source", open_counted)  # where the Shot opens its source
    config = StylizeConfig(max_side=24, device="cpu",
                           multipass=MultiPassConfig(passes=2, temporal_from_pass=2, pass_iterations=1),
                           optim=OptimConfig(iterations_first=1, iterations_later=1, tolerance=0))
    pipeline.stylize_video(video, style, str(tmp_path / "out") + "/", config, output_size="original",
                           preserve_colors=True, compare=str(tmp_path / "cmp") + "/")
    assert counted[0].peak <= 4  # the whole clip (6) before
    full = [f.image for f in open_source(video).frames()]
    side = [read_image(p) for _, p in list_sequence(str(tmp_path / "cmp"))]
    main = [read_image(p) for _, p in list_sequence(str(tmp_path / "out"))]
    assert len(side) == len(main) == n
    assert all(np.array_equal(s[:, :W], f) and np.array_equal(s[:, W:], m) for s, f, m in zip(side, full, main))


KILLED_IN_COMMIT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from mediagen import pattern_image
from videostyle.io.media import MediaInfo, open_sink
info = MediaInfo("sequence", 48, 32, 3, 25, None, False, 1)
sink = open_sink({out!r}, info, overwrite=True)
for i in range(3):
    sink.write(pattern_image(20 + i))
moves = []
def killing(a, b, _replace=os.replace, _rename=os.rename):
    if len(moves) == {after}:
        os.kill(os.getpid(), signal.SIGKILL)
    moves.append(b)
    return (_rename if {rename} else _replace)(a, b)
if {rename}:
    os.rename = killing
else:
    os.replace = killing
sink.close()
"""


@pytest.mark.parametrize("exists", [False, True])
def test_a_kill_during_the_commit_is_repaired_by_a_rerun(tmp_path, exists):
    """A new folder appears whole or not at all; an existing one can be left with a mix of new and old
    frames (documented), which a rerun with overwrite replaces, removing the dead run's staging folder."""
    out = tmp_path / "out"
    if exists:
        write_frames(out / "%04d.png", 5)
    code = KILLED_IN_COMMIT.format(tests=TESTS, out=str(out / "%04d.png"), after=1 if exists else 0,
                                   rename=not exists)
    done = subprocess.run([sys.executable, "-c", code], cwd=TESTS, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == -signal.SIGKILL
    assert len(partials(tmp_path)) == 1
    if exists:  # frame 1 is new, 2..5 old
        assert np.array_equal(read_image(str(out / "0001.png")), pattern_image(20))
        assert np.array_equal(read_image(str(out / "0002.png")), pattern_image(1)) and (out / "0005.png").exists()
    else:
        assert not out.exists()
    write_frames(out / "%04d.png", 3, shade=30, overwrite=True)
    assert partials(tmp_path) == [] and sorted(os.listdir(out)) == ["0001.png", "0002.png", "0003.png"]
    assert np.array_equal(read_image(str(out / "0003.png")), pattern_image(32))
