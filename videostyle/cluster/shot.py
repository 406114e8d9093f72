"""The driver side of a shot rendered in chunks on a Ray cluster (``--cluster … --chunk-frames K``).

The chunk scheme and the work per task are drivers/chunked.py's; the workers are worker.py's actors.
Ray does the scheduling and the retries; this module only says what depends on what:

* The driver decodes the frames and computes their flows (it needs them anyway, for the report's
  warping errors, and ``--flow-dir`` files are on its disk only; a worker computing them again would do
  the same work twice, once for the draft and once for the finishing). Each frame at processing size and
  its flow to the frame before go into Ray's object store once (``ray.put``), as the frame is decoded,
  and for the draft the flow from the frame before (to find the picture it did not show).
* One task per frame and kind (``chunked.tasks``), submitted as soon as its frame is decoded, its inputs
  object references passed as arguments: ("draft", n) gets the reference of draft n − 1's result;
  ("finish", n) gets draft n's and, inside its chunk, finished frame n − 1's. Ray starts a task when
  its arguments exist, and moves them to the worker's node: no shared disk.
* Which actor runs what: a sync actor runs its tasks one at a time in the order they were submitted, so
  a task waiting for its arguments holds up those behind it on the same actor. The tasks are submitted
  frame by frame, draft before finishing, which is an order in which everything a task needs comes
  before it; so the earliest unfinished task always has its arguments and nothing waits on work queued
  behind it. The draft chain (the critical path) has an actor of its own (worker 0) and each chunk's
  finishing chain goes to one of the others, chunks in turn (with one worker, it does everything). The
  price: the draft's actor is idle once the draft is done.
* Faults are Ray's: an actor whose process or node dies is restarted and its unfinished tasks sent
  again (worker.MAX_RESTARTS, MAX_TASK_RETRIES); lost results are rebuilt from their lineage. An error
  raised by a task itself (a NaN frame) fails the run at once, in one line naming the frame, its chunk
  and the worker's host; the traceback stays in Ray's worker log.
* Results come back through the object store; the driver keeps each draft and finished frame in its own
  work store as it arrives, so a rerun after an interruption submits nothing that is kept there, and a
  kept result that a task needs is put back into the object store from the store.
* The frames come out in frame order as they are finished, exactly as ``render.render`` yields them,
  so ``pipeline.stylize_video`` meters and encodes them the same.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator

from .connect import Placement, require_ray
from ..run.drivers import Frame, FrameOutcome, chunked, prepared_for
from ..errors import VideostyleError
from ..io.frames import from_uint16
from ..run.store import WorkStore
from .worker import WorkerSpec, actor_class

NO_WORKER_SECONDS = 600  # how long the run waits for its workers to start


class ClusterRender:
    """One shot on the cluster: iterate for the FrameOutcomes in frame order, then ``summary()`` for
    the report. ``emit`` gets note events."""

    def __init__(self, placement: Placement, spec: WorkerSpec, store: WorkStore, timer,
                 emit: Callable[[dict], None] = lambda event: None):
        self.placement, self.spec, self.store, self.timer, self.emit = placement, spec, store, timer, emit
        self.chunks = list(spec.chunks)
        self.first = self.chunks[0].numbers[0]
        self.tasks: list[dict] = []          # one per task that ran in this run, for the report
        self.workers_seen: dict[int, dict] = {}
        self._started = time.perf_counter()

    # --- the frames, in order ------------------------------------------------------------------------

    def outcomes(self, frames: Iterator[Frame], flows) -> Iterator[FrameOutcome]:
        """Submit every task as its frame is decoded, and yield each frame once it is finished."""
        numbers = [n for c in self.chunks for n in c.numbers]
        self._kept = {"draft": set(self.store.numbers(chunked.DRAFT_PASS)), "finish": set(self.store.numbers())}
        already = set(self._kept["finish"])
        self._drafts = self._drafts_to_make(numbers)
        self._last = None  # [number, source image, its object ref or None]: the frame before, for its light
        prepared = prepared_for(self.spec.config, frames, flows)
        self._actors: list = []
        try:
            if len(already) < len(numbers):
                self._start_workers()
            waiting: dict[int, object] = {}  # decoded frames not yet handed out
            decoded = False
            for n in numbers:
                while n not in self._kept["finish"] or n not in waiting:
                    if not decoded:
                        p = next(prepared, None)
                        if p is None:
                            decoded = True
                        else:
                            waiting[p.number] = p
                            self._submit(p)
                    self._collect(block=decoded)
                p = waiting.pop(n)
                image, record = self.store.load(n)
                outcome = FrameOutcome(p, from_uint16(image), record, n in already)
                if not outcome.resumed:
                    self.timer.seconds["flow"] += p.flow_seconds
                    self.timer.seconds["optimize"] += record["seconds"]
                yield outcome
        finally:
            self._stop_workers()
            prepared.close()
            getattr(frames, "close", lambda: None)()  # the decoder, on this thread

    def _drafts_to_make(self, numbers: list[int]) -> set[int]:
        """The drafts a rerun must make: draft n when it is not kept and frame n is not finished or the
        draft after it must be made (it goes on from draft n)."""
        needed: set[int] = set()
        for n in reversed(numbers):
            if n not in self._kept["draft"] and (n not in self._kept["finish"] or n + 1 in needed):
                needed.add(n)
        return needed

    # --- workers ------------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        ray, p = require_ray(), self.placement
        self._ray, cls = ray, actor_class(ray)
        # Put once, for every worker, and held for the whole run: a restarted actor is set up from it again.
        self._spec = ray.put(self.spec)
        self._actors = [cls.options(num_cpus=p.num_cpus, num_gpus=p.num_gpus, scheduling_strategy="SPREAD")
                        .remote(self._spec, p.num_cpus) for _ in range(p.workers)]
        self._pings = {a.ping.remote(): i for i, a in enumerate(self._actors)}
        self._running: dict = {}   # result ref → (kind, frame, actor index)
        self._refs: dict = {}      # (kind, frame) → its result's ref, while a task still to submit needs it

    def _stop_workers(self) -> None:
        # Tasks still queued (a run that failed or was stopped) are cancelled before their actors go, so
        # Ray does not count the kill as a fault to retry them for.
        for ref in getattr(self, "_running", {}):
            try:
                self._ray.cancel(ref)
            except Exception:
                pass
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone with its node
                pass
        self._actors = []

    def _actor_for(self, kind: str, n: int) -> int:
        """The draft chain on worker 0; chunk k's finishing on worker 1 + k mod (workers − 1)."""
        w = len(self._actors)
        if kind == "draft" or w == 1:
            return 0
        return 1 + chunked.chunk_of(self.chunks, n).index % (w - 1)

    # --- tasks --------------------------------------------------------------------------------------

    def _submit(self, p) -> None:
        """Frame ``p``'s tasks that are not kept, its image and flow put into the object store once."""
        n = p.number
        draft, finish = n in self._drafts, n not in self._kept["finish"]
        last, self._last = self._last, [n, p.frame, None]
        if draft or finish:
            ray = self._ray
            frame, flow = ray.put(p.frame), ray.put(p.back.get(1))
            self._last[2] = frame
            # Frame n − 1's source image: the task measures the source's change of light with it.
            earlier = None
            if last is not None and last[0] == n - 1:
                earlier = last[2] if last[2] is not None else ray.put(last[1])
            if draft:
                before = self._ref("draft", n - 1) if n > self.first else None
                # The flow n − 1 → n too: the draft starts picture n − 1 did not show from the photo.
                forward = ray.put(p.ahead[1]) if 1 in p.ahead else None
                self._call("draft", n, frame, flow, before, earlier, forward)
            if finish:
                before = self._ref("finish", n - 1) if n > chunked.chunk_of(self.chunks, n).numbers[0] else None
                self._call("finish", n, frame, flow, self._ref("draft", n), before, earlier)
        # Every task that needs frame n − 1's results has been submitted (Ray holds its arguments now).
        self._refs.pop(("draft", n - 1), None)
        self._refs.pop(("finish", n - 1), None)

    def _call(self, kind: str, n: int, *args) -> None:
        worker = self._actor_for(kind, n)
        ref = getattr(self._actors[worker], kind).remote(n, *args)
        self._refs[(kind, n)] = ref
        self._running[ref] = (kind, n, worker)

    def _ref(self, kind: str, n: int):
        """The object reference of a result: the task's, or, kept in the work store, put back from it."""
        if (kind, n) not in self._refs:
            self._refs[(kind, n)] = self._ray.put(self.store.load(n, chunked.DRAFT_PASS if kind == "draft" else 0))
        return self._refs[(kind, n)]

    def _collect(self, block: bool) -> None:
        """Keep the results that arrived (and check the workers that started); with ``block``, wait for
        at least one."""
        refs = [*self._running, *self._pings] if self._actors else []
        if not refs:
            if block:
                raise RuntimeError("nothing is running and a frame is not finished")
            return
        timeout = NO_WORKER_SECONDS if block else 0
        done, _ = self._ray.wait(refs, num_returns=1 if block else len(refs), timeout=timeout)
        if block and not done and self._pings:
            p = self.placement
            raise VideostyleError(f"no worker could start on the cluster in {NO_WORKER_SECONDS} s (each needs "
                                  f"{p.num_cpus} CPU, {p.num_gpus:g} GPU); see 'ray status'")
        for ref in done:
            if ref in self._pings:
                self._started_worker(self._pings.pop(ref), ref)
            else:
                self._finished(ref, *self._running.pop(ref))

    def _started_worker(self, worker: int, ref) -> None:
        info = self._get(ref, f"worker {worker}", "")
        if "error" in info:
            kind, message = info["error"]
            raise _error_class(kind)(message)
        self.workers_seen[worker] = {"worker": worker, **info}

    def _finished(self, ref, kind: str, n: int, worker: int) -> None:
        chunk = chunked.chunk_of(self.chunks, n).index
        name = self._name(kind, n)
        host = self.workers_seen.get(worker, {}).get("host", "a worker")
        image, record = self._get(ref, name, f" on {host}")
        pass_ = chunked.DRAFT_PASS if kind == "draft" else 0
        self.store.save(n, image, record, pass_)
        self._kept[kind].add(n)
        evaluations = record["evaluations"] - (record.get("draft_evaluations", 0) if kind == "finish" else 0)
        self.tasks.append({"task": kind, "frame": n, "chunk": chunk, "worker": worker, **record["worker"],
                           "evaluations": evaluations, "end": round(time.perf_counter() - self._started, 3)})

    def _name(self, kind: str, n: int) -> str:
        chunk = chunked.chunk_of(self.chunks, n).index
        return f"{'draft of frame' if kind == 'draft' else 'frame'} {n} (chunk {chunk})"

    def _get(self, ref, name: str, where: str):
        return ray_get(self._ray, ref, name, where,
                       lambda task: (self._name(*task[:2]), f" on {task[2]}"))

    # --- the report ---------------------------------------------------------------------------------

    def summary(self) -> dict:
        """The report's "cluster" section: where it ran, each task, per chunk and per worker. A worker
        that Ray restarted shows more than one process (``pids``); ``retries`` counts them."""
        p = self.placement
        per_chunk = []
        for c in self.chunks:
            mine = [t for t in self.tasks if t["chunk"] == c.index]
            per_chunk.append({
                "chunk": c.index, "frames": [c.numbers[0], c.numbers[-1]],
                "evaluations": sum(t["evaluations"] for t in mine),
                "workers": sorted({t["worker"] for t in mine}),
                "resumed": sorted(n for n in c.numbers if not any(t["frame"] == n and t["task"] == "finish"
                                                                  for t in mine)),
                "finished_at": max((t["end"] for t in mine if t["task"] == "finish"), default=None)})
        per_worker = []
        for worker, info in sorted(self.workers_seen.items()):
            mine = [t for t in self.tasks if t["worker"] == worker]
            pids = sorted({info["pid"], *(t["pid"] for t in mine)})
            per_worker.append({**info, "pids": pids, "restarts": len(pids) - 1, "tasks": len(mine),
                               "frames": sum(1 for t in mine if t["task"] == "finish"),
                               "evaluations": sum(t["evaluations"] for t in mine)})
        return {"address": p.address, "workers": p.workers, "num_cpus_per_worker": p.num_cpus,
                "num_gpus_per_worker": p.num_gpus, "chunks": per_chunk, "per_worker": per_worker,
                "tasks": self.tasks, "retries": sum(w["restarts"] for w in per_worker)}


def _error_class(name: str):
    from .. import errors
    cls = getattr(errors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, VideostyleError) else VideostyleError


def ray_get(ray, ref, name: str, where: str = "", named: Callable[[tuple], tuple[str, str]] | None = None):
    """``ray.get``, a failure as one line: the task's own error (its traceback is in Ray's worker log),
    named ``name`` + ``where``, or by ``named`` from the task the error was raised in (worker._run
    marks it), or its worker lost more often than Ray retries. A VideostyleError keeps its class (its
    exit status)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        task = getattr(cause, "videostyle_task", None)
        if task and named is not None:
            name, where = named(task)
        if isinstance(cause, VideostyleError):
            raise type(cause)(f"{name}{where}: {cause}") from None
        raise RuntimeError(f"{name}{where}: {type(cause).__name__}: {first_line(cause)}") from None
    except ray.exceptions.RayError as exc:  # the actor or its node died more often than Ray retries
        raise VideostyleError(f"{name}: its worker was lost and Ray's retries ran out (the last loss: "
                              f"{type(exc).__name__}: {first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
