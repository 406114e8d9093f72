"""Batch jobs: many inputs × styles from a TOML file or a glob.

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
"""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field

from .errors import ConfigError, InputError

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

    @property
    def name(self) -> str:
        return f"{os.path.basename(self.input.rstrip('/'))} × {', '.join(os.path.basename(s) for s in self.styles)}"

    def argv(self) -> list[str]:
        """The ``stylize`` command line this job stands for."""
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


_RESERVED = {"input", "style", "output"}


def _styles(value, where: str) -> tuple[str, ...]:
    styles = (value,) if isinstance(value, str) else tuple(value or ())
    if not styles or not all(isinstance(s, str) for s in styles):
        raise ConfigError(f"{where}: 'style' must be a path or a list of paths")
    return styles


def load_jobs(path: str) -> list[Job]:
    """Jobs of a TOML file; relative paths are taken relative to the file's folder."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"job file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read job file {path}: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    rel = lambda p: p if os.path.isabs(p) else os.path.join(base, p)  # noqa: E731
    defaults = dict(data.get("defaults", {}))
    jobs = []
    for n, table in enumerate(data.get("job", []), start=1):
        where = f"{path}: job {n}"
        missing = [k for k in ("input", "style", "output") if k not in table]
        if missing:
            raise ConfigError(f"{where} lacks {', '.join(missing)}")
        options = {**{k: v for k, v in defaults.items() if k not in _RESERVED},
                   **{k: v for k, v in table.items() if k not in _RESERVED}}
        for key in ("report", "work_dir", "work-dir", "compare"):
            if isinstance(options.get(key), str):
                options[key] = rel(options[key])
        jobs.append(Job(rel(table["input"]), tuple(rel(s) for s in _styles(table["style"], where)),
                        rel(table["output"]), options))
    if not jobs:
        raise ConfigError(f"{path} has no [[job]] tables")
    return jobs


def jobs_from_glob(pattern: str, styles: list[str], output_dir: str, ext: str = ".mp4",
                   options: dict | None = None) -> list[Job]:
    """One job per input matching ``pattern`` and per style: OUTPUT_DIR/<input>_<style><ext>
    (a folder of frames when the input is a folder)."""
    inputs = sorted(glob.glob(pattern))
    if not inputs:
        raise InputError(f"no input matches {pattern}")
    if not os.path.isdir(output_dir):
        raise ConfigError(f"output folder does not exist: {output_dir}")
    jobs = []
    for inp in inputs:
        stem = os.path.splitext(os.path.basename(inp.rstrip("/")))[0]
        for style in styles:
            sname = os.path.splitext(os.path.basename(style))[0]
            name = f"{stem}_{sname}" if len(styles) > 1 else stem
            out = os.path.join(output_dir, name + ("/" if os.path.isdir(inp) else ext))
            jobs.append(Job(inp, (style,), out, dict(options or {})))
    return jobs
