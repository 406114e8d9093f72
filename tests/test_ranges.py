"""Timing and ranges as compositing tools and ffmpeg users write them (issue 13, items 5 and 6's -an):
``--frames FIRST-LAST`` in a sequence's own numbers, ``####`` / ``@`` patterns, ``--fps`` on a video
refused (audio would drift), ``-an``."""
import os
import subprocess
import sys
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle.cli import main
from videostyle.errors import ConfigError, InputError
from videostyle.io.frameranges import Numbers, NumberSet, Positions, parse_frames
from videostyle.io.frames import format_pattern, has_number_field, list_sequence, normalize_pattern
from videostyle.io.media import is_sequence_path, open_source

FAST = ["--iterations", "2,1", "--max-side", "48", "--quiet", "--device", "cpu"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.fixture
def shot(tmp_path):
    """A shot numbered 1001–1006 (shot.1001.png …, 48x32) and a painting."""
    folder = tmp_path / "plates"
    folder.mkdir()
    for n in range(1001, 1007):
        cv2.imwrite(str(folder / f"shot.{n}.png"), texture(32, 48, (4, 6), seed=n))
    style = tmp_path / "painting.png"
    cv2.imwrite(str(style), np.random.default_rng(1).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    return folder, str(style)


# --------------------------------------------------------------------------- patterns


def test_hash_and_at_patterns_become_printf():
    assert normalize_pattern("out/sh010.####.exr") == "out/sh010.%04d.exr"
    assert normalize_pattern("out/sh010.@.png") == "out/sh010.%d.png"  # one @: unpadded
    assert normalize_pattern("out/sh010.@@@.png") == "out/sh010.%03d.png"
    assert normalize_pattern("out/f.#.png") == "out/f.%d.png"  # one # per digit (Nuke), not RV's four
    # Only the file name's run counts: a '#' or '@' in a folder name is part of the name.
    assert normalize_pattern("take#2/@home/sh.##.png") == "take#2/@home/sh.%02d.png"
    assert normalize_pattern("v#1_##.png") == "v#1_%02d.png"  # the last run is the number field
    assert normalize_pattern("clips/take#1.mp4") == "clips/take#1.mp4"  # a video name, not a pattern
    assert normalize_pattern("f.%04d.png") == "f.%04d.png"
    assert normalize_pattern("out/") == "out/"


def test_an_existing_file_with_a_hash_in_its_name_is_that_file(tmp_path):
    image = tmp_path / "poster#1.png"
    cv2.imwrite(str(image), texture(32, 48, (4, 6), seed=0))
    assert normalize_pattern(str(image)) == str(image)
    assert not is_sequence_path(str(image))
    assert open_source(str(image)).info.n_frames == 1


def test_sequences_list_and_write_through_hash_patterns(tmp_path):
    for n in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"sh.{n:04d}.png"), texture(32, 48, (4, 6), seed=n))
    cv2.imwrite(str(tmp_path / "sh.7.png"), texture(32, 48, (4, 6), seed=7))  # not ####: 4 digits
    want = [(1, str(tmp_path / "sh.0001.png")), (2, str(tmp_path / "sh.0002.png")),
            (10, str(tmp_path / "sh.0010.png"))]
    assert list_sequence(str(tmp_path / "sh.####.png")) == want
    assert list_sequence(str(tmp_path / "sh.@@@@.png")) == want
    assert has_number_field(str(tmp_path / "sh.####.png"))
    assert format_pattern(str(tmp_path / "sh.@.png"), 7) == str(tmp_path / "sh.7.png")


# --------------------------------------------------------------------------- --frames


def test_frames_forms_parse():
    assert parse_frames("0:48") == Positions(0, 48) and tuple(parse_frames("10:")) == (10, None)
    assert parse_frames("1001-1050") == Numbers(1001, 1050)
    assert parse_frames("1001") == Numbers(1001, 1001)  # one frame, by its number
    for bad in ("1050-1001", "a:b", "3:3", "-4", "1-2-3"):
        with pytest.raises(ConfigError):
            parse_frames(bad)


def test_frame_numbers_select_a_sequences_own_files(shot):
    folder, _ = shot
    src = open_source(str(folder), "1002-1004")
    assert [os.path.basename(p) for _, p in src.files] == ["shot.1002.png", "shot.1003.png", "shot.1004.png"]
    assert (src.start, src.stop, src.info.first_number) == (1, 4, 1002)
    assert open_source(str(folder / "shot.####.png"), "1006").info.n_frames == 1
    assert open_source(str(folder), "1:3").info.first_number == 1002  # START:END stays positions


def test_frame_numbers_of_a_video_are_its_0_based_frames(tmp_path):
    clip = make_video(tmp_path / "in.mp4", n=6)
    src = open_source(clip, "2-3")
    assert (src.start, src.stop, src.info.n_frames) == (2, 4, 2)
    with pytest.raises(InputError, match="holds frames 0-5"):
        open_source(clip, "4-6")


def test_frame_numbers_the_sequence_does_not_have_are_refused(shot, tmp_path):
    folder, _ = shot
    for outside in ("1-3", "1000-1002", "1005-1007"):
        with pytest.raises(InputError, match="holds frames 1001-1006"):
            open_source(str(folder), outside)
    os.remove(folder / "shot.1003.png")
    os.remove(folder / "shot.1004.png")
    with pytest.raises(InputError, match="no frame in that range"):
        open_source(str(folder), "1003-1004")  # inside the shot, but in its gap
    assert open_source(str(folder), "1002-1005").info.n_frames == 2  # a gap inside a range is skipped
    plain = tmp_path / "plain"
    plain.mkdir()
    cv2.imwrite(str(plain / "a.png"), texture(32, 48, (4, 6), seed=0))
    with pytest.raises(InputError, match="carry no frame numbers"):
        open_source(str(plain), "1-1")


# Stepped and listed --frames (fileseq's FrameSet syntax), mapped onto numbers as an input gives them.
SHOT = list(range(1001, 1011))  # a sequence's numbers, 1001-1010


def test_stepped_and_listed_frames_parse():
    stepped = parse_frames("1001-1010x2")
    assert stepped == NumberSet((1001, 1003, 1005, 1007, 1009)) and str(stepped) == "1001-1010x2"
    assert parse_frames("1001,1005-1010").numbers == (1001, 1005, 1006, 1007, 1008, 1009, 1010)
    assert parse_frames("1-9x2,20").numbers == (1, 3, 5, 7, 9, 20)
    assert parse_frames("1-10y3").numbers == (2, 3, 5, 6, 8, 9)  # y: the numbers x3 leaves out
    assert parse_frames("7, 1-3,2") == NumberSet((1, 2, 3, 7))  # sorted, once each; equal whatever was typed
    assert str(NumberSet((1, 2, 3, 7))) == "1-3,7"  # built in code: runs
    # The two older forms are untouched by fileseq: ':' is positions, FIRST-LAST and N are Numbers.
    assert parse_frames("0:3") == Positions(0, 3)
    assert parse_frames("5") == Numbers(5, 5) and parse_frames("3-7") == Numbers(3, 7)


def test_stepped_is_true_only_for_a_set_that_is_not_one_run():
    assert parse_frames("1001-1010x2").stepped and parse_frames("1,3").stepped
    assert parse_frames("1-9x2,20").stepped
    assert not parse_frames("1001,1002-1005").stepped  # listed, but contiguous
    assert not parse_frames("1-10x1").stepped
    assert not any(parse_frames(t).stepped for t in ("0:3", "5", "3-7", None))


def test_a_set_selects_the_positions_of_its_numbers():
    assert parse_frames("1001-1010x2").positions(SHOT, "shot") == (0, 2, 4, 6, 8)
    assert parse_frames("1001,1005-1010").positions(SHOT, "shot") == (0, 4, 5, 6, 7, 8, 9)
    assert parse_frames("1002-1010x4").select(SHOT, "shot") == (1, 10)  # the span: 1002 to 1010
    # Positions and Numbers give the contiguous positions their select gives.
    assert parse_frames("0:3").positions(SHOT, "shot") == (0, 1, 2)
    assert parse_frames("1003-1005").positions(SHOT, "shot") == (2, 3, 4)
    assert parse_frames("1003-1005").select(SHOT, "shot") == (2, 5)
    assert parse_frames("1004").positions(SHOT, "shot") == (3,)


def test_a_set_on_a_videos_0_based_frames():
    assert parse_frames("0-9x3").positions(range(20), "clip.mp4") == (0, 3, 6, 9)
    assert parse_frames("0-9x3").select(range(20), "clip.mp4") == (0, 10)
    assert parse_frames("18,19").positions(range(20), "clip.mp4") == (18, 19)
    with pytest.raises(InputError, match="clip.mp4 holds frames 0-19"):
        parse_frames("15-20x5").positions(range(20), "clip.mp4")


def test_a_gap_inside_a_set_is_skipped(shot):
    folder, _ = shot
    os.remove(folder / "shot.1003.png")
    numbers = [n for n, _ in list_sequence(str(folder))]
    assert numbers == [1001, 1002, 1004, 1005, 1006]
    assert parse_frames("1001-1005x2").positions(numbers, str(folder)) == (0, 3)  # 1001, 1005; not 1003
    assert parse_frames("1001-1005x2").select(numbers, str(folder)) == (0, 4)
    with pytest.raises(InputError, match="no frame in that range"):
        parse_frames("1003").positions([1001, 1002, 1004], "shot")  # as Numbers refuses it
    with pytest.raises(InputError, match="has none of those frames"):
        parse_frames("1003,1005").positions([1001, 1002, 1004, 1006], "shot")  # all in gaps


def test_a_set_the_input_does_not_hold_is_refused():
    for outside in ("1001-1012x2", "1000,1005", "1-5x2", "1001,1011"):
        with pytest.raises(InputError, match="shot holds frames 1001-1010"):
            parse_frames(outside).positions(SHOT, "shot")
    with pytest.raises(InputError, match="carry no frame numbers"):
        parse_frames("1,3").positions([None, None], "plain")
    with pytest.raises(InputError, match="carry no frame numbers"):
        parse_frames("1,3").positions([], "empty")
    with pytest.raises(InputError, match="not in order"):
        parse_frames("1,3").positions([3, 2, 1], "shuffled")


@pytest.mark.parametrize("text, words", [
    ("1-10x", "--frames must be"),         # fileseq cannot parse it
    ("a-b", "--frames must be"),
    ("1-10x0", "--frames must be"),
    ("1.5", "no subframes"),                # fileseq reads subframes
    ("1-3x0.5", "no subframes"),
    ("-3", "not negative"),                 # fileseq reads negative frames
    ("1--3", "not negative"),
    ("10-1", "LAST is before FIRST"),       # fileseq counts down
    ("1,10-1x2", "LAST is before FIRST"),
    ("1-10:2", "only for START:END"),       # fileseq staggers
    ("1-10y1", "selects no frames"),        # y1 leaves none
    ("1 2", "--frames must be"),            # fileseq reads 12
    ("1001#", "--frames must be"),          # fileseq drops padding characters
    ("1,,3", "--frames must be"),
    ("1-100000000x2", "more frames than fileseq allows"),
])
def test_bad_sets_are_one_line_config_errors(text, words):
    with pytest.raises(ConfigError) as caught:
        parse_frames(text)
    message = str(caught.value)
    assert words in message and text in message and "\n" not in message, message
    if text != "10-1":  # FIRST-LAST's own message, as before
        assert "1001-1100x2" in message  # the accepted forms, with the new ones


def test_no_fileseq_exception_escapes(monkeypatch):
    import fileseq

    def broken(text):
        raise RuntimeError("a fileseq surprise")

    monkeypatch.setattr(fileseq, "FrameSet", broken)
    with pytest.raises(ConfigError, match="--frames must be"):
        parse_frames("1-9x2")


def test_frameranges_imports_and_reads_older_forms_without_fileseq():
    script = ("import sys; sys.modules['fileseq'] = None\n"  # any import of fileseq now fails
              "from videostyle.errors import ConfigError\n"
              "from videostyle.io.frameranges import parse_frames\n"
              "print(parse_frames('0:3'), parse_frames('3-7'))\n"
              "try:\n    parse_frames('1,3')\nexcept ConfigError as e:\n    print(e)\n")
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[0] == "0:3 3-7" and "need the fileseq package" in got.stdout


def test_stylize_a_vfx_range_into_a_hash_pattern(shot, tmp_path, capsys):
    """The issue's case: --frames FIRST-LAST on a shot numbered from 1001 selects those files; the output
    keeps their numbers; #### and @ patterns work for input and output."""
    folder, style = shot
    out = tmp_path / "out"
    out.mkdir()
    code, err = run(capsys, "stylize", folder / "shot.@@@@.png", "--style", style, "-o", out / "sh010.####.png",
                    "--frames", "1001-1003", *FAST)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["sh010.1001.png", "sh010.1002.png", "sh010.1003.png"]
    assert not list(tmp_path.glob("*#*")) and not list(out.glob("*#*"))  # no file named with the pattern


def test_a_video_into_an_exr_hash_pattern(tmp_path, capsys):
    clip = make_video(tmp_path / "in.mp4", n=3, image=lambda i, w, h: texture(h, w, (4, 6), seed=i))
    style = tmp_path / "painting.png"
    cv2.imwrite(str(style), texture(24, 24, (3, 3), seed=9))
    (tmp_path / "out").mkdir()
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", tmp_path / "out" / "sh010.####.exr", *FAST)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["sh010.0001.exr", "sh010.0002.exr", "sh010.0003.exr"]
    assert not os.path.exists(tmp_path / "out.sh010.%04d.exr.videostyle")  # work folder cleaned up


@pytest.mark.parametrize("frames, code, words", [
    ("1-3", 1, "holds frames 1001-1006"),   # numbers the shot does not have
    ("1050-1001", 2, "LAST is before FIRST"),
    ("10:20", 1, "selects no frames"),       # positions past the end
    # positions where the shot's own numbers were meant: the line says how to write those
    ("1002:1005", 1, "for the files' own numbers write 1002-1004"),
    ("first-last", 2, "--frames must be"),
    ("1001-1006x", 2, "--frames must be"),  # fileseq's syntax, cut short
    ("1001-1006x2,1.5", 2, "no subframes"),
])
def test_bad_ranges_end_in_one_line(shot, tmp_path, capsys, frames, code, words):
    folder, style = shot
    got, err = run(capsys, "stylize", folder, "--style", style, "-o", tmp_path / "out.mp4",
                   "--frames", frames, *FAST)
    assert got == code and len(err) == 1 and words in err[0], err
    assert not os.path.exists(tmp_path / "out.mp4")


# --------------------------------------------------------------------------- timing and audio


@pytest.fixture
def ntsc_clip(tmp_path):
    """The issue's clip: 36 frames at 29.97 fps (1.2 s) with AAC audio."""
    return make_video(tmp_path / "ntsc.mp4", n=36, rate=Fraction(30000, 1001), audio="aac",
                      image=lambda i, w, h: texture(h, w, (4, 6), seed=i))


def test_fps_on_a_video_is_refused_in_one_line(ntsc_clip, shot, tmp_path, capsys):
    """--fps 10 used to stretch 1.2 s of video to 3.6 s over 1.2 s of audio; now it is refused."""
    _, style = shot
    code, err = run(capsys, "stylize", ntsc_clip, "--style", style, "-o", tmp_path / "out.mp4", "--fps", "10", *FAST)
    assert code == 2 and len(err) == 1 and "--fps" in err[0], err
    assert not os.path.exists(tmp_path / "out.mp4")
    assert not os.path.exists(tmp_path / "out.mp4.videostyle")


def test_open_source_refuses_fps_for_a_video_only(ntsc_clip, shot):
    """The same rule for stylize and assemble (both open the source with --fps)."""
    with pytest.raises(ConfigError, match="--fps"):
        open_source(ntsc_clip, fps=Fraction(10))
    assert open_source(str(shot[0]), fps=Fraction(10)).info.rate == 10


def streams(path) -> list[str]:
    with av.open(str(path)) as c:
        return [s.type for s in c.streams]


def test_no_audio_drops_the_audio_stream(ntsc_clip, shot, tmp_path, capsys):
    _, style = shot
    frames = ["--frames", "0:3"]
    assert run(capsys, "stylize", ntsc_clip, "--style", style, "-o", tmp_path / "with.mp4", *frames, *FAST)[0] == 0
    assert streams(tmp_path / "with.mp4") == ["video", "audio"]  # the audio is there to drop
    code, err = run(capsys, "stylize", ntsc_clip, "--style", style, "-o", tmp_path / "without.mp4", "-an",
                    "--compare", tmp_path / "side.mp4", *frames, *FAST)
    assert code == 0, err
    assert streams(tmp_path / "without.mp4") == ["video"]
    assert streams(tmp_path / "side.mp4") == ["video"]
