"""Batch jobs on a Ray cluster (``videostyle batch JOBS.toml --cluster …``): every job one Ray task, up to
``--workers`` at once, each reporting its progress events to the driver.

The jobs are checked before any runs exactly as in a local batch (batch.plan); only running differs:

- A job is a task, not a call on a long-lived actor: jobs differ in styles, weights and sizes, so there
  is no network worth keeping between them. Each task gets a fresh worker process (``max_calls=1``), so
  everything a job held — its model, the GPU's memory, a broken CUDA context — goes when it ends.
- ``num_cpus`` and ``num_gpus`` are the Placement's (cluster.connect), given explicitly, and the task sets
  torch's threads to its cores (Ray would leave torch one thread).
- Any exception a job raises is caught in its task and becomes that job's one-line failure
  (batch.reason); the others go on. A worker process that dies (killed, out of memory, a crash in C
  code, a node lost) is retried by Ray ``RETRIES`` times — the rerun resumes from the job's work folder —
  and then reported as that job's failure.
- A job that reads what an earlier job writes (a chain; batch.dependencies) starts after that job
  succeeded, and is reported as not run if it failed.
- Progress: each task is a streaming generator that yields its events and then its result; the driver
  waits on the running jobs' generators (``ray.wait``), so events arrive as they happen, with no mailbox
  and no polling. ``BatchProgress`` turns them into jobs done, frames done / to do and an ETA; cli/progress.py
  shows them.

Paths go to the workers absolute (``absolute``): a worker's folder is not the driver's, and on several
machines the files must be on a shared disk under the same paths.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time
from typing import Callable

from ..run.batch import PATH_OPTIONS, Job, Outcome, dependencies, is_path_value, reason
from .connect import Placement, require_ray
from ..errors import VideostyleError

RETRIES = 2  # a job whose worker dies three times is reported failed

Run = Callable[[object, Callable[[dict], None]], object]  # run(job's namespace, on_event)

def _absolute(path: str) -> str:
    # join, not abspath: abspath drops a trailing '/', which marks a folder of frames as the output.
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


def absolute(args):
    """A job's stylize namespace with every path absolute (the driver's folder is not a worker's)."""
    values = dict(vars(args))
    for key in PATH_OPTIONS:
        if is_path_value(key, values.get(key)):
            values[key] = _absolute(values[key])
    if values.get("style") is not None:  # a dream job has none (None: its painting flags are checked unset)
        values["style"] = [_absolute(s) for s in values["style"]]
    return argparse.Namespace(**values)


# --- in the worker -----------------------------------------------------------------------------------

def _job_task(args, run: Run, num_cpus: int):
    """One job in a Ray worker, a streaming generator: its events as they happen, ("event", event), then
    ("done", status, one-line reason, seconds)."""
    import queue
    import threading
    t0 = time.perf_counter()
    events: queue.Queue = queue.Queue()

    def job() -> None:
        try:
            import torch
            torch.set_num_threads(num_cpus)
            run(args, lambda event: events.put(("event", event)))
            events.put(("done", "ok", "", time.perf_counter() - t0))
        except Exception as exc:  # noqa: BLE001 — any failure of one job must leave the others running
            events.put(("done", "FAILED", reason(exc), time.perf_counter() - t0))
    # The job runs beside the generator, which hands its events on as they come (a generator cannot
    # yield from inside the callback).
    threading.Thread(target=job, daemon=True).start()
    while True:
        item = events.get()
        yield item
        if item[0] == "done":
            return


# --- in the driver ----------------------------------------------------------------------------------

def _ray_reason(exc: BaseException, tries: int) -> str:
    """One line for a task that Ray failed: its worker died on every try (or Ray itself failed it)."""
    ray = require_ray()
    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, ray.exceptions.OutOfMemoryError):  # the node's memory, which Ray watches
        return "out of memory: Ray's memory monitor killed its worker; try fewer --workers or a smaller --max-side"
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)):
        return reason(VideostyleError(f"its worker died {tries} times ({type(exc).__name__}: {first})"))
    return reason(VideostyleError(f"Ray: {type(exc).__name__}: {first}"))


def run_on_cluster(planned: list[tuple[Job, object]], run: Run, placement: Placement, outcomes: list[Outcome], *,
                   on_submit: Callable[[int, Job], None] | None = None,
                   on_event: Callable[[int, dict], None] | None = None,
                   on_finish: Callable[[int, Outcome], None] | None = None, retries: int = RETRIES) -> None:
    """Run every job with ``run(namespace, on_event)`` in a Ray task on the connected cluster, at most
    ``placement.workers`` at once. ``outcomes`` (given by the caller so that it holds the results when
    KeyboardInterrupt stops the batch) is filled with one Outcome per job, in job order; on an
    interrupt, jobs running are cancelled and marked STOPPED ("interrupted"), jobs not begun STOPPED
    ("not started"). Callbacks take job numbers from 1. Events go to ``on_event`` as they arrive.

    Each job is a streaming generator task: the driver waits (``ray.wait``) on the running jobs'
    generators and takes whichever item comes next, an event or the job's end, so there is no mailbox
    and no polling. A job whose worker dies is run again by Ray (``max_retries``); Ray hands on only the
    items past those the first try yielded, so a rerun that resumes from the job's work folder (and
    reports its kept frames again) continues the same stream of events. Jobs wait for the jobs they read
    from (batch.dependencies) and for a free worker before they are submitted."""
    ray = require_ray()
    task = ray.remote(max_calls=1, num_returns="streaming")(_job_task).options(
        num_cpus=placement.num_cpus, num_gpus=placement.num_gpus, max_retries=retries)
    after = dependencies(planned)
    results: dict[int, Outcome] = {}
    waiting = list(range(len(planned)))
    running: dict = {}  # generator → (job index, start time)

    def finish(k: int, outcome: Outcome) -> None:
        results[k] = outcome
        if on_finish:
            on_finish(k + 1, outcome)

    def submit() -> None:
        for k in list(waiting):
            failed = sorted(j for j in after[k] if j in results and results[j].status != "ok")
            if failed:
                waiting.remove(k)
                finish(k, Outcome(planned[k][0], "FAILED", f"not run: job {failed[0] + 1}, which writes what it "
                                  "reads, failed", 0.0))
            elif len(running) < placement.workers and all(j in results for j in after[k]):
                waiting.remove(k)
                if on_submit:
                    on_submit(k + 1, planned[k][0])
                running[task.remote(planned[k][1], run, placement.num_cpus)] = (k, time.perf_counter())

    try:
        submit()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for gen in ready:
                k, t0 = running[gen]
                try:
                    item = ray.get(next(gen))
                except StopIteration:  # ended without its last item: Ray failed it (the error came first)
                    item = ("done", "FAILED", reason(VideostyleError("Ray ended the job without a result")),
                            time.perf_counter() - t0)
                except ray.exceptions.RayError as exc:
                    item = ("done", "FAILED", _ray_reason(exc, retries + 1), time.perf_counter() - t0)
                if item[0] == "event":
                    if on_event:
                        on_event(k + 1, item[1])
                    continue
                del running[gen]
                finish(k, Outcome(planned[k][0], *item[1:]))
            submit()
    except BaseException:  # Ctrl-C, SIGTERM, or the driver failing: no job goes on without it
        for gen, (k, t0) in running.items():
            with contextlib.suppress(Exception):
                ray.cancel(gen, force=True)
            results[k] = Outcome(planned[k][0], "STOPPED", "interrupted", time.perf_counter() - t0)
        raise
    finally:
        outcomes[:] = [results.get(k) or Outcome(planned[k][0], "STOPPED", "not started", 0.0)
                       for k in range(len(planned))]


# --- progress ------------------------------------------------------------------------------------------

def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class BatchProgress:
    """Jobs done, frames done and to do, and the time left, from the events of jobs running at once.

    A job's frame count is known when it starts; a job not started yet is counted as the mean of the
    known ones (the total then reads ``~24``), and a failed job as the frames it finished. The ETA is the
    frames left at the rate frames were computed so far (resumed frames, loaded from a work folder, do
    not count toward the rate)."""

    def __init__(self, n_jobs: int, now: Callable[[], float] = time.monotonic):
        self.n_jobs, self.now, self.t0 = n_jobs, now, now()
        self.frames: dict[int, list[int]] = {}  # job → [frames, done]
        self.ended: dict[int, bool] = {}        # job → succeeded
        self.computed = 0

    def event(self, k: int, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":  # again after a retry: the rerun reports its frames, resumed ones too
            self.frames[k] = [int(event["n_frames"]), 0]
        elif kind == "frame" and k in self.frames:
            self.frames[k][1] += 1
            self.computed += not event.get("resumed")

    def finished(self, k: int, ok: bool) -> None:
        self.ended[k] = ok
        if k in self.frames and not ok:
            self.frames[k][0] = self.frames[k][1]  # the rest will not come

    @property
    def jobs_done(self) -> int:
        return len(self.ended)

    @property
    def failed(self) -> int:
        return sum(not ok for ok in self.ended.values())

    def totals(self) -> tuple[int, int | None, bool]:
        """(frames done, frames in all or None while no job has started, whether that is an estimate)."""
        done = sum(d for _, d in self.frames.values())
        known = sum(n for n, _ in self.frames.values())
        unknown = sum(1 for k in range(1, self.n_jobs + 1) if k not in self.frames and k not in self.ended)
        if not unknown:
            return done, known, False
        counts = [n for k, (n, _) in self.frames.items() if self.ended.get(k, True)]
        if not counts:
            return done, None, True
        return done, known + round(unknown * sum(counts) / len(counts)), True

    def eta(self) -> float | None:
        done, total, _ = self.totals()
        elapsed = self.now() - self.t0
        if total is None or not self.computed or elapsed <= 0:
            return None
        return max(0, total - done) / (self.computed / elapsed)

    def line(self) -> str:
        """``jobs 1/3 done (1 failed), frames 10/~24, ETA 0:17``."""
        done, total, estimated = self.totals()
        eta = self.eta()
        failed = f" ({self.failed} failed)" if self.failed else ""
        total_text = "?" if total is None else ("~" if estimated else "") + str(total)
        return (f"jobs {self.jobs_done}/{self.n_jobs} done{failed}, frames {done}/{total_text}, "
                f"ETA {'?' if eta is None else clock(eta)}")
