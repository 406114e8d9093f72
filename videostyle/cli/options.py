"""How config.py's dataclass fields become command-line flags and the parsed flags become configs again:
each option declared once (config.option), its number checked against its Bounds as soon as the
arguments are read, and the --help sections of stylize in order."""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from ..config import Bounds, DreamConfig, LossConfig, OptimConfig, OutputOptions, StylizeConfig
from ..errors import ConfigError

_LOSS, _OPTIM, _TOP = LossConfig(), OptimConfig(), StylizeConfig()


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _iterations(text: str) -> tuple[int, int]:
    """FIRST[,LATER]; their range is OptimConfig's (check_args)."""
    try:
        parts = [int(v) for v in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected FIRST[,LATER] iteration counts, got {text!r}")
    return (parts[0], parts[-1]) if len(parts) == 2 else (parts[0], parts[0])


# --- numbers: each flag's range is a config.Bounds, checked as soon as the arguments are read ------

_NUMBER_TYPES = (int, float, _floats, ints, _iterations)


def bounds_of(cls, name: str) -> Bounds:
    """The Bounds that config ``cls`` declares for field ``name``: a hand-made flag for that value
    (the dream's --octaves, evaluate's --max-side) takes the config's range, not one of its own."""
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata["bounds"]


def bounded(action: argparse.Action, bounds: Bounds) -> argparse.Action:
    action.bounds = bounds  # read by check_args
    return action


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """ConfigError (one line, exit 2) for the first number of ``args`` outside its flag's Bounds, before
    a command reads or writes anything. argparse takes 'nan' and 'inf' as floats, and a NaN weight would
    otherwise run to the end and write unstylized frames."""
    for action in parser._actions:  # argparse has no public list of its actions
        bounds, value = getattr(action, "bounds", None), getattr(args, action.dest, None)
        if bounds is not None and value is not None:
            bounds.check(next(s for s in action.option_strings if s.startswith("--")), value,
                         integer=action.type in (int, ints, _iterations))


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def require_bounds(parser: argparse.ArgumentParser) -> None:
    """A numeric flag without Bounds (or choices) is a programming error: it would take NaN."""
    for name, p in subparsers(parser).items():
        for action in p._actions:
            if action.type in _NUMBER_TYPES and action.choices is None and not hasattr(action, "bounds"):
                raise TypeError(f"videostyle {name} {action.option_strings[-1]} is a number without bounds")


# --- options: declared once, as config.py's dataclass fields (config.option) -------------------------

# The --help sections of stylize, in the order shown. Which section an option is in is its field's
# (metadata "group", else its dataclass's HELP_GROUP); a section not listed here comes after these.
SECTIONS = ("loss weights", "optimizer", "flow and network", "multi-pass (Ruder et al. Sec. 3.3)",
             "chunks (parallel rendering of one shot; see --cluster)",
             "fast mode (--method student: a network trained per shot on keyframes)",
             "input and output", "work folder and resume", "progress")


def help_section(p: argparse.ArgumentParser, title: str | None):
    """The parser's --help section of this title (None: the main one), made if it has none yet."""
    if title is None:
        return p
    for group in p._action_groups:  # argparse has no public list of its groups
        if group.title == title:
            return group
    return p.add_argument_group(title)


def add_config_options(p: argparse.ArgumentParser, cls, *, skip=(), hooks=None, grouped: bool = True) -> None:
    """A flag for each option field of the config dataclass ``cls`` and of its nested configs, each in
    its --help section (``grouped``; section by section, so the usage line lists them in that order too)
    or all in the main one. ``skip`` names fields (or nested configs) left out: they keep their
    defaults. ``hooks`` maps a field name to a function that adds a hand-made option in that field's
    place, given the section."""
    entries = list(_config_fields(cls, skip))
    if grouped:  # a stable sort: field order within a section
        entries.sort(key=lambda e: -1 if e[0] is None else
                     SECTIONS.index(e[0]) if e[0] in SECTIONS else len(SECTIONS))
    for title, f, hint in entries:
        section = help_section(p, title if grouped else None)
        if hooks and f.name in hooks:
            hooks[f.name](section)
        if f.metadata.get("cli", True) is not False:
            _add_field(section, f, hint)


def _config_fields(cls, skip=()):
    """(section title, field, annotation) of each plain field of ``cls`` and of its nested configs that
    are options, in field order; fields that are no option too (their ``cli`` metadata is False)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if not dataclasses.is_dataclass(hints[f.name]):
            yield f.metadata.get("group", getattr(cls, "HELP_GROUP", None)), f, hints[f.name]
        elif f.metadata.get("cli", True) is not False:
            yield from _config_fields(hints[f.name], skip)


def add_config_flags(p, cls, names, overrides=None) -> None:
    """Flags for the fields ``names`` of config ``cls`` (its nested configs searched), made as
    add_config_options makes them: a command that takes a few of the config's values (evaluate's
    --flow, demo's --max-side) declares none by hand. ``overrides`` maps a field name to ``help`` and
    ``default`` where the command means its own by it (evaluate --max-side: none = the source's size)."""
    found = {f.name: (f, hint) for _, f, hint in _config_fields(cls)}
    for name in names:
        f, hint = found[name]
        _add_field(p, f, hint, **(overrides or {}).get(name, {}))


def _add_field(section, f: dataclasses.Field, hint, help: str | None = None,
               default: typing.Any = dataclasses.MISSING) -> argparse.Action:
    """``--field-name`` (or the metadata's flag, after its short form), the field's name as dest; its
    ``config_field`` says so (tests check that commands declare no config value by hand). ``help`` and
    ``default`` replace the field's."""
    m = f.metadata
    if "help" not in m or f.default is dataclasses.MISSING:
        raise TypeError(f"config field {f.name!r} is neither config.option(default, help) nor metadata cli=False")
    flags = ([m["short"]] if "short" in m else []) + [m.get("flag", "--" + f.name.replace("_", "-"))]
    text = help or m["help"]
    value = f.default if default is dataclasses.MISSING else default
    shown = "default" in text or value is None or value is False  # its help says it, or nothing to say
    kw = {"dest": f.name, "help": text if shown else text + " (default %(default)s)"}
    if hint is bool:
        if value is not False:
            raise TypeError(f"switch {f.name!r} must default to False (a --no-… flag would be needed)")
        action = section.add_argument(*flags, action="store_true", **kw)
        action.config_field = f.name
        return action
    # A tuple default is given as the text a user would type (1,2,4): --help shows it so, and argparse
    # parses a text default with the option's type.
    value = ",".join(map(str, value)) if isinstance(value, tuple) else value
    kw.update({k: m[k] for k in ("choices", "metavar") if k in m})
    action = section.add_argument(*flags, type=_parse_type(f.name, hint), default=value, **kw)
    action.config_field = f.name
    if "bounds" in m:
        bounded(action, m["bounds"])
    return action


def _parse_type(name: str, hint):
    """The argparse type for a field's annotation: its first member other than None (``str | tuple |
    None``: the command line gives text); a tuple of numbers is comma-separated text."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in (int, float):
        return ints if typing.get_args(hint)[0] is int else _floats
    if hint in (str, int, float):
        return hint
    raise TypeError(f"config field {name!r}: no command-line form for {hint}")


def build_config(cls, values: dict):
    """The config dataclass ``cls`` (nested configs included) from option values by field name, e.g.
    ``vars(namespace)``. A field without a value, and a nested config that is no option, keep their
    defaults; the dataclass validates the rest (ConfigError)."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            if f.metadata.get("cli", True) is not False:
                kw[f.name] = build_config(hints[f.name], values)
        elif f.name in values:
            kw[f.name] = values[f.name]
    return cls(**kw)


def add_iterations(section) -> argparse.Action:
    """Two fields, one flag: the caps of cold- and warm-started frames (OptimConfig.iterations_*)."""
    action = bounded(section.add_argument("--iterations", type=_iterations, metavar="FIRST[,LATER]",
                                  default=(_OPTIM.iterations_first, _OPTIM.iterations_later),
                                  help="max iterations for cold-started frames (the first; all with --init "
                                       f"random/image) and for warm-started ones (default {_OPTIM.iterations_first},"
                                       f"{_OPTIM.iterations_later})"),
                      bounds_of(OptimConfig, "iterations_first"))
    action.config_field = "iterations_first"
    return action


def add_stylize_options(p: argparse.ArgumentParser, preview: bool = False) -> None:
    """The stylize flags: the inputs, then StylizeConfig's and OutputOptions' fields. ``preview`` leaves
    out those that only matter when a whole clip is rendered (multi-pass, outputs, work folder), keeping
    their defaults."""
    p.add_argument("input", help="video file (anything FFmpeg reads), a folder of images, or a pattern like frames/%%04d.png")
    p.add_argument("-o", "--output", required=True,
                   help="contact sheet (.png)" if preview else
                   "output video (.mp4 .mov .mkv .webm .avi .gif), or a folder / pattern for frames (.png .tif .exr …)")
    p.add_argument("--style", action="append", required=True, metavar="IMAGE",
                   help="style image (painting); repeat for several")
    for title in SECTIONS:  # made now, so that --help shows them in this order (empty ones it leaves out)
        help_section(p, title)
    add_config_options(p, StylizeConfig, skip=("multipass", "chunks", "student", "method", "draft_finish") if preview else (),
                       hooks={"iterations_first": add_iterations})
    if not preview:
        add_student_options(help_section(p, SECTIONS[5]))
    if preview:
        p.add_argument("--quiet", action="store_true", help="no progress lines")
        return
    add_config_options(p, OutputOptions)
    g = help_section(p, "progress")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="json: one JSON object per event on stdout instead of a progress bar")


def _keyframe(text: str) -> tuple[int, str]:
    """--keyframe FRAME=IMAGE → (FRAME, IMAGE)."""
    number, sep, path = text.partition("=")
    if not sep or not number.strip().isdigit() or not path:
        raise argparse.ArgumentTypeError(f"--keyframe takes FRAME=IMAGE (a frame number, then the painted frame), "
                                         f"got {text!r}")
    return int(number), path


def add_student_options(section, load: bool = True) -> None:
    """The fast mode's two hand-made options: --keyframe is repeatable, --student names a file."""
    section.add_argument("--keyframe", action="append", type=_keyframe, default=[], metavar="FRAME=IMAGE",
                         dest="keyframes", help="a painted or retouched frame the student learns from (repeatable); "
                         "FRAME as --frames counts it: 0-based for a video, the file's own number for frames"
                         ).config_field = "keyframes"
    if not load:
        return
    section.add_argument("--student", dest="load", metavar="PATH", default=None,
                         help="render with a student saved by --save-student (no keyframes, no training): "
                              "the shots of a sequence share one look").config_field = "load"


def config_of(a: argparse.Namespace) -> StylizeConfig:
    first, later = a.iterations
    values = {**vars(a), "iterations_first": first, "iterations_later": later}
    values["keyframes"] = tuple(values.get("keyframes") or ())
    return build_config(StylizeConfig, values)


def options_of(a: argparse.Namespace) -> OutputOptions:
    return build_config(OutputOptions, vars(a))


# The output options that say how finished frames are encoded: those videostyle assemble takes.
ENCODE = tuple(f.name for f in dataclasses.fields(OutputOptions) if f.metadata.get("encode"))


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """--cluster, --workers, --gpus-per-worker, --cpus-per-worker: one shot's chunks on Ray."""
    from ..config import ClusterOptions
    add_config_options(p, ClusterOptions)


def cluster_of(a: argparse.Namespace):
    """The ClusterOptions of stylize or dream, None without --cluster (a batch job's namespace has none)."""
    from ..config import ClusterOptions
    opts = build_config(ClusterOptions, vars(a))
    return opts if opts.cluster else None


# Stylize options a dream has no use for: it has no painting, and its octaves are its scales.
NOT_DREAM = {"style": None, "style_blend": None, "style_scale": _TOP.style_scale,
              "content_weight": _LOSS.content_weight, "style_weight": _LOSS.style_weight, "scales": _OPTIM.scales}


def add_dream_options(p: argparse.ArgumentParser, preview: bool = False) -> None:
    """The stylize flags without the painting's (hidden; refused when given), the dream's own, and the
    dream's defaults (config.dream_defaults). ``preview``: a preview's flags (add_stylize_options)."""
    from ..config import dream_defaults
    d = dream_defaults()
    add_stylize_options(p, preview=preview)
    for action in p._actions:
        if action.dest in NOT_DREAM:
            action.required, action.help = False, argparse.SUPPRESS
        elif action.dest == "iterations":
            action.help = (f"max iterations per octave for cold-started frames and for warm-started ones "
                           f"(default {d.optim.iterations_first},{d.optim.iterations_later})")
    p.set_defaults(iterations=(d.optim.iterations_first, d.optim.iterations_later), **{k: None for k in NOT_DREAM})
    add_config_options(p, DreamConfig)  # its own section (DreamConfig.HELP_GROUP)


def dream_config(a: argparse.Namespace) -> StylizeConfig:
    """The StylizeConfig of a dream command's arguments (add_dream_options); ConfigError for a painting's flag."""
    given = [f"--{k.replace('_', '-')}" for k in NOT_DREAM if getattr(a, k, None) is not None]
    if given:
        raise ConfigError(f"{a.command} takes no {', '.join(given)}: it has no painting (--octaves sets its scales)")
    method = argparse.Namespace(**{**vars(a), **NOT_DREAM})
    return dataclasses.replace(config_of(method), objective="dream", dream=build_config(DreamConfig, vars(a)))
