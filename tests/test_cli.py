"""Bad input through the real CLI: one line on stderr, the exit code the README gives (1 input/output, 2
bad option or clash), nothing under the output name."""
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


# case -> (the exit code the README gives: 1 for a bad input or output, 2 for a bad option; arguments)
CASES = {
    "missing input": (1, lambda f: [os.path.join(f["dir"], "nope.mp4"), "--style", f["style"]]),
    "random bytes": (1, lambda f: [f["junk"], "--style", f["style"]]),
    "empty file": (1, lambda f: [f["empty"], "--style", f["style"]]),
    "text as style": (1, lambda f: [f["video"], "--style", f["text"]]),
    "missing style": (1, lambda f: [f["video"], "--style", os.path.join(f["dir"], "nope.jpg")]),
    "unknown painting": (1, lambda f: [f["video"], "--style", "starry"]),  # neither a file nor a bundled name
    "bad frame range": (1, lambda f: [f["video"], "--style", f["style"], "--frames", "5:9"]),  # frames it lacks
    "bad blend": (2, lambda f: [f["video"], "--style", f["style"], "--style-blend", "1,2"]),
    "16-bit h264": (2, lambda f: [f["video"], "--style", f["style"], "--depth", "16"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(files, capsys, case):
    out = os.path.join(files["dir"], "out.mp4")
    expected, argv = CASES[case]
    code, err = run_cli(capsys, *argv(files), "-o", out)
    assert code == expected, err
    assert err.startswith("videostyle: error:") and err.count("\n") == 1, err
    assert not os.path.exists(out)


@pytest.mark.parametrize("command", ["stylize", "preview"])
def test_a_mistyped_painting_name_lists_the_bundled_ones(files, capsys, command):
    out = os.path.join(files["dir"], "typo.mp4" if command == "stylize" else "typo.png")
    code = main([command, files["video"], "--style", "starry", "-o", out, "--iterations", "2,1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "style image starry does not exist" in err and "starry_night" in err, err
    assert not os.path.exists(out)


def test_a_batch_given_stylize_options_directly_says_where_they_go(files, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["batch", "--inputs", files["video"], "--style", files["style"], "--output-dir", files["dir"],
              "--iterations", "2,1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and 'one quoted --options "' in err, err


def test_16_bit_jpeg_frames_are_refused(files, capsys):
    out = os.path.join(files["dir"], "frames", "%04d.jpg")
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "--depth", "16", "-o", out)
    assert code == 2 and err.count("\n") == 1 and "--depth 16" in err, err
    assert not os.path.exists(os.path.dirname(out))


def test_output_folder_missing(files, capsys):
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o",
                        os.path.join(files["dir"], "no", "such", "out.mp4"))
    assert code == 1 and err.count("\n") == 1 and "videostyle: error:" in err, err  # an output problem


def test_output_equal_to_input_is_refused(files, capsys):
    before = os.path.getsize(files["video"])
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o", files["video"])
    assert code == 2 and err.count("\n") == 1, err  # a clash: refused before any work
    assert os.path.getsize(files["video"]) == before


@pytest.mark.parametrize("where", ["/proc", "file"])
def test_output_folder_unwritable(files, capsys, where):
    """Root may write anywhere on disk, so use places nobody can create files in: /proc, or a 'folder'
    that is a regular file."""
    folder = "/proc" if where == "/proc" else files["style"]
    code, err = run_cli(capsys, files["video"], "--style", files["style"], "-o", os.path.join(folder, "out.mp4"))
    assert code == 1 and err.startswith("videostyle: error:") and err.count("\n") == 1, err  # an output problem


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
        if event["event"] == "frame" and cli.progress.Stop.received is None:
            cli.progress.Stop.received = signal.SIGTERM  # as if the handler ran and its exception was lost
            return
        original(self, event)

    original = cli.progress.Progress.__call__
    monkeypatch.setattr(cli.progress.Progress, "__call__", progress_then_signal)
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
    from videostyle.cli.progress import Stop as _Stop
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


# --- options declared once: the flags come from config.py's fields ---------------------------------

def _stylize_parser(preview=False):
    import argparse
    from videostyle import cli
    p = argparse.ArgumentParser(prog="t")
    cli.options.add_stylize_options(p, preview=preview)
    return p


def _option_fields(cls):
    """(field, dataclass) of every plain field of ``cls`` and its nested configs."""
    import dataclasses
    import typing
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _option_fields(hints[f.name])
        else:
            yield f, cls


# Fields that are deliberately no flag (each says why in config.py); hiding another is a conscious edit.
NOT_FLAGS = {"iterations_first", "iterations_later", "line_search", "content_layer", "style_layers",
             "objective", "layer", "octaves", "octave_scale", "weight", "anchor"}  # the last five: DreamConfig


def test_every_config_field_is_a_flag_with_the_config_default():
    from videostyle.cli.options import config_of as _config, options_of as _options
    from videostyle.config import OutputOptions, StylizeConfig, flag_of
    p = _stylize_parser()
    by_dest = {a.dest: a for a in p._actions}
    for f, owner in [*_option_fields(StylizeConfig), *_option_fields(OutputOptions)]:
        if f.name in NOT_FLAGS:
            assert f.metadata.get("cli", True) is False or owner.__name__ == "DreamConfig", f.name
            continue
        assert f.name in by_dest, f"{owner.__name__}.{f.name} has no flag"
        assert flag_of(f) in by_dest[f.name].option_strings  # --field-name, or the flag its metadata names
        assert by_dest[f.name].help, f.name
    # Parsed with no options, the namespace gives the dataclasses' own defaults.
    a = p.parse_args(["in.mp4", "-o", "out.mp4", "--style", "s.png"])
    assert _config(a) == StylizeConfig() and _options(a) == OutputOptions()
    # The preview takes the method options only, with the same defaults.
    a = _stylize_parser(preview=True).parse_args(["in.mp4", "-o", "sheet.png", "--style", "s.png"])
    assert _config(a) == StylizeConfig() and not hasattr(a, "passes") and not hasattr(a, "frames")


def test_flags_reach_the_config_fields():
    from videostyle.cli.options import config_of as _config, options_of as _options
    a = _stylize_parser().parse_args([
        "in.mp4", "-o", "out.mp4", "--style", "s.png", "--scales", "0.5,1", "--long-term", "1,2,4", "-y", "-an",
        "--iterations", "3,2", "--passes", "3", "--depth", "16", "--frames", "0:4", "--style-blend", "1,2",
        "--content-weight", "7", "--precision", "fp32", "--compile", "--work-dir", "w", "--keep-work"])
    c, o = _config(a), _options(a)
    assert (c.optim.scales, c.long_term, c.style_blend, c.loss.content_weight) == ((0.5, 1.0), (1, 2, 4), (1.0, 2.0), 7.0)
    assert (c.optim.iterations_first, c.optim.iterations_later, c.multipass.passes) == (3, 2, 3)
    assert (c.precision, c.compile) == ("fp32", True)
    assert (o.overwrite, o.no_audio, o.depth, o.frames, o.work_dir, o.keep_work) == (True, True, 16, "0:4", "w", True)


def test_assemble_takes_the_encoding_options_with_stylize_help():
    from videostyle.cli import build_parser
    from videostyle.cli.options import ENCODE as _ENCODE
    sub = build_parser()._subparsers._group_actions[0].choices
    stylize = {a.dest: a for a in sub["stylize"]._actions}
    assemble = {a.dest: a for a in sub["assemble"]._actions}
    assert set(_ENCODE) == {"fps", "no_audio", "codec", "crf", "output_size", "preserve_colors", "compare",
                            "depth", "overwrite", "output_colorspace", "ocio_config"}
    for name in _ENCODE:
        assert assemble[name].option_strings == stylize[name].option_strings
        assert assemble[name].help == stylize[name].help and assemble[name].default == stylize[name].default
    assert not {"frames", "report", "flow_dir", "restart", "keep_work"} & set(assemble)


def test_a_new_option_is_one_field():
    """A field declared with config.option becomes a flag, typed, defaulted and helped from the field,
    in its section; nested configs' fields too; the namespace builds the dataclass back."""
    import argparse
    from dataclasses import dataclass, field
    from typing import ClassVar
    from videostyle.cli.options import add_config_options, build_config
    from videostyle.config import option

    @dataclass(frozen=True)
    class Inner:
        HELP_GROUP: ClassVar[str] = "tiny things"
        strength: float = option(0.5, "how strong")
        offsets: tuple[int, ...] = option((1, 2), "frame offsets", metavar="1,2")
        mode: str = option("a", "the mode", choices=("a", "b"), group="other things")
        hidden: int = field(default=3, metadata={"cli": False})

    @dataclass(frozen=True)
    class Outer:
        HELP_GROUP: ClassVar[None] = None
        inner: Inner = field(default_factory=Inner)
        loud: bool = option(False, "shout", short="-L")
        path: str | None = option(None, "where to", metavar="PATH")

    p = argparse.ArgumentParser(prog="t")
    add_config_options(p, Outer)
    assert build_config(Outer, vars(p.parse_args([]))) == Outer()
    a = p.parse_args(["--strength", "2", "--offsets", "1,4", "--mode", "b", "-L", "--path", "x"])
    assert build_config(Outer, vars(a)) == Outer(Inner(2.0, (1, 4), "b"), True, "x")
    text = " ".join(p.format_help().split())
    for part in ("tiny things: --strength STRENGTH how strong (default 0.5) --offsets 1,2 frame offsets (default 1,2)",
                 "other things: --mode {a,b} the mode (default a)", "-L, --loud shout", "--path PATH where to"):
        assert part in text, part
    assert "--hidden" not in text
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "c"])


def test_a_field_that_is_neither_option_nor_marked_is_refused():
    import argparse
    from dataclasses import dataclass
    from typing import ClassVar
    from videostyle.cli.options import add_config_options

    @dataclass(frozen=True)
    class Undeclared:
        HELP_GROUP: ClassVar[None] = None
        x: int = 1

    with pytest.raises(TypeError, match="'x'"):
        add_config_options(argparse.ArgumentParser(), Undeclared)
