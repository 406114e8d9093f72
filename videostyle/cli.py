"""Command line: ``videostyle stylize INPUT --style STYLE -o OUTPUT``. The only module that prints."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import sys
import threading
import types
import typing

from . import __version__
from .config import (AT_LEAST_1, Bounds, DreamConfig, LossConfig, OptimConfig,
                     OutputOptions, StylizeConfig)
from .errors import ConfigError, VideostyleError

_LOSS, _OPTIM, _TOP = LossConfig(), OptimConfig(), StylizeConfig()


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
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

_NUMBER_TYPES = (int, float, _floats, _ints, _iterations)


def _bounds_of(cls, name: str) -> Bounds:
    """The Bounds that config ``cls`` declares for field ``name``: a hand-made flag for that value
    (the dream's --octaves, evaluate's --max-side) takes the config's range, not one of its own."""
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata["bounds"]


def _bounded(action: argparse.Action, bounds: Bounds) -> argparse.Action:
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
                         integer=action.type in (int, _ints, _iterations))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _require_bounds(parser: argparse.ArgumentParser) -> None:
    """A numeric flag without Bounds (or choices) is a programming error: it would take NaN."""
    for name, p in _subparsers(parser).items():
        for action in p._actions:
            if action.type in _NUMBER_TYPES and action.choices is None and not hasattr(action, "bounds"):
                raise TypeError(f"videostyle {name} {action.option_strings[-1]} is a number without bounds")


# --- options: declared once, as config.py's dataclass fields (config.option) -------------------------

# The --help sections of stylize, in the order shown. Which section an option is in is its field's
# (metadata "group", else its dataclass's HELP_GROUP); a section not listed here comes after these.
_SECTIONS = ("loss weights", "optimizer", "flow and network", "multi-pass (Ruder et al. Sec. 3.3)",
             "chunks (parallel rendering of one shot; see --cluster)",
             "fast mode (--method student: a network trained per shot on keyframes)",
             "input and output", "work folder and resume", "progress")


def _section(p: argparse.ArgumentParser, title: str | None):
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
                     _SECTIONS.index(e[0]) if e[0] in _SECTIONS else len(_SECTIONS))
    for title, f, hint in entries:
        section = _section(p, title if grouped else None)
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
        _bounded(action, m["bounds"])
    return action


def _parse_type(name: str, hint):
    """The argparse type for a field's annotation: its first member other than None (``str | tuple |
    None``: the command line gives text); a tuple of numbers is comma-separated text."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in (int, float):
        return _ints if typing.get_args(hint)[0] is int else _floats
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


def _add_iterations(section) -> argparse.Action:
    """Two fields, one flag: the caps of cold- and warm-started frames (OptimConfig.iterations_*)."""
    action = _bounded(section.add_argument("--iterations", type=_iterations, metavar="FIRST[,LATER]",
                                  default=(_OPTIM.iterations_first, _OPTIM.iterations_later),
                                  help="max iterations for cold-started frames (the first; all with --init "
                                       f"random/image) and for warm-started ones (default {_OPTIM.iterations_first},"
                                       f"{_OPTIM.iterations_later})"),
                      _bounds_of(OptimConfig, "iterations_first"))
    action.config_field = "iterations_first"
    return action


def _add_stylize_options(p: argparse.ArgumentParser, preview: bool = False) -> None:
    """The stylize flags: the inputs, then StylizeConfig's and OutputOptions' fields. ``preview`` leaves
    out those that only matter when a whole clip is rendered (multi-pass, outputs, work folder), keeping
    their defaults."""
    p.add_argument("input", help="video file (anything FFmpeg reads), a folder of images, or a pattern like frames/%%04d.png")
    p.add_argument("-o", "--output", required=True,
                   help="contact sheet (.png)" if preview else
                   "output video (.mp4 .mov .mkv .webm .avi .gif), or a folder / pattern for frames (.png .tif .exr …)")
    p.add_argument("--style", action="append", required=True, metavar="IMAGE",
                   help="style image (painting); repeat for several")
    for title in _SECTIONS:  # made now, so that --help shows them in this order (empty ones it leaves out)
        _section(p, title)
    add_config_options(p, StylizeConfig, skip=("multipass", "chunks", "student", "method", "draft_finish") if preview else (),
                       hooks={"iterations_first": _add_iterations})
    if not preview:
        _add_student_options(_section(p, _SECTIONS[5]))
    if preview:
        p.add_argument("--quiet", action="store_true", help="no progress lines")
        return
    add_config_options(p, OutputOptions)
    g = _section(p, "progress")
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


def _add_student_options(section, load: bool = True) -> None:
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


def _config(a: argparse.Namespace) -> StylizeConfig:
    first, later = a.iterations
    values = {**vars(a), "iterations_first": first, "iterations_later": later}
    values["keyframes"] = tuple(values.get("keyframes") or ())
    return build_config(StylizeConfig, values)


def _options(a: argparse.Namespace) -> OutputOptions:
    return build_config(OutputOptions, vars(a))


# The output options that say how finished frames are encoded: those videostyle assemble takes.
_ENCODE = tuple(f.name for f in dataclasses.fields(OutputOptions) if f.metadata.get("encode"))


class _Stop:
    """Ctrl-C, SIGTERM (a render farm stopping a job) and SIGHUP (the terminal closed): raise
    KeyboardInterrupt at once, and remember the signal, so that if C code ever swallowed that
    exception the run still stops at the next frame event. A signal the caller set to be ignored
    (``nohup``, a background job) stays ignored."""
    received: int | None = None
    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    @classmethod
    def install(cls) -> dict:
        """Set the handlers (main thread only); returns the previous ones for ``restore``."""
        cls.received = None
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in cls.SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, cls._handle)
        return previous

    @staticmethod
    def restore(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    @classmethod
    def _handle(cls, signum, frame) -> None:
        cls.received = signum
        raise KeyboardInterrupt

    @classmethod
    def check(cls) -> None:
        if cls.received is not None:
            raise KeyboardInterrupt


class _Progress:
    """Turns pipeline events into a tqdm bar, JSON lines, or nothing."""

    def __init__(self, mode: str):
        self.mode, self.bar = mode, None

    def __call__(self, event: dict) -> None:
        _Stop.check()
        if self.mode == "json":
            print(json.dumps(event), flush=True)
        elif event["event"] == "warning":  # shown with --quiet too: the result is not what was asked
            self.say(f"videostyle: warning: {event['message']}")
        elif self.mode == "text":
            self._bar(event)

    def say(self, line: str) -> None:
        """One line on stderr, above the bar when there is one."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def _bar(self, event: dict) -> None:
        from tqdm import tqdm
        kind = event["event"]
        if kind == "start":
            w, h = event["size"]
            print(f"{event['input']}: {event['n_frames']} frames, processing at {w}x{h} on {event['device']}",
                  file=sys.stderr)
            if event["resuming"]:
                print(f"resuming: {event['resuming']} frames already done in {event['work_dir']}", file=sys.stderr)
            self.bar = tqdm(total=event["n_frames"], unit="frame", file=sys.stderr, dynamic_ncols=True)
        elif kind == "note":  # above the bar (a cluster's notes come while it runs)
            if self.bar is not None:
                self.bar.write(event["message"], file=sys.stderr)
            else:
                print(event["message"], file=sys.stderr)
        elif kind == "keyframe":  # --method student, step 2
            at = f" at {event['size'][0]}x{event['size'][1]}" if event.get("size") else ""
            self.say(f"keyframe {event.get('name', event['frame'])} ({event['why']}){at}: {event['evaluations']} evaluations, "
                     f"{event['seconds']:.1f} s")
        elif kind == "training":  # step 3: a second bar while the student trains
            w, h = event.get("size") or (0, 0)
            self.say(f"training the student on {event['keyframes']} keyframes" + (f" at {w}x{h}" if w else "")
                     + (f" (resuming at step {event['step']})" if event["step"] else ""))
            self.train_bar = tqdm(total=event["steps"], initial=event["step"], unit="step", desc="training",
                                  file=sys.stderr, dynamic_ncols=True, leave=False)
        elif kind == "train" and getattr(self, "train_bar", None) is not None:
            self.train_bar.set_postfix(loss=f"{event['loss']:.3g}")
            self.train_bar.update(event["step"] - self.train_bar.n)
            if event["step"] >= event["steps"]:
                self.train_bar.close()
                self.train_bar = None
        elif kind == "frame" and self.bar is not None:
            if "total" in event["terms"]:
                self.bar.set_postfix(loss=f"{event['terms']['total']:.3g}", its=event["iterations"])
            self.bar.update(1)
        elif kind == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _render(a: argparse.Namespace, styles: list[str], config: StylizeConfig) -> int:
    """stylize and dream: one render with progress, then a line saying what was written."""
    from . import stylize_video  # with cluster=: the Ray executor, built above the run
    progress = _Progress("none" if a.quiet else a.log_format)
    try:
        report = stylize_video(a.input, styles, a.output, config, _options(a), on_event=progress,
                               cluster=_cluster(a))
    finally:
        progress.close()
    if not a.quiet and a.log_format == "text":
        t = report["totals"]
        print(f"wrote {a.output}: {t['frames']} frames in {t['seconds']:.1f} s "
              f"({t['seconds_per_frame']:.2f} s/frame), audio: {report['audio']}", file=sys.stderr)
    return 0


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    """--cluster, --workers, --gpus-per-worker, --cpus-per-worker: one shot's chunks on Ray."""
    from .config import ClusterOptions
    add_config_options(p, ClusterOptions)


def _cluster(a: argparse.Namespace):
    """The ClusterOptions of stylize or dream, None without --cluster (a batch job's namespace has none)."""
    from .config import ClusterOptions
    opts = build_config(ClusterOptions, vars(a))
    return opts if opts.cluster else None


def _keyframes(a: argparse.Namespace) -> int:
    from .commands.keyframes import write_keyframes
    a.method = "student"
    progress = _Progress("none" if a.quiet else "text")
    try:
        keys = write_keyframes(a.input, a.style, a.output, _config(a), build_config(OutputOptions, vars(a)),
                               on_event=progress)
    finally:
        progress.close()
    if not a.quiet:
        print(f"wrote {a.output}: {len(keys)} keyframes ({', '.join(str(k['frame']) for k in keys)}); retouch "
              f"stylized.NNNN.png and give it back with --method student --keyframe NNNN=PATH", file=sys.stderr)
    return 0


def _stylize(a: argparse.Namespace) -> int:
    return _render(a, a.style, _config(a))


def _evaluate(a: argparse.Namespace) -> int:
    from .run.evaluate import evaluate_video, format_table, plot
    from .io.paths import PathPlan, written_file
    from .io.frameranges import parse_frames
    plan = PathPlan()
    plan.read("stylized video", a.stylized)
    plan.read("source", a.source)
    for s in a.style or ():
        plan.read("style image", s)
    plan.write(written_file("--json", a.json) if a.json else None)
    plan.write(written_file("--plot", a.plot) if a.plot else None)
    plan.check()
    if a.plot:
        from .run.evaluate import plot_format
        plot_format(a.plot)  # before the measures: a bad name costs no evaluation
    result = evaluate_video(a.stylized, a.source, style=a.style, offsets=a.offsets, flow_method=a.flow,
                            max_side=a.max_side, device=a.device, source_frames=parse_frames(a.frames))
    if a.json:
        _write_json_file(a.json, result)
    if a.plot:
        plot(result, a.plot)
    print(format_table(result))
    return 0


def _flow(a: argparse.Namespace) -> int:
    from .flow.estimate import FlowEstimator
    from .flow.files import export_flows
    from .io.media import open_source
    from .io.paths import PathPlan, written_flows
    from .io.resize import processing_size, resize_rgb
    plan = PathPlan()
    plan.read("input", a.input)
    if os.path.isdir(a.input):
        from .run.plan import input_files
        plan.read_files("input frame", input_files(a.input))
    plan.write(written_flows("output", a.output))
    plan.check()
    from .io.frameranges import parse_frames
    source = open_source(a.input, parse_frames(a.frames))
    size = processing_size(source.info.width, source.info.height, a.max_side) if a.max_side else None
    resize = (lambda image: resize_rgb(image, size)) if size else None
    n = export_flows(source, a.output, FlowEstimator(a.flow, a.flow_preset), offsets=a.long_term, resize=resize)
    print(f"wrote {n} flow pairs (.flo) and reliability masks (.pgm) to {a.output}", file=sys.stderr)
    return 0


def _assemble(a: argparse.Namespace) -> int:
    from .run.assemble import assemble
    # Only the encoding options: WORK_DIR is the folder read, not OutputOptions.work_dir.
    done = assemble(a.work_dir, a.output, build_config(OutputOptions, {k: getattr(a, k) for k in _ENCODE}))
    if not a.quiet:
        print(f"wrote {done['output']}: frames {done['range']} of {done['work_dir']}, "
              f"audio: {done['audio']}", file=sys.stderr)
    return 0


def _write_json_file(path: str, data: dict) -> None:
    from .io.atomic import write_json
    try:
        write_json(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _preview(a: argparse.Namespace) -> int:
    from .io.frames import read_image, write_png
    from .io.paths import PathPlan, written_file
    from .commands.preview import contact_sheet, stylize_preview
    if not a.output.lower().endswith(".png"):
        raise ConfigError("preview writes a PNG contact sheet: give -o NAME.png")
    plan = PathPlan()
    plan.read("input", a.input)
    for s in a.style:
        plan.read("style image", s)
    if a.weights not in ("packaged", "torchvision"):
        plan.read("weights file", a.weights)
    plan.write(written_file("contact sheet", a.output))
    plan.check()
    from .io.bundled import check_style
    for s in a.style:
        check_style(s)
    styles = [read_image(s) for s in a.style]
    progress = None if a.quiet else (lambda k, n: print(f"preview frame {k + 1}/{n}", file=sys.stderr))
    sources, stylized = stylize_preview(a.input, styles, _config(a), a.count, progress)
    write_png(a.output, contact_sheet(sources, stylized))
    if not a.quiet:
        print(f"wrote {a.output}: {len(sources)} frames, source above, stylized below", file=sys.stderr)
    return 0


class _StrictParser(argparse.ArgumentParser):
    """A stylize parser for batch jobs: a bad option is a ConfigError (one line naming the job, exit 2),
    not the parser's usage text and exit."""

    def error(self, message):
        raise ConfigError(message)


def _batch(a: argparse.Namespace) -> int:
    import shlex
    from .run.batch import jobs_from_glob, load_jobs, option_kinds, plan, run_jobs
    from .config import ClusterOptions
    cluster = build_config(ClusterOptions, vars(a))
    if bool(a.jobfile) == bool(a.inputs):
        raise ConfigError("give a JOB.toml, or --inputs with --style and --output-dir")
    if a.jobfile:
        jobs = load_jobs(a.jobfile)
    else:
        if not a.style or not a.output_dir:
            raise ConfigError("--inputs needs --style and --output-dir")
        jobs = jobs_from_glob(a.inputs, a.style, a.output_dir, a.ext)
    try:
        options = shlex.split(a.options)
    except ValueError as exc:
        raise ConfigError(f"--options: {exc}") from None
    parser = _StrictParser(prog="videostyle batch job", add_help=False)
    _add_stylize_options(parser)
    extra = options + (["--quiet"] if a.quiet else []) + ["--log-format", a.log_format]

    def parse(argv):
        # The job's numbers as the command line's, then its configs as the run would build them (their
        # cross-checks too): a NaN weight or 0 iterations is a bad job file, not a failed job.
        args = parser.parse_args(argv)
        check_args(parser, args)
        _config(args)
        _options(args)
        return args

    from .run.plan import check_path_plan, plan_paths

    def paths(args):
        return plan_paths(args.input, args.style, args.output, _config(args), _options(args))

    def check_own(args, path_plan, work):
        # The job's paths as stylize checks them before rendering, so a job that clashes with itself
        # (or whose work folder is not ours) fails the job file, not its turn to run.
        check_path_plan(path_plan, work, args.report)

    # Every job is checked before the first runs: a bad job file starts nothing (exit 2).
    planned = plan(jobs, parse, option_kinds(parser), extra, paths, check_own)
    text = a.log_format == "text"
    if cluster.cluster:
        return _batch_on_cluster(planned, cluster, a)

    def start(k, job):
        _Stop.check()  # a stop signal that a failing job's C code swallowed still ends the batch here
        if text and not a.quiet:
            print(f"[{k}/{len(planned)}] {job.name} -> {job.output}", file=sys.stderr)

    def failed(k, outcome):
        print(f"videostyle: job {k} failed: {outcome.message}", file=sys.stderr)

    outcomes = []
    try:
        run_jobs(planned, _stylize, outcomes, start, failed)
    except KeyboardInterrupt:
        _batch_summary(outcomes, len(planned), text)
        raise
    return _batch_summary(outcomes, len(planned), text)


def _batch_summary(outcomes: list, n_jobs: int, text: bool) -> int:
    """The table (or one JSON line) on stdout, the count on stderr; returns the exit code."""
    failed = sum(1 for o in outcomes if o.status != "ok")
    if text:
        width = max([len(o.job.name) for o in outcomes] + [3])
        print(f"{'#':>3}  {'job':<{width}}  {'result':<7}  {'seconds':>8}  output / error")
        for k, o in enumerate(outcomes, 1):
            print(f"{k:>3}  {o.job.name:<{width}}  {o.status:<7}  {o.seconds:8.1f}  {o.message or o.job.output}")
    else:
        print(json.dumps({"event": "batch", "jobs": [
            {"job": k, "input": o.job.input, "output": o.job.output, "status": o.status, "error": o.message or None,
             "seconds": round(o.seconds, 3)} for k, o in enumerate(outcomes, 1)]}), flush=True)
    stopped = [str(k) for k, o in enumerate(outcomes, 1) if o.status == "STOPPED" and o.message == "interrupted"]
    note = f"; interrupted in job{'s' * (len(stopped) > 1)} {', '.join(stopped)}" if stopped else ""
    print(f"{len(outcomes) - failed} of {n_jobs} jobs succeeded{note}", file=sys.stderr)
    return 1 if failed else 0


def _batch_job(a: argparse.Namespace, on_event) -> None:
    """One job of a batch on a cluster, in its Ray worker: the stylize render (as ``_stylize``), its
    progress events sent to the driver instead of printed."""
    from .run.pipeline import stylize_video
    stylize_video(a.input, a.style, a.output, _config(a), _options(a), on_event=on_event)


def _batch_on_cluster(planned: list, opts, a: argparse.Namespace) -> int:
    """The checked jobs as Ray tasks (cluster/batch.py), with one progress display in this process."""
    from .cluster.connect import connect, disconnect
    from .cluster.batch import absolute, run_on_cluster
    for job, args in planned:
        if getattr(args, "cluster", None):  # a job's own --cluster would start a cluster inside a worker
            raise ConfigError(f"{job.where}: 'cluster' is the batch command's option (--cluster), not a job's")
    placement = connect(opts)  # keeps our stop handlers: a stopped batch cancels its jobs, prints what ran
    text = a.log_format == "text"
    progress = _ClusterProgress(len(planned), "none" if a.quiet else a.log_format)
    if text and not a.quiet:
        print(f"batch of {len(planned)} jobs on Ray ({placement.address}): {placement.workers} at once, each "
              f"{placement.num_cpus} CPU core(s) and {placement.num_gpus:g} GPU", file=sys.stderr)
    outcomes: list = []
    try:
        run_on_cluster([(job, absolute(args)) for job, args in planned], _batch_job, placement, outcomes,
                       on_submit=progress.submitted, on_event=progress.event, on_finish=progress.finished)
    except KeyboardInterrupt:
        progress.close()
        _batch_summary(outcomes, len(planned), text)
        raise
    finally:
        progress.close()
        disconnect(placement)
    return _batch_summary(outcomes, len(planned), text)


class _ClusterProgress:
    """A cluster batch's progress in the driver (clusterbatch.BatchProgress): jobs done, frames done of
    all jobs', ETA. On a terminal one bar; otherwise (a log file) a line whenever a job is sent or ends
    and at most every ``EVERY`` seconds between, never a carriage return. json: every job's events as
    lines on stdout with the job's number."""
    EVERY = 30.0

    def __init__(self, n_jobs: int, mode: str):
        from .cluster.batch import BatchProgress
        self.counts, self.n_jobs, self.mode = BatchProgress(n_jobs), n_jobs, mode
        self.tty = mode == "text" and sys.stderr.isatty()
        self.bar, self.last = None, 0.0

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def _show(self, force: bool) -> None:
        import time
        if self.mode != "text":
            return
        if self.tty:
            from tqdm import tqdm
            done, total, _ = self.counts.totals()
            if self.bar is None:
                self.bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True)
            self.bar.total = total
            self.bar.set_description(f"jobs {self.counts.jobs_done}/{self.n_jobs}", refresh=False)
            self.bar.update(done - self.bar.n)
        elif force or time.monotonic() - self.last >= self.EVERY:
            self.last = time.monotonic()
            print(f"[batch] {self.counts.line()}", file=sys.stderr, flush=True)

    def submitted(self, k: int, job) -> None:
        _Stop.check()
        if self.mode == "text":
            self._say(f"[{k}/{self.n_jobs}] {job.name} -> {job.output}")

    def event(self, k: int, event: dict) -> None:
        self.counts.event(k, event)
        if self.mode == "json":
            print(json.dumps({"job": k, **event}), flush=True)
        elif event.get("event") == "warning":  # with --quiet too, as for one render
            self._say(f"videostyle: job {k}: warning: {event['message']}")
        elif self.mode == "text" and event.get("event") == "note":
            self._say(f"job {k}: {event['message']}")
        self._show(force=event.get("event") == "start")

    def finished(self, k: int, outcome) -> None:
        self.counts.finished(k, outcome.status == "ok")
        if outcome.status != "ok":
            self._say(f"videostyle: job {k} failed: {outcome.message}")
        self._show(force=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _demo(a: argparse.Namespace) -> int:
    from .commands.demo import run_demo
    progress = _Progress("none" if a.quiet else "text")
    if not a.quiet:
        print(f"videostyle demo: the bundled clip with {a.style}, at {a.max_side} px "
              "(about two minutes on 2 CPU cores)", file=sys.stderr)
    try:
        files, report = run_demo(a.output, a.style, max_side=a.max_side, frames=a.frames, iterations=a.iterations,
                                 device=a.device, overwrite=a.overwrite, on_event=progress)
    finally:
        progress.close()
    t = report["totals"]
    print(f"wrote {t['frames']} frames in {t['seconds']:.0f} s to {files.folder}/:")
    print(f"  {files.video}  stylized, with the clip's audio")
    print(f"  {files.compare}  source | stylized, side by side")
    print(f"  {files.sheet}  a few frames, source above, stylized below")
    print(f"  {files.report}  per-frame losses, timings and stability measures")
    if files.plot:
        print(f"  {files.plot}  those measures per frame")
    else:
        print("  (no plot of the report: pip install 'videostyle[plot]')")
    print("next, your own clip:  videostyle stylize CLIP.mp4 --style starry_night -o out.mp4 --max-side 256 "
          "--report out.json   (videostyle styles lists the bundled paintings)")
    return 0


def _styles(a: argparse.Namespace) -> int:
    from .io.bundled import paintings
    for name, path in paintings().items():
        print(f"{name}\t{path}")
    return 0


# Stylize options a dream has no use for: it has no painting, and its octaves are its scales.
_NOT_DREAM = {"style": None, "style_blend": None, "style_scale": _TOP.style_scale,
              "content_weight": _LOSS.content_weight, "style_weight": _LOSS.style_weight, "scales": _OPTIM.scales}


def _add_dream_options(p: argparse.ArgumentParser) -> None:
    """The stylize flags without the painting's (hidden; refused when given), the dream's own, and the
    dream's defaults (config.dream_defaults)."""
    from .config import DREAM_LAYERS, dream_defaults
    d = dream_defaults()
    _add_stylize_options(p)
    for action in p._actions:
        if action.dest in _NOT_DREAM:
            action.required, action.help = False, argparse.SUPPRESS
        elif action.dest == "iterations":
            action.help = (f"max iterations per octave for cold-started frames and for warm-started ones "
                           f"(default {d.optim.iterations_first},{d.optim.iterations_later})")
    p.set_defaults(iterations=(d.optim.iterations_first, d.optim.iterations_later), **{k: None for k in _NOT_DREAM})
    add_config_options(p, DreamConfig)  # its own section (DreamConfig.HELP_GROUP)


def _dream(a: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-')}" for k in _NOT_DREAM if getattr(a, k, None) is not None]
    if given:
        raise ConfigError(f"dream takes no {', '.join(given)}: it has no painting (--octaves sets its scales)")
    method = argparse.Namespace(**{**vars(a), **_NOT_DREAM})
    config = dataclasses.replace(_config(method), objective="dream", dream=build_config(DreamConfig, vars(a)))
    return _render(a, [], config)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line too (exit 2, as argparse's): the stylize usage text alone is a screenful,
    and it would hide the one line that says what was wrong. --help still shows it all."""

    def error(self, message, hint=None):
        self.exit(2, f"videostyle: error: {message} ({hint or f'see {self.prog} --help'})\n")

    def parse_args(self, args=None, namespace=None):
        namespace, extra = self.parse_known_args(args, namespace)
        if extra:
            hint = None
            if getattr(namespace, "command", None) == "batch" and extra[0].startswith("--"):
                # A --inputs batch's stylize options travel in one string, as a job file's [defaults] do.
                hint = 'batch takes stylize options in one quoted --options "--max-side 512 …"'
            self.error(f"unrecognized arguments: {' '.join(extra)}", hint)
        return namespace


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="videostyle", description="Artistic style transfer for videos, without flicker "
                                                    "(Ruder, Dosovitskiy & Brox 2016).")
    parser.add_argument("--version", action="version", version=f"videostyle {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("stylize", help="stylize a video or frame sequence", description="Stylize a video or frame sequence.")
    _add_stylize_options(p)
    _add_cluster_options(p)
    p.set_defaults(run=_stylize)

    p = sub.add_parser("dream", help="DeepDream a video: amplify what a VGG19 layer sees, without flicker",
                       description="DeepDream a video or frame sequence: each frame climbs the energy of a VGG19 "
                                   "layer over octaves, warm-started from and pulled toward the previous dream "
                                   "warped by optical flow (--temporal-weight 0 --init image: independent frames). "
                                   "Takes the stylize options except the painting's.")
    _add_dream_options(p)
    _add_cluster_options(p)
    p.set_defaults(run=_dream)

    p = sub.add_parser("preview", help="stylize a few evenly spaced frames into a contact sheet PNG",
                       description="Stylize --count evenly spaced frames (each as a first frame) and write a contact "
                                   "sheet: source above, stylized below. Takes the stylize method options, so "
                                   "a setting chosen here can be copied to the stylize command.")
    _add_stylize_options(p, preview=True)
    _bounded(p.add_argument("--count", type=int, default=6, help="number of frames (default %(default)s)"), AT_LEAST_1)
    p.set_defaults(run=_preview)

    p = sub.add_parser("keyframes", help="write the keyframes --method student learns from, for an artist to retouch",
                       description="Choose the keyframes --method student would (the first frame, frames with much "
                                   "new picture, at least every --keyframe-every frames), stylize them with the "
                                   "optimizer chained by flow, and write source.NNNN.png and stylized.NNNN.png to "
                                   "DIR. Retouch a stylized frame and give it back: stylize --method student "
                                   "--keyframe NNNN=DIR/stylized.NNNN.png.")
    p.add_argument("input", help="video file, a folder of images, or a pattern like frames/%%04d.png")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="a new (or empty) folder for the PNGs")
    p.add_argument("--style", action="append", required=True, metavar="IMAGE", help="style image; repeat for several")
    for title in _SECTIONS:
        _section(p, title)
    add_config_options(p, StylizeConfig, skip=("multipass", "chunks", "method", "draft_finish"), hooks={"iterations_first": _add_iterations})
    _add_student_options(_section(p, _SECTIONS[5]), load=False)
    add_config_flags(_section(p, "input and output"), OutputOptions, ["frames", "fps", "flow_dir", "overwrite"])
    add_config_flags(_section(p, "work folder and resume"), OutputOptions, ["work_dir", "restart", "keep_work"])
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_keyframes)

    p = sub.add_parser("batch", help="run many inputs × styles from a TOML file or a glob",
                       description="Run stylize jobs one after another. Every job is checked first (option "
                                   "types, paths relative to the job file, no two jobs writing the same file): "
                                   "a bad job file runs nothing and exits 2. A failing job, whatever the cause, "
                                   "is reported in the summary and the rest continue; exit 1 when any failed. With "
                                   "--cluster the jobs run as Ray tasks, several at once.")
    p.add_argument("jobfile", nargs="?", metavar="JOB.toml",
                   help="[defaults] table of stylize options and one [[job]] table per job (input, style, output, …)")
    p.add_argument("--inputs", metavar="GLOB", help="instead of a job file: inputs matching this glob (quote it)")
    p.add_argument("--style", action="append", metavar="IMAGE", help="with --inputs: style image(s), one job each")
    p.add_argument("--output-dir", metavar="DIR", help="with --inputs: where outputs go")
    p.add_argument("--ext", default=".mp4", help="with --inputs: output extension for video inputs (default .mp4)")
    p.add_argument("--options", default="", metavar='"--max-side 256 …"',
                   help="with --inputs: stylize options for every job, as one quoted string")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    from .config import ClusterOptions
    add_config_options(p, ClusterOptions)  # --cluster: the jobs run as Ray tasks, several at once
    for action in p._actions:
        if action.dest == "workers":  # a batch's worker is a job, not a chunk's actor
            action.help = "jobs at once, each in its own worker; default one per GPU, else one per 2 CPU cores"
    p.set_defaults(run=_batch)

    p = sub.add_parser("evaluate", help="measure temporal stability (and fidelity) of a stylized video",
                       description="Warping error at frame offsets (flow and consistency weights from the SOURCE "
                                   "frames), flicker index, and with --style the content and style distances.")
    p.add_argument("stylized", help="stylized video or frame sequence")
    p.add_argument("--source", required=True, help="the unstylized input it was made from")
    p.add_argument("--style", action="append", help="style image(s): adds per-frame content and style distances")
    _bounded(p.add_argument("--offsets", type=_ints, default=(1, 2, 4), help="frame offsets (default 1,2,4)"),
             _bounds_of(StylizeConfig, "long_term"))
    add_config_flags(p, StylizeConfig, ("flow", "max_side", "device"), {
        "max_side": {"default": None, "help": "evaluate at this size (longer side) instead of the source's"},
        # The judge stays one flow whatever renders: judge a render with a flow it did not use.
        "flow": {"default": "dis", "help": "the flow the warping error is measured through (default dis; "
                                           "auto = what stylize uses on this machine's CPU for frames of this size)"}})
    add_config_flags(p, OutputOptions, ("frames",), {
        "frames": {"help": "the source range that was stylized (as stylize --frames)"}})
    p.add_argument("--json", metavar="PATH", help="write all numbers, per frame too, as JSON")
    p.add_argument("--plot", metavar="PATH.png", help="draw per-frame curves (needs matplotlib); .png, .svg or .pdf")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("flow", help="compute optical flow and reliability masks for other tools",
                       description="Write forward_i_j.flo, backward_j_i.flo (Middlebury) and reliable_*.pgm masks "
                                   "with 1-based frame numbers, as artistic-videos names them.")
    p.add_argument("input", help="video file or frame sequence")
    p.add_argument("-o", "--output", required=True, help="folder for the .flo and .pgm files")
    add_config_flags(p, StylizeConfig, ("flow", "flow_preset", "long_term", "max_side"), {
        "long_term": {"help": "frame offsets to write (default 1,2,4, as stylize reads them)"},
        "flow": {"help": "optical flow (default auto: what stylize uses on the CPU, deepflow+dis for frames of "
                           "50 px a side or more, else dis)"},
        "max_side": {"default": None, "help": "compute at this size (longer side), as stylize --max-side"}})
    add_config_flags(p, OutputOptions, ("frames",), {
        "frames": {"help": "only these frames (as stylize --frames): files keep the frames' own numbers, so "
                           "the folder serves stylize --frames with the same range"}})
    p.set_defaults(run=_flow)

    p = sub.add_parser("assemble", help="encode a kept work folder into another output, without rendering",
                       description="Encode the finished frames of a work folder (stylize --keep-work, or an "
                                   "interrupted run) into a video or frames again: another codec, 16-bit "
                                   "frames, the source size, a side-by-side video. The input it was rendered "
                                   "from must still be there (timing, audio, full-size frames).")
    p.add_argument("work_dir", metavar="WORK_DIR", help="the work folder (OUTPUT.videostyle)")
    p.add_argument("-o", "--output", required=True, help="video file, or a folder / pattern for frames")
    add_config_options(p, OutputOptions, skip=set(f.name for f in dataclasses.fields(OutputOptions)) - set(_ENCODE),
                       grouped=False)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_assemble)

    from .commands.demo import DEFAULT_FOLDER, DEMO_FRAMES, DEMO_MAX_SIDE
    p = sub.add_parser("demo", help="stylize the bundled clip with a bundled painting: see it work, no files needed",
                       description="Stylize the bundled 3 s clip with a bundled painting and write the stylized "
                                   "video (with audio), a side-by-side video, a contact sheet, and a JSON report "
                                   "with its plot into one folder.")
    p.add_argument("-o", "--output", default=DEFAULT_FOLDER, metavar="DIR", help="folder for the results (default %(default)s)")
    p.add_argument("--style", default="starry_night", metavar="NAME",
                   help="a bundled painting (videostyle styles) or an image file (default %(default)s)")
    add_config_flags(p, StylizeConfig, ("max_side", "device"), {
        "max_side": {"default": DEMO_MAX_SIDE, "help": "processing size (default %(default)s; 512 on a GPU)"}})
    add_config_flags(p, OutputOptions, ("overwrite",), {"overwrite": {"help": "replace the results of an earlier demo"}})
    p.add_argument("--quiet", action="store_true")
    add_config_flags(p, OutputOptions, ("frames",), {
        "frames": {"default": DEMO_FRAMES, "help": "frames of the bundled 36-frame clip (default %(default)s: about "
                                                  "two minutes on 2 CPU cores; 0:36 for all of it)"}})
    # For the tests: a shorter run (iteration caps as stylize takes them; none given: the demo's own).
    iterations = _add_iterations(p)
    iterations.default, iterations.help = None, argparse.SUPPRESS
    p.set_defaults(run=_demo)

    p = sub.add_parser("styles", help="list the bundled paintings (names for --style)",
                       description="List the bundled paintings: name and file. Give the name to --style.")
    p.set_defaults(run=_styles)
    _require_bounds(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "style", None):  # a bundled painting's name (videostyle styles) stands for its file
        from .io.bundled import resolve_style
        style = args.style
        args.style = resolve_style(style) if isinstance(style, str) else [resolve_style(s) for s in style]
    previous = _Stop.install()
    try:
        check_args(_subparsers(parser)[args.command], args)
        return args.run(args)
    except VideostyleError as exc:
        print(f"videostyle: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        print("videostyle: interrupted; finished frames are kept in the work folder: rerun the same command "
              "to continue", file=sys.stderr)
        return 128 + int(_Stop.received or signal.SIGINT)  # the shell's convention: 130 Ctrl-C, 143 TERM, 129 HUP
    except MemoryError:
        print("videostyle: error: out of memory; try a smaller --max-side", file=sys.stderr)
        return 1
    except OSError as exc:  # the disk or the file system, where no stage worded it already
        where = f" ({exc.filename})" if exc.filename else ""
        hint = "; finished frames are kept in the work folder: free space and rerun the same command" \
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
        print(f"videostyle: error: {exc.strerror or exc}{where}{hint}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: still one line unless asked
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        if "out of memory" in message.lower():
            print("videostyle: error: the device ran out of memory; try a smaller --max-side", file=sys.stderr)
        else:
            print(f"videostyle: internal error: {type(exc).__name__}: {message} (rerun with --debug for details)",
                  file=sys.stderr)
        return 3
    finally:
        _Stop.restore(previous)


if __name__ == "__main__":
    sys.exit(main())
