"""The driver side of a shot rendered in chunks on a Ray cluster (``--cluster … --chunk-frames K``).

The chunk plan and the work per chunk are drivers/chunked.py's; the workers are worker.py's actors.
Here, only scheduling and faults:

* one task per frame and kind (``chunked.tasks``): ("draft", n) needs draft n − 1; ("finish", n) needs
  draft n and, inside its chunk, frame n − 1 finished. Ready tasks go to idle
  workers, drafts first: their chain is the critical path, and a chunk's finishing follows it frame by
  frame.
* a worker lost (its node gone, its process killed) has its task sent again, to a replacement worker
  or another one, up to ``MAX_RETRIES`` times; every finished frame is in the work store, so nothing
  finished is redone. An error raised by the task itself (a NaN frame, a full disk) fails the run at
  once, with one line naming the frame and its chunk.
* the results come out in frame order as frames are finished, exactly as ``render.render``
  yields them: the frames from the store, their flows from this process's own decode (read back from
  the flow cache the workers filled), so ``pipeline.stylize_video`` meters and encodes them the same.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .connect import Placement, require_ray
from ..run.drivers import Frame, FrameOutcome, chunked, prepare
from ..errors import ConfigError, VideostyleError
from ..io.frames import from_uint16
from ..run.store import WorkStore
from .worker import WorkerSpec, actor_class

MAX_RETRIES = 3          # times one task is sent again after losing its worker
NO_WORKER_SECONDS = 600  # how long the run waits for a worker to start when none is alive


@dataclass
class _Task:
    kind: str            # "draft" or "finish"
    n: int               # its frame
    needs: tuple = ()    # the (kind, frame) keys of the tasks that must be done first
    attempts: int = 0    # sent so far
    lost: int = 0        # workers lost while running it

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.n

    def name(self, chunks: list[chunked.Chunk]) -> str:
        k = chunked.chunk_of(chunks, self.n).index
        return f"{'draft of frame' if self.kind == 'draft' else 'frame'} {self.n} (chunk {k})"


@dataclass
class _Worker:
    serial: int
    actor: object
    info: dict = field(default_factory=dict)   # node, host, pid once started


class ClusterRender:
    """One shot on the cluster: iterate for the FrameOutcomes in frame order, then ``summary()`` for
    the report. ``emit`` gets note events (a worker lost and its task retried)."""

    def __init__(self, placement: Placement, spec: WorkerSpec, store: WorkStore, timer,
                 emit: Callable[[dict], None] = lambda event: None):
        self.placement, self.spec, self.store, self.timer, self.emit = placement, spec, store, timer, emit
        self.chunks = spec.chunks()
        self.attempts: list[dict] = []     # one per finished or lost task attempt, for the report
        self.workers_seen: dict[int, dict] = {}
        self._serial = 0
        self._started = time.perf_counter()

    # --- the frames, in order ------------------------------------------------------------------------

    def outcomes(self, frames: Iterator[Frame], flows) -> Iterator[FrameOutcome]:
        """Start the workers, run every task, and yield each chunk's frames once it is finished."""
        ray = require_ray()
        already = set(self.store.numbers())
        prepared = prepare(frames, flows, self.spec.config.long_term)
        self._ray, self._cls = ray, actor_class(ray)
        self._idle: list[_Worker] = []
        self._starting: dict = {}          # ping ref → worker
        self._running: dict = {}           # task ref → (worker, task, sent at)
        self._tasks = {key: _Task(*key, needs) for key, needs in chunked.tasks(self.chunks).items()}
        # A rerun after an interruption: tasks whose frame is kept need no worker.
        kept = {"draft": set(self.store.numbers(chunked.DRAFT_PASS)), "finish": already}
        self._done: set = {key for key in self._tasks if key[1] in kept[key[0]]}
        try:
            if len(self._done) < len(self._tasks):
                for _ in range(self.placement.workers):
                    self._start_worker()
            for c in self.chunks:
                for n in c.numbers:
                    while ("finish", n) not in self._done:
                        self._dispatch()
                        self._wait()
                    p = next(prepared)
                    if p.number != n:
                        raise RuntimeError(f"decoded frame {p.number} where frame {n} was expected")
                    loaded = self.store.load(n)
                    if loaded is None:
                        raise ConfigError(f"frame {n} was finished on the cluster but is not in {self.store.root} "
                                          "here: with several machines the work folder must be a shared folder "
                                          "(the same path on every node)")
                    image, record = loaded
                    outcome = FrameOutcome(p, from_uint16(image), record, n in already)
                    if not outcome.resumed:
                        self.timer.seconds["flow"] += p.flow_seconds
                        self.timer.seconds["optimize"] += record["seconds"]
                    # Keep the workers busy while the caller meters and encodes this frame.
                    self._dispatch()
                    self._wait(timeout=0)
                    yield outcome
        finally:
            self._stop_workers()
            prepared.close()
            getattr(frames, "close", lambda: None)()  # the decoder, on this thread

    # --- workers ------------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        p = self.placement
        if self._serial >= p.workers * (MAX_RETRIES + 1):
            raise VideostyleError(f"{self._serial} workers were started and lost; the cluster cannot keep one "
                                  "running (see 'ray status' and the Ray logs)")
        actor = self._cls.options(num_cpus=p.num_cpus, num_gpus=p.num_gpus,
                                  scheduling_strategy="SPREAD").remote(self.spec, p.num_cpus)
        self._serial += 1
        w = _Worker(self._serial, actor)
        self._starting[actor.ping.remote()] = w

    def _alive(self) -> int:
        return len(self._idle) + len(self._starting) + len(self._running)

    def _stop_workers(self) -> None:
        for w in [*self._idle, *self._starting.values(), *(r[0] for r in self._running.values())]:
            try:
                self._ray.kill(w.actor, no_restart=True)
            except Exception:  # already gone with its node
                pass
        self._idle, self._starting, self._running = [], {}, {}

    # --- scheduling ---------------------------------------------------------------------------------

    def _ready(self) -> list[_Task]:
        """Tasks whose inputs are in the store and that nobody runs: drafts first, then finishing, in
        ``chunked.tasks``'s order."""
        running = {t.key for _, t, _ in self._running.values()}
        return [t for key, t in self._tasks.items() if key not in self._done and key not in running
                and all(k in self._done for k in t.needs)]

    def _dispatch(self) -> None:
        for task in self._ready():
            if not self._idle:
                return
            w = self._idle.pop(0)
            task.attempts += 1
            ref = getattr(w.actor, task.kind).remote(task.n)
            self._running[ref] = (w, task, time.perf_counter())

    def _wait(self, timeout: float | None = None) -> None:
        """Handle what finished: a started worker, a finished task, a lost worker. Blocks (``timeout``
        None) until at least one thing happened."""
        refs = [*self._running, *self._starting]
        if not refs:
            if timeout == 0:
                return
            raise RuntimeError("no worker left and nothing running")  # _replace always starts another
        if timeout is None and not self._running:
            timeout = NO_WORKER_SECONDS
        done, _ = self._ray.wait(refs, num_returns=len(refs) if timeout == 0 else 1, timeout=timeout)
        if not done and timeout == NO_WORKER_SECONDS:
            p = self.placement
            raise VideostyleError(f"no worker could start on the cluster in {NO_WORKER_SECONDS} s (each needs "
                                  f"{p.num_cpus} CPU, {p.num_gpus:g} GPU); see 'ray status'")
        for ref in done:
            if ref in self._starting:
                self._started_worker(ref, self._starting.pop(ref))
            else:
                self._finished(ref, *self._running.pop(ref))

    def _started_worker(self, ref, w: _Worker) -> None:
        try:
            info = self._ray.get(ref)
        except self._lost_errors() as exc:
            self._replace(w, exc)
            return
        if "error" in info:
            kind, message = info["error"]
            raise _error_class(kind)(message)
        w.info = info
        self.workers_seen[w.serial] = {"worker": w.serial, **info}
        self._idle.append(w)

    def _finished(self, ref, w: _Worker, task: _Task, sent: float) -> None:
        ray = self._ray
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            # The worker's traceback is in Ray's worker log; the user gets one line naming frame and host.
            where = f"{task.name(self.chunks)} on {w.info.get('host', 'a worker')}"
            if isinstance(cause, VideostyleError):
                raise type(cause)(f"{where}: {cause}") from None
            raise RuntimeError(f"{where}: {type(cause).__name__}: {cause}") from None
        except self._lost_errors() as exc:
            task.lost += 1
            self.attempts.append({"task": task.kind, "frame": task.n,
                                  "chunk": chunked.chunk_of(self.chunks, task.n).index, "attempt": task.attempts,
                                  "worker": w.serial, **w.info, "lost": True, "start": self._since(sent),
                                  "end": self._since()})
            if task.lost > MAX_RETRIES:
                raise VideostyleError(f"{task.name(self.chunks)}: its worker was lost {task.lost} times (the last: "
                                      f"{_first_line(exc)})") from None
            self.emit({"event": "note", "message": f"worker {w.serial} ({w.info.get('host')}) lost on "
                       f"{task.name(self.chunks)}; sending it again (finished frames are kept)"})
            self._replace(w, exc)
            return
        self._done.add(task.key)
        self.attempts.append({"worker": w.serial, "attempt": task.attempts, "lost": False,
                              "start": self._since(sent), "end": self._since(), **result})
        self._idle.append(w)

    def _replace(self, w: _Worker, exc: Exception) -> None:
        """Forget a lost worker and start another in its place (Ray puts it where there is room: on a
        cluster that shrank it may stay pending, and the other workers take the tasks)."""
        try:
            self._ray.kill(w.actor, no_restart=True)
        except Exception:
            pass
        if self._alive() < self.placement.workers:
            self._start_worker()

    def _lost_errors(self) -> tuple:
        e = self._ray.exceptions
        return (e.RayActorError, e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError,
                getattr(e, "LocalRayletDiedError", e.NodeDiedError))

    def _since(self, t: float | None = None) -> float:
        return round((time.perf_counter() if t is None else t) - self._started, 3)

    # --- the report ---------------------------------------------------------------------------------

    def summary(self) -> dict:
        """The report's "cluster" section: where it ran, each task attempt, per chunk and per worker."""
        p = self.placement
        per_chunk = []
        for k, c in enumerate(self.chunks):
            mine = [a for a in self.attempts if a.get("chunk") == k]
            ok = [a for a in mine if not a["lost"]]
            finished = [a for a in ok if a["task"] == "finish"]
            per_chunk.append({
                "chunk": k, "frames": [c.numbers[0], c.numbers[-1]],
                "draft_seconds": round(sum(a["seconds"] for a in ok if a["task"] == "draft"), 3),
                "seconds": round(sum(a["seconds"] for a in finished), 3),
                "evaluations": sum(a.get("evaluations", 0) for a in mine),
                "workers": sorted({a["worker"] for a in mine}),
                "retries": sum(1 for a in mine if a["lost"]),
                "resumed": sorted(a["frame"] for a in finished if a["resumed"]),
                "finished_at": max((a["end"] for a in finished), default=None)})
        per_worker = []
        for serial, info in sorted(self.workers_seen.items()):
            mine = [a for a in self.attempts if a["worker"] == serial]
            per_worker.append({**info, "tasks": sum(1 for a in mine if not a["lost"]),
                               "lost_tasks": sum(1 for a in mine if a["lost"]),
                               "busy_seconds": round(sum(a["end"] - a["start"] for a in mine), 3),
                               "frames": sum(1 for a in mine if not a["lost"] and a["task"] == "finish"
                                             and not a["resumed"]),
                               "evaluations": sum(a.get("evaluations", 0) for a in mine)})
        return {"address": p.address, "workers": p.workers, "num_cpus_per_worker": p.num_cpus,
                "num_gpus_per_worker": p.num_gpus, "chunks": per_chunk, "per_worker": per_worker,
                "tasks": self.attempts, "retries": sum(1 for a in self.attempts if a["lost"])}


def _error_class(name: str):
    from .. import errors
    cls = getattr(errors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, VideostyleError) else VideostyleError


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
