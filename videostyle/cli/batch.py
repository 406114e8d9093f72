"""videostyle batch: many stylize jobs from a TOML file or a glob, every one checked before the first
runs, one after another here or as Ray tasks with --cluster; a summary table at the end."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConfigError
from . import handlers
from .options import add_dream_options, add_stylize_options, build_config, check_args, config_of, dream_config, options_of
from .progress import ClusterProgress, Stop


class _StrictParser(argparse.ArgumentParser):
    """A stylize parser for batch jobs: a bad option is a ConfigError (one line naming the job, exit 2),
    not the parser's usage text and exit."""

    def error(self, message):
        raise ConfigError(message)


def batch(a: argparse.Namespace) -> int:
    import shlex
    from ..run.batch import jobs_from_glob, load_jobs, option_kinds, plan, run_jobs
    from ..config import ClusterOptions
    cluster = build_config(ClusterOptions, vars(a))
    if bool(a.jobfile) == bool(a.inputs):
        raise ConfigError("give a JOB.toml, or --inputs with --style (or --dream) and --output-dir")
    if a.jobfile:
        if a.dream:
            raise ConfigError("--dream goes with --inputs; in a job file a job says dream = true")
        jobs = load_jobs(a.jobfile)
    else:
        if a.dream and a.style:
            raise ConfigError("--dream takes no --style: a dream has no painting")
        if not (a.style or a.dream) or not a.output_dir:
            raise ConfigError("--inputs needs --style (or --dream) and --output-dir")
        jobs = jobs_from_glob(a.inputs, a.style or [], a.output_dir, a.ext, dream=a.dream)
    try:
        options = shlex.split(a.options)
    except ValueError as exc:
        raise ConfigError(f"--options: {exc}") from None
    parsers = {"stylize": _StrictParser(prog="videostyle batch job", add_help=False),
               "dream": _StrictParser(prog="videostyle batch dream job", add_help=False)}
    add_stylize_options(parsers["stylize"])
    add_dream_options(parsers["dream"])
    extra = options + (["--quiet"] if a.quiet else []) + ["--log-format", a.log_format]

    def parse(job, argv):
        # The job's numbers as the command line's, then its configs as the run would build them (their
        # cross-checks too): a NaN weight or 0 iterations is a bad job file, not a failed job.
        parser = parsers[job.command]
        args = parser.parse_args(argv)
        args.command = job.command
        check_args(parser, args)
        _config(args)
        options_of(args)
        return args

    from ..run.plan import check_path_plan, plan_paths

    def paths(args):
        return plan_paths(args.input, args.style or [], args.output, _config(args), options_of(args))

    def check_own(args, path_plan, work):
        # The job's paths as stylize checks them before rendering, so a job that clashes with itself
        # (or whose work folder is not ours) fails the job file, not its turn to run.
        check_path_plan(path_plan, work, args.report)

    # Every job is checked before the first runs: a bad job file starts nothing (exit 2).
    planned = plan(jobs, parse, {c: option_kinds(p) for c, p in parsers.items()}, extra, paths, check_own)
    text = a.log_format == "text"
    if cluster.cluster:
        return _batch_on_cluster(planned, cluster, a)

    def start(k, job):
        Stop.check()  # a stop signal that a failing job's C code swallowed still ends the batch here
        if text and not a.quiet:
            print(f"[{k}/{len(planned)}] {job.name} -> {job.output}", file=sys.stderr)

    def failed(k, outcome):
        print(f"videostyle: job {k} failed: {outcome.message}", file=sys.stderr)

    outcomes = []
    try:
        run_jobs(planned, _run_job, outcomes, start, failed)
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


def _config(a: argparse.Namespace):
    """A job's StylizeConfig: a stylize job's, or a dream job's (``a.command``, set by parse)."""
    return dream_config(a) if a.command == "dream" else config_of(a)


def _run_job(a: argparse.Namespace) -> int:
    """One job here, as its command runs it (``videostyle stylize`` or ``videostyle dream``)."""
    return handlers.dream(a) if a.command == "dream" else handlers.stylize(a)


def _batch_job(a: argparse.Namespace, on_event) -> None:
    """One job of a batch on a cluster, in its Ray worker: the stylize (or dream) render, its progress
    events sent to the driver instead of printed."""
    from ..run.pipeline import stylize_video
    stylize_video(a.input, a.style or [], a.output, _config(a), options_of(a), on_event=on_event)


def _batch_on_cluster(planned: list, opts, a: argparse.Namespace) -> int:
    """The checked jobs as Ray tasks (cluster/batch.py), with one progress display in this process."""
    from ..cluster.connect import connect, disconnect
    from ..cluster.batch import absolute, run_on_cluster
    for job, args in planned:
        if getattr(args, "cluster", None):  # a job's own --cluster would start a cluster inside a worker
            raise ConfigError(f"{job.where}: 'cluster' is the batch command's option (--cluster), not a job's")
    placement = connect(opts)  # keeps our stop handlers: a stopped batch cancels its jobs, prints what ran
    text = a.log_format == "text"
    progress = ClusterProgress(len(planned), "none" if a.quiet else a.log_format)
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
