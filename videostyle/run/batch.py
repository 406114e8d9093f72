"""Batch jobs: many inputs × styles from a TOML file or a glob, each job isolated from the others.

A job's options are turned into ``videostyle stylize`` arguments, so a TOML key means exactly what the
flag of the same name means (``max_side`` or ``max-side`` → ``--max-side``) and is validated the same way.

    [defaults]
    max_side = 256
    iterations = "400,200"

    [[job]]
    input = "shots/a.mov"
    style = ["starry.jpg", "matisse.jpg"]
    style_blend = [0.7, 0.3]
    output = "out/a.mp4"

    [[job]]                 # dream = true: a ``videostyle dream`` job, with no style
    input = "shots/b.mov"
    output = "out/b_dream.mp4"
    dream = true

Exit codes: 0 every job succeeded, 1 some job failed (the summary says which and why), 2 the batch
itself is wrong (job file missing or not TOML, a bad value, a glob matching nothing, colliding paths) and
no job ran. Rules, all decided before the first job runs:

- Every path in a job file is relative to the file's folder: input, style, output, report, work_dir,
  compare, weights (unless ``packaged`` or ``torchvision``) and flow_dir; ``~`` is the home folder.
- Each value must have the type its flag takes: a string or number for a valued option, ``true`` /
  ``false`` for a switch, a list of numbers or strings for a comma-separated option; anything else (a
  nested table, ``iterations = true``, ``style = 3``) is a one-line error naming the file, job and key.
  Every job's command line is then parsed by the stylize parser.
- ``[defaults]`` may hold any option and ``style``, but not ``input``, ``output``, ``work_dir``,
  ``report`` or ``compare``: those name one job's own files, and shared by several jobs one job would
  overwrite (or, for a work folder, resume from) another's. They are refused, not derived.
- No two jobs write the same file or folder (output, compare, report, work folder; compared after
  resolving symlinks, frame patterns by their folder and name with the number field ignored). In a
  job file that is refused naming both jobs. Outputs made from ``--inputs`` are named apart instead,
  deterministically: a name shared by several inputs (``shot.mov`` and ``shot.mp4``) or styles
  (``a/style.jpg`` and ``b/style.jpg``) gets the extension, then parent folders, added until it is unique
  (``shot_mov.mp4``, ``shot_mp4.mp4``; ``shot_a_style.mp4``).

Running (``run_jobs``): any exception a job raises — videostyle's own errors, a broken weights file, an
out-of-memory error, an OpenCV error, an OS error — fails that job only; it is reported in the summary
with a one-line reason and the next job runs. Memory (the GPU's too) is released between jobs.
KeyboardInterrupt (Ctrl-C, SIGTERM, SIGHUP) stops the whole batch. With ``--cluster`` the same checked
jobs run as Ray tasks, several at once (cluster/batch.py).
"""
from __future__ import annotations

import gc
import glob
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..io.bundled import resolve_style
from ..errors import ConfigError, VideostyleError
from ..io.frames import normalize_pattern
from ..io.paths import PathPlan, is_within, real, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Job:
    input: str
    styles: tuple[str, ...]
    output: str
    options: dict = field(default_factory=dict)
    where: str = ""  # how messages name the job: "jobs.toml: job 2"
    command: str = "stylize"  # or "dream" (``dream = true``): a DeepDream job, with no painting

    @property
    def name(self) -> str:
        made = ", ".join(os.path.basename(s) for s in self.styles) if self.command == "stylize" else "dream"
        return f"{os.path.basename(self.input.rstrip('/'))} × {made}"

    def argv(self) -> list[str]:
        """The ``stylize`` (or ``dream``) command line this job stands for (values already checked by
        ``check_types``)."""
        args = [self.input, "-o", self.output]
        for s in self.styles:
            args += ["--style", s]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is False or value is None:
                continue
            elif isinstance(value, (list, tuple)):
                args += [flag, ",".join(str(v) for v in value)]
            else:
                args += [flag, str(value)]
        return args


_FILES = ("input", "style", "output")
_PER_JOB = ("input", "output", "work_dir", "report", "compare")  # refused in [defaults]
# Every option that names a file or folder (the style images, a list, aside): relative to the job file in
# a batch, made absolute for a cluster's workers (cluster/batch.py). The one list of them.
PATH_OPTIONS = ("input", "output", "report", "work_dir", "compare", "weights", "flow_dir")
_WEIGHT_KEYWORDS = ("packaged", "torchvision")


def is_path_value(key: str, value) -> bool:
    """Whether option ``key``'s ``value`` is a path (``--weights packaged`` names no file)."""
    return isinstance(value, str) and bool(value) and not (key == "weights" and value in _WEIGHT_KEYWORDS)


def _key(key: str) -> str:
    return key.replace("-", "_")


def _table(value, where: str) -> dict:
    """A TOML table with its keys spelled one way (``work-dir`` → ``work_dir``)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    out = {}
    for key, v in value.items():
        if _key(key) in out:
            raise ConfigError(f"{where} gives {_key(key)} twice (as {key!r} and another spelling)")
        out[_key(key)] = v
    return out


def _styles(value, where: str) -> tuple[str, ...]:
    styles = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
    if not styles or not all(isinstance(s, str) for s in styles):
        raise ConfigError(f"{where}: 'style' must be a path or a list of paths")
    return styles


def _read_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"job file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read job file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load_jobs(path: str) -> list[Job]:
    """Jobs of a TOML file; relative paths are taken relative to the file's folder."""
    data = _read_toml(path)
    base = os.path.dirname(os.path.abspath(path))

    def rel(p: str) -> str:
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else os.path.join(base, p)

    defaults = _table(data.get("defaults", {}), f"{path}: [defaults]")
    shared = [k for k in _PER_JOB if k in defaults]
    if shared:
        raise ConfigError(f"{path}: [defaults] cannot hold {', '.join(shared)}: it names one job's own files; "
                          "give it in each [[job]]")
    tables = data.get("job", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path} has no [[job]] tables")
    jobs = []
    for n, table in enumerate(tables, start=1):
        where = f"{path}: job {n}"
        options = {**defaults, **_table(table, where)}
        dream = options.pop("dream", False)
        if not isinstance(dream, bool):
            raise ConfigError(f"{where}: dream is a switch: give true or false, not {dream!r}")
        if dream and "style" in options:
            raise ConfigError(f"{where}: a dream job takes no style (it has no painting)")
        missing = [k for k in _FILES if k not in options and not (dream and k == "style")]
        if missing:
            raise ConfigError(f"{where} lacks {', '.join(missing)}")
        for key in ("input", "output"):
            if not isinstance(options[key], str) or not options[key]:
                raise ConfigError(f"{where}: {key!r} must be a path (a string), not {options[key]!r}")
        styles = () if dream else tuple(_style_path(s, rel) for s in _styles(options["style"], where))
        for key in PATH_OPTIONS:
            if key not in _FILES and is_path_value(key, options.get(key)):  # input, output: below
                options[key] = rel(options[key])
        # Frame patterns as printf (shot.####.exr → shot.%04d.exr), as stylize sees them, so the
        # collision check compares what will really be written.
        jobs.append(Job(normalize_pattern(rel(options["input"])), styles, normalize_pattern(rel(options["output"])),
                        {k: v for k, v in options.items() if k not in _FILES}, where, "dream" if dream else "stylize"))
    return jobs


def _style_path(value: str, rel: Callable[[str], str]) -> str:
    """A style file beside the TOML file, else a bundled painting's name (``starry_night``)."""
    path = rel(value)
    if os.path.exists(path):
        return path
    bundled = resolve_style(value)
    return bundled if bundled != value else path


# --- --inputs GLOB: one job per input and style, named apart ---------------------------------------

def _candidate(path: str, level: int) -> str:
    """Level 0: the file stem; 1: with its extension (``shot_mov``); 2, 3: the same with the parent
    folder in front (``a_style``, ``a_style_jpg``); and so on up the folders."""
    parts = [q for q in os.path.abspath(path.rstrip("/\\")).split(os.sep) if q]
    stem, ext = os.path.splitext(parts[-1])
    head = stem + "_" + ext[1:] if level % 2 and ext else stem
    return "_".join(parts[len(parts) - 1 - level // 2:-1] + [head])


def _labels(paths: list[str]) -> dict[str, str]:
    """A short label per path, unique among ``paths``: names that clash get longer (``_candidate``),
    others stay short; deterministic for the same paths."""
    level = dict.fromkeys(paths, 0)
    deepest = {p: 2 * len(os.path.abspath(p).split(os.sep)) for p in paths}
    while True:
        labels = {p: _candidate(p, level[p]) for p in paths}
        clashing = [p for p in paths if list(labels.values()).count(labels[p]) > 1 and level[p] < deepest[p]]
        if not clashing:
            return labels
        for p in clashing:
            level[p] += 1


def jobs_from_glob(pattern: str, styles: list[str], output_dir: str, ext: str = ".mp4",
                   options: dict | None = None, dream: bool = False) -> list[Job]:
    """One job per input matching ``pattern`` and per style: OUTPUT_DIR/<input>_<style><ext>
    (a folder of frames when the input is a folder); clashing names are made unique (module docstring).
    ``dream``: one dream job per input (``styles`` empty), OUTPUT_DIR/<input><ext>."""
    inputs = sorted(glob.glob(pattern))
    if not inputs:
        raise ConfigError(f"no input matches {pattern}")
    if not os.path.isdir(output_dir):
        raise ConfigError(f"output folder does not exist: {output_dir}")
    in_labels, style_labels = _labels(inputs), _labels(list(dict.fromkeys(styles)))
    jobs = []
    for inp in inputs:
        for style in styles or ([None] if dream else []):
            name = f"{in_labels[inp]}_{style_labels[style]}" if len(styles) > 1 else in_labels[inp]
            out = os.path.join(output_dir, name + ("/" if os.path.isdir(inp) else ext))
            jobs.append(Job(inp, (style,) if style else (), out, dict(options or {}), f"job {len(jobs) + 1}",
                            "dream" if dream else "stylize"))
    return jobs


# --- checks before anything runs -------------------------------------------------------------------

def option_kinds(parser) -> dict[str, bool]:
    """Key (``max_side``) → True for a switch (``--preserve-colors``), False for an option taking a value,
    read from an argparse parser (its actions are the one definition of the stylize options)."""
    kinds = {}
    for action in parser._actions:  # argparse has no public list of its actions
        for flag in action.option_strings:
            if flag.startswith("--"):
                kinds[_key(flag[2:])] = action.nargs == 0
    return kinds


def _scalar(v) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def check_types(job: Job, kinds: dict[str, bool]) -> None:
    """One-line ConfigError naming the job and key for a value the key's flag cannot take."""
    for key, value in job.options.items():
        if key not in kinds:
            raise ConfigError(f"{job.where}: unknown option {key!r}")
        if isinstance(value, dict):
            raise ConfigError(f"{job.where}: {key} must be a value, not a table")
        if kinds[key]:
            if not isinstance(value, bool):
                raise ConfigError(f"{job.where}: {key} is a switch: give true or false, not {value!r}")
        elif isinstance(value, list):
            if not value or not all(_scalar(v) for v in value):
                raise ConfigError(f"{job.where}: {key} must be a list of numbers or strings, not {value!r}")
        elif not _scalar(value):
            raise ConfigError(f"{job.where}: {key} takes a value (a number or a string), not {value!r}")


def _where_written(path: str, frames: bool) -> tuple[str, str | None]:
    """What a written path is compared by, and for frames the folder they go into. A file: its real
    path. A frame-sequence output (``frames``: a folder or a pattern): its folder and its file name with
    the number field as ``#`` (``%04d`` and ``%06d`` write the same frames)."""
    from ..io.frames import has_number_field
    if frames and (has_number_field(path) or path.endswith(("/", os.sep)) or os.path.isdir(path)):
        pattern = path if has_number_field(path) else os.path.join(path, "%06d.png")
        folder, name = os.path.split(os.path.abspath(pattern))
        folder = os.path.realpath(folder)
        return os.path.join(folder, re.sub(r"%0?\d*d", "#", name)), folder
    return os.path.realpath(os.path.abspath(path)), None


def writes(job: Job, args) -> list[tuple[str, str]]:
    """(what, path) for everything a job writes; ``args`` is its parsed stylize namespace."""
    from .store import default_work_dir
    out = [("output", args.output), ("work folder", args.work_dir or default_work_dir(args.output))]
    out += [(what, p) for what, p in (("compare", args.compare), ("report", args.report)) if p]
    return out


def reads(args) -> list[tuple[str, str]]:
    """(what, real path) for the files and folders a job reads."""
    named = [("input", args.input)] + [("style", s) for s in args.style or ()] + [("flow folder", args.flow_dir)]
    if args.weights not in _WEIGHT_KEYWORDS:
        named.append(("weights", args.weights))
    return [(what, os.path.realpath(os.path.abspath(p))) for what, p in named if p]


def check_collisions(planned: Iterable[tuple[Job, object]]) -> None:
    """Refuse two jobs that write the same file or folder, and a job that writes over (or frames into) a
    file or folder an earlier job reads, naming both. A job reading what an earlier one wrote (a chain)
    is fine."""
    written: dict[str, tuple[Job, str]] = {}
    read: dict[str, tuple[Job, str]] = {}
    for job, args in planned:
        for what, path in reads(args):
            read.setdefault(path, (job, what))
        for what, path in writes(job, args):
            key, frames_folder = _where_written(path, what in ("output", "compare"))
            earlier = [(written.get(key), "writes"), (read.get(key), "reads"), (read.get(frames_folder), "reads")]
            for hit, verb in earlier:
                if hit and hit[0] is not job:
                    raise ConfigError(f"{hit[0].where} {verb} {os.path.normpath(path)} ({hit[1]}) and {job.where} "
                                      f"would write it ({what}); give each job its own")
            written.setdefault(key, (job, what))


def dependencies(planned: list[tuple[Job, object]]) -> list[set[int]]:
    """For each job (by index), the earlier jobs that write a file or folder it reads: a chain, such as
    job 2 stylizing job 1's output again. Run one after another these need nothing; jobs run at once
    (clusterbatch) start a job only after those it reads from succeeded."""
    written: dict[str, int] = {}
    after = []
    for k, (job, args) in enumerate(planned):
        mine = set()
        for _, path in reads(args):
            # A file, a folder of frames, or a pattern of frames an earlier job wrote.
            mine.update(written[key] for key in (path, *_where_written(path, True)) if key in written)
        after.append(mine)
        for what, path in writes(job, args):
            key, frames_folder = _where_written(path, what in ("output", "compare"))
            for key in (key, frames_folder):
                if key is not None:
                    written.setdefault(key, k)
    return after


def check_reads_kept(checked: list[tuple[Job, PathPlan, str]]) -> None:
    """Refuse a job that would write over, or write frames into, anything an earlier job reads, or whose
    work folder contains it, whatever ``overwrite`` says: the earlier job's style image, input frames,
    flow folder. ``checked``: each job with what it reads and writes (pipeline.plan_paths, frame
    patterns and hard links included) and its work folder. A job reading what an earlier one writes is a
    chain, and allowed."""
    for k, (job, plan, work) in enumerate(checked):
        for earlier, before, _ in checked[:k]:
            for what, path in before.reads + before.read_dirs:
                hit = next((w for w in plan.writes if w.takes(path)
                            or (w.pattern is not None and real(w.path) == real(path))), None)
                if hit is not None:
                    raise ConfigError(f"{earlier.where} reads {os.path.normpath(path)} ({what}) and {job.where} "
                                      f"would write it ({hit.what} {shown(hit)}); give each job its own")
                if is_within(path, work):
                    raise ConfigError(f"{earlier.where} reads {os.path.normpath(path)} ({what}) and the work "
                                      f"folder {work} of {job.where} contains it; give each job its own")


def plan(jobs: list[Job], parse: Callable[[Job, list[str]], object], kinds: dict[str, dict[str, bool]],
         extra: list[str] = (), paths: Callable[[object], tuple[PathPlan, str]] | None = None,
         check_own: Callable[[object, PathPlan, str], None] | None = None) -> list[tuple[Job, object]]:
    """Check every job before any runs: value types (``kinds``: each command's option_kinds), the job's
    command's parser (``parse``: job, argv → namespace, raising ConfigError), the jobs' paths against each
    other (``paths``: namespace → what it reads and writes and its work folder), then each job's own paths
    (``check_own``, raising ConfigError, as stylize would before rendering). Returns (job, namespace) pairs."""
    planned = []
    for job in jobs:
        check_types(job, kinds[job.command])
        try:
            planned.append((job, parse(job, job.argv() + list(extra))))
        except ConfigError as exc:
            raise ConfigError(f"{job.where}: {exc}") from None
    check_collisions(planned)
    if paths is None:
        return planned
    checked = [(job, *paths(args)) for job, args in planned]
    check_reads_kept(checked)  # first: its message names both jobs
    for (job, args), (_, path_plan, work) in zip(planned, checked):
        try:
            check_own(args, path_plan, work) if check_own else None
        except ConfigError as exc:
            raise ConfigError(f"{job.where}: {exc}") from None
    return planned


# --- running ---------------------------------------------------------------------------------------

@dataclass
class Outcome:
    job: Job
    status: str      # "ok", "FAILED", or "STOPPED" (interrupted)
    message: str     # one line: the failure's reason, or "" when ok
    seconds: float


def reason(exc: BaseException) -> str:
    """One line saying why a job failed, whatever raised."""
    if isinstance(exc, VideostyleError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory; try a smaller --max-side"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    elif "out of memory" in str(exc).lower():
        text = "the device ran out of memory; try a smaller --max-side"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())  # torch's messages span lines
    return text if len(text) <= 300 else text[:299] + "…"


def release_memory() -> None:
    """Free what a job left (its model, frames, a failure's traceback), on the GPU too; torch is not
    imported here if no job imported it."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_jobs(planned: list[tuple[Job, object]], run: Callable[[object], object], outcomes: list[Outcome],
             on_start: Callable[[int, Job], None] | None = None,
             on_failure: Callable[[int, Outcome], None] | None = None) -> None:
    """Run each job with ``run(namespace)``, appending an Outcome to ``outcomes`` (given by the caller so
    it holds what ran when KeyboardInterrupt stops the batch; the interrupted job is marked STOPPED)."""
    for k, (job, args) in enumerate(planned, 1):
        if on_start:
            on_start(k, job)
        t0 = time.perf_counter()
        try:
            run(args)
            outcomes.append(Outcome(job, "ok", "", time.perf_counter() - t0))
        except KeyboardInterrupt:
            outcomes.append(Outcome(job, "STOPPED", "interrupted", time.perf_counter() - t0))
            raise
        except Exception as exc:  # noqa: BLE001 — any failure of one job must leave the others running
            outcomes.append(Outcome(job, "FAILED", reason(exc), time.perf_counter() - t0))
            if on_failure:
                on_failure(k, outcomes[-1])
        finally:
            release_memory()
