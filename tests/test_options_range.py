"""Numbers that make no sense (NaN, ±inf, out of range) are refused when the arguments are read (issue 22,
item 4): on the command line of every command, in batch job files and in the Python API's configs, with
one line and exit 2, before anything is read or written. A NaN weight used to run to the end and write
the unstylized source as "wrote … 4 frames"."""
import dataclasses
import math
import os
import typing

import cv2
import numpy as np
import pytest

from mediagen import make_video
from videostyle import config as cfg
from videostyle.cli import build_parser, main
from videostyle.cli.options import _iterations, ints as _ints, subparsers as _subparsers
from videostyle.config import (ChunkConfig, ClusterOptions, DreamConfig, LossConfig, MultiPassConfig, OptimConfig,
                               OutputOptions, StylizeConfig)
from videostyle.errors import ConfigError

FAST = ["--max-side", "32", "--iterations", "2,1", "--quiet", "--device", "cpu"]
CONFIGS = (OptimConfig, LossConfig, MultiPassConfig, ChunkConfig, DreamConfig, StylizeConfig, OutputOptions,
           ClusterOptions)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    video = make_video(folder / "in.mp4", n=2, w=48, h=32)
    style = str(folder / "style.png")
    cv2.imwrite(style, np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    return {"video": str(video), "style": style}


def tree(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), folder) for d, dirs, files in os.walk(folder)
                  for n in dirs + files)


def run(capsys, argv) -> tuple[int, list[str]]:
    """main(argv)'s exit code (a usage error's SystemExit too) and its stderr lines."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err.splitlines()


def command_line(command: str, media: dict, out) -> list:
    """A command line of ``command`` that would run (and write under ``out``) if its numbers were good."""
    return {
        "stylize": ["stylize", media["video"], "--style", media["style"], "-o", out / "out.mp4", *FAST],
        "dream": ["dream", media["video"], "-o", out / "out.mp4", *FAST],
        "preview": ["preview", media["video"], "--style", media["style"], "-o", out / "sheet.png", *FAST],
        "dream-preview": ["dream-preview", media["video"], "-o", out / "sheet.png", *FAST],
        "keyframes": ["keyframes", media["video"], "--style", media["style"], "-o", out / "keys", *FAST],
        # Its numbers are --cluster's: a missing job file, so that a number let through ends on another
        # error (not naming the flag) instead of starting Ray.
        "batch": ["batch", out / "missing.toml", "--quiet"],
        "evaluate": ["evaluate", media["video"], "--source", media["video"], "--json", out / "e.json"],
        "flow": ["flow", media["video"], "-o", out / "flows"],
        "assemble": ["assemble", out / "out.mp4.videostyle", "-o", out / "again.mp4"],
        "demo": ["demo", "-o", out / "demo", "--max-side", "32", "--iterations", "2,1", "--frames", "0:2", "--quiet",
                 "--device", "cpu"],
    }[command]


def assert_refused(capsys, argv, out, flag):
    before = tree(out)
    code, err = run(capsys, argv)
    assert code == 2 and len(err) == 1 and err[0].startswith("videostyle: error:") and flag in err[0], (code, err)
    assert tree(out) == before  # no output, no work folder, no report


# The cases and their neighbours: (command, flag, value).
CASES = [
    ("stylize", "--tv-weight", "nan"), ("stylize", "--content-weight", "inf"), ("stylize", "--style-weight", "-1"),
    ("stylize", "--temporal-weight", "nan"), ("stylize", "--temporal-weight", "-inf"),
    ("stylize", "--iterations", "0,0"), ("stylize", "--iterations", "5,0"), ("stylize", "--iterations", "-3"),
    ("stylize", "--tolerance", "1"), ("stylize", "--tolerance", "nan"), ("stylize", "--first-tolerance", "-0.1"),
    ("stylize", "--learning-rate", "0"), ("stylize", "--learning-rate", "inf"), ("stylize", "--max-side", "8"),
    ("stylize", "--max-side", "nan"), ("stylize", "--crf", "-1"), ("stylize", "--crf", "64"),
    ("stylize", "--crf", "52"),  # x264's top is 51: refused by the encoder's own check, still before any work
    ("stylize", "--fps", "0"), ("stylize", "--fps", "inf"), ("stylize", "--scales", "nan,1"),
    ("stylize", "--scales", "0,1"), ("stylize", "--style-blend", "nan"), ("stylize", "--style-blend", "0"),
    ("stylize", "--style-scale", "0"), ("stylize", "--precondition", "-inf"), ("stylize", "--blend-weight", "nan"),
    ("stylize", "--passes", "0"), ("stylize", "--pass-iterations", "0"), ("stylize", "--temporal-from-pass", "0"),
    ("stylize", "--chunk-frames", "-2"), ("stylize", "--chunk-frames", "1"), ("stylize", "--draft-iterations", "0"),
    ("stylize", "--draft-anchor", "nan"), ("stylize", "--check-every", "0"), ("stylize", "--long-term", "1,0"),
    ("stylize", "--seed", "-1"), ("stylize", "--workers", "0"), ("stylize", "--gpus-per-worker", "inf"),
    ("dream", "--octaves", "0"), ("dream", "--octave-scale", "inf"), ("dream", "--dream-weight", "nan"),
    ("dream", "--anchor", "-1"), ("dream", "--tv-weight", "nan"), ("preview", "--count", "0"),
    ("preview", "--tv-weight", "inf"), ("batch", "--workers", "0"), ("batch", "--cpus-per-worker", "0"),
    ("evaluate", "--max-side", "4"), ("evaluate", "--offsets", "1,0"), ("flow", "--max-side", "0"),
    ("flow", "--long-term", "-1"), ("assemble", "--fps", "nan"), ("assemble", "--crf", "99"),
    ("demo", "--max-side", "8"), ("demo", "--iterations", "0"),
]


@pytest.mark.parametrize("command, flag, value", CASES, ids=[" ".join(c) for c in CASES])
def test_a_bad_number_is_one_line_exit_2_and_writes_nothing(media, tmp_path, capsys, command, flag, value):
    argv = command_line(command, media, tmp_path) + [flag, value]
    if flag in ("--workers", "--gpus-per-worker", "--cpus-per-worker"):
        argv += ["--cluster", "local"]
    assert_refused(capsys, argv, tmp_path, flag)


def bad_values(bounds: cfg.Bounds, integer: bool) -> list:
    """Numbers outside ``bounds``: past each finite end, and for a float NaN and ±inf (argparse takes
    'nan' and 'inf' as floats; an int flag refuses them as text, tested above)."""
    out = []
    if math.isfinite(bounds.low):
        out.append(bounds.low if bounds.above else bounds.low - (1 if integer else 0.5))
    if math.isfinite(bounds.high):
        out.append(bounds.high if bounds.below else bounds.high + 1)
    return [int(v) for v in out] if integer else [float(v) for v in out] + [math.nan, math.inf, -math.inf]


def numeric_flags():
    """(command, flag, bad value as typed) for every bounded flag of every command, read from the parser."""
    for command, parser in _subparsers(build_parser()).items():
        for action in parser._actions:
            if hasattr(action, "bounds"):
                for value in bad_values(action.bounds, action.type in (int, _ints, _iterations)):
                    yield command, action.option_strings[-1], str(value)


FLAGS = list(numeric_flags())


@pytest.mark.parametrize("command, flag, value", FLAGS, ids=[" ".join(c) for c in FLAGS])
def test_every_numeric_flag_of_every_command_refuses_what_is_out_of_its_range(media, tmp_path, capsys,
                                                                              command, flag, value):
    argv = command_line(command, media, tmp_path)
    if flag in ("--workers", "--gpus-per-worker", "--cpus-per-worker"):
        argv += ["--cluster", "local"]
    assert_refused(capsys, [*argv, flag, value], tmp_path, flag)


def test_every_number_of_every_command_has_bounds():
    # build_parser refuses a numeric flag without bounds; this shows that check can fail, and that the
    # flags above are many (a parser that lost its bounds would make FLAGS empty and pass).
    from videostyle import cli
    parser = build_parser()
    _subparsers(parser)["flow"].add_argument("--new-number", type=float)
    with pytest.raises(TypeError, match="--new-number"):
        cli.options.require_bounds(parser)
    assert {c for c, _, _ in FLAGS} == {"stylize", "dream", "preview", "dream-preview", "keyframes", "batch",
                                        "evaluate", "flow", "assemble", "demo"}
    assert len({(c, f) for c, f, _ in FLAGS}) >= 80


def test_a_config_number_declared_without_bounds_cannot_be_made():
    # So a new option cannot slip through: the CLI's defaults are made when it is imported.
    @dataclasses.dataclass(frozen=True)
    class Loose:
        x: float = cfg.option(1.0, "a number")

        def __post_init__(self):
            cfg.check_bounds(self)

    with pytest.raises(TypeError, match="Loose.x"):
        Loose()


def numeric_fields():
    """(config class, field, int or float) for every numeric field of every config."""
    for cls in CONFIGS:
        for f in dataclasses.fields(cls):
            kind = cfg._number_type(typing.get_type_hints(cls)[f.name])
            if kind is not None:
                yield cls, f, kind


def holds_a_tuple(cls, f) -> bool:
    hint = typing.get_type_hints(cls)[f.name]
    return any(typing.get_origin(t) is tuple for t in (hint, *typing.get_args(hint)))


FIELDS = list(numeric_fields())


@pytest.mark.parametrize("cls, f, kind", FIELDS, ids=[f"{c.__name__}.{f.name}" for c, f, _ in FIELDS])
def test_every_numeric_config_field_refuses_nan_inf_and_out_of_range_in_the_api(cls, f, kind):
    if "choices" in f.metadata:  # --depth: one of its choices
        with pytest.raises(ConfigError):
            cls(**{f.name: 12})
        return
    bad = bad_values(f.metadata["bounds"], kind is int)
    if kind is int:  # a count the caller computed as a float is a mistake, not something to round
        bad += [2.5, math.nan, math.inf]
    for v in bad:
        # A tuple with a good member beside the bad one: (1, 0) is a --long-term that includes 1.
        value = ((1, v) if kind is int else (v, 1.0)) if holds_a_tuple(cls, f) else v
        with pytest.raises(ConfigError, match=cfg.flag_of(f)):
            cls(**{f.name: value})


def test_every_bounded_config_field_is_checked_by_the_command_line_with_the_same_bounds():
    # The CLI reads each range from config (one declaration), so the flags above test the fields' own.
    commands = _subparsers(build_parser())
    for cls, f, _ in FIELDS:
        if "bounds" in f.metadata:
            command = "dream" if cls is DreamConfig else "stylize"
            action = next(a for a in commands[command]._actions if cfg.flag_of(f) in a.option_strings)
            assert action.bounds is f.metadata["bounds"], (cls.__name__, f.name)


def test_the_python_api_refuses_nan_weights_and_bad_counts():
    with pytest.raises(ConfigError, match="--tv-weight"):
        LossConfig(tv_weight=float("nan"))
    with pytest.raises(ConfigError, match="--content-weight"):
        StylizeConfig(loss=LossConfig(content_weight=float("inf")))
    with pytest.raises(ConfigError, match="--iterations"):
        OptimConfig(iterations_first=0, iterations_later=0)
    with pytest.raises(ConfigError, match="--style-blend"):
        StylizeConfig(style_blend=(0.0, 0.0))
    with pytest.raises(ConfigError, match="--max-side"):
        StylizeConfig(max_side="256")  # not a number at all: the same one line, not a TypeError
    assert LossConfig(temporal_weight=0).temporal_weight == 0  # 0 disables the term: still legal


def test_the_python_api_refuses_a_bad_output_option_before_writing(media, tmp_path):
    from videostyle.run.pipeline import stylize_video
    with pytest.raises(ConfigError, match="--fps"):
        stylize_video(media["video"], [media["style"]], str(tmp_path / "out.mp4"), StylizeConfig(device="cpu"),
                      fps=float("inf"))
    assert tree(tmp_path) == []


BATCH_CASES = {
    "nan weight": "tv_weight = nan",
    "inf weight": "content_weight = inf",
    "zero iterations": 'iterations = "0,0"',
    "iterations as a list": "iterations = [4, 0]",
    "nan size": "max_side = nan",
    "tolerance of one": "tolerance = 1.0",
    "a pass schedule that never applies": "passes = 2\ntemporal_from_pass = 3",
}


@pytest.mark.parametrize("case", sorted(BATCH_CASES))
def test_a_bad_number_in_a_job_file_stops_the_batch_before_any_job(media, tmp_path, capsys, case):
    text = 'iterations = "2,1"\nmax_side = 32\ndevice = "cpu"\n'
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f'[defaults]\n{text}\n'
                    f'[[job]]\ninput = "{media["video"]}"\nstyle = "{media["style"]}"\noutput = "a.mp4"\n\n'
                    f'[[job]]\ninput = "{media["video"]}"\nstyle = "{media["style"]}"\noutput = "b.mp4"\n'
                    f'{BATCH_CASES[case]}\n')
    before = tree(tmp_path)
    code, err = run(capsys, ["batch", jobs, "--quiet"])
    key = BATCH_CASES[case].split("\n")[-1].split(" =")[0].replace("_", "-")
    assert code == 2 and len(err) == 1, (code, err)
    assert str(jobs) in err[0] and "job 2" in err[0] and f"--{key}" in err[0], err
    assert tree(tmp_path) == before  # job 1 did not run either


def test_usage_errors_are_one_line(capsys):
    code, err = run(capsys, ["stylize", "in.mp4", "--style", "s.png", "-o", "o.mp4", "--max-side", "1.5"])
    assert code == 2 and len(err) == 1 and "--max-side" in err[0] and "--help" in err[0], err
