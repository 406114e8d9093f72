"""Bad input through the real CLI: one line on stderr, non-zero exit, nothing under the output name."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mediagen import make_video
from videostyle.cli import main


@pytest.fixture()
def files(tmp_path):
    video = make_video(tmp_path / "in.mp4", n=3)
    style = str(tmp_path / "style.png")
    cv2.imwrite(style, np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.uint8))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).bytes(4096))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    return {"video": video, "style": style, "junk": str(junk), "empty": str(empty), "text": str(text),
            "dir": str(tmp_path)}


def run_cli(capsys, *argv):
    code = main(["stylize", *argv, "--iterations", "2,1", "--quiet"])
    return code, capsys.readouterr().err


CASES = {
    "missing input": lambda f: [os.path.join(f["dir"], "nope.mp4"), "--style", f["style"]],
    "random bytes": lambda f: [f["junk"], "--style", f["style"]],
    "empty file": lambda f: [f["empty"], "--style", f["style"]],
    "text as style": lambda f: [f["video"], "--style", f["text"]],
    "missing style": lambda f: [f["video"], "--style", os.path.join(f["dir"], "nope.jpg")],
    "bad frame range": lambda f: [f["video"], "--style", f["style"], "--frames", "5:9"],
    "bad blend": lambda f: [f["video"], "--style", f["style"], "--style-blend", "1,2"],
    "16-bit h264": lambda f: [f["video"], "--style", f["style"], "--depth", "16"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(files, capsys, case):
    out = os.path.join(files["dir"], "out.mp4")
    code, err = run_cli(capsys, *CASES[case](files), "-o", out)
    assert code != 0
    assert err.startswith("videostyle: error:") and err.count("\n") == 1, err
    assert not os.path.exists(out)


def test_16_bit_jpeg_frames_are_refused(files, capsys):
    out = os.path.join(files["dir"], "frames", "%04d.jpg")
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "--depth", "16", "-o", out)
    assert code == 2 and err.count("\n") == 1 and "--depth 16" in err, err
    assert not os.path.exists(os.path.dirname(out))


def test_output_folder_missing(files, capsys):
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o",
                        os.path.join(files["dir"], "no", "such", "out.mp4"))
    assert code != 0 and err.count("\n") == 1 and "videostyle: error:" in err


def test_output_equal_to_input_is_refused(files, capsys):
    before = os.path.getsize(files["video"])
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o", files["video"])
    assert code != 0 and err.count("\n") == 1
    assert os.path.getsize(files["video"]) == before


@pytest.mark.parametrize("where", ["/proc", "file"])
def test_output_folder_unwritable(files, capsys, where):
    """Root may write anywhere on disk, so use places nobody can create files in: /proc, or a 'folder'
    that is a regular file."""
    folder = "/proc" if where == "/proc" else files["style"]
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o", os.path.join(folder, "out.mp4"))
    assert code != 0 and err.startswith("videostyle: error:") and err.count("\n") == 1, err


def test_console_script_runs_and_help_lists_options():
    r = subprocess.run([sys.executable, "-m", "videostyle.cli", "stylize", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for flag in ("--style-blend", "--iterations", "--temporal-weight", "--init", "--frames", "--report", "--device"):
        assert flag in r.stdout


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["stylize", "x.mp4"])
    assert e.value.code == 2


def test_a_stop_signal_that_was_swallowed_still_stops_at_the_next_frame(files, capsys, monkeypatch):
    # If C code ever caught the KeyboardInterrupt the handler raises, the remembered signal would still
    # stop the run at its next frame event, with the usual message and exit code, and nothing written.
    import signal
    from videostyle import cli
    calls = []

    def progress_then_signal(self, event):
        calls.append(event["event"])
        if event["event"] == "frame" and cli._Stop.received is None:
            cli._Stop.received = signal.SIGTERM  # as if the handler ran and its exception was lost
            return
        original(self, event)

    original = cli._Progress.__call__
    monkeypatch.setattr(cli._Progress, "__call__", progress_then_signal)
    out = os.path.join(files["dir"], "out.mp4")
    before = signal.getsignal(signal.SIGINT)
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o", out)
    assert code == 143 and "rerun the same command" in err and err.count("\n") == 1, err
    assert calls.count("frame") == 2 and not os.path.exists(out)
    # The handlers are the caller's again after main() returns.
    assert signal.getsignal(signal.SIGINT) is before


def test_ignored_signals_stay_ignored():
    # nohup (and a shell's background job) start the program with SIGHUP / SIGINT ignored; installing
    # our handler there would end a render when the terminal closes.
    import signal
    from videostyle.cli import _Stop
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever this test process inherited
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        previous = _Stop.install()
        try:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) == _Stop._handle
        finally:
            _Stop.restore(previous)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
