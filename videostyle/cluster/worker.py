"""The worker side of a shot rendered in chunks on a Ray cluster (``--cluster``; the driver side is
cluster/shot.py): one long-lived actor per device, holding the network and the style targets.

The actor is set up once (network loaded, Gram targets computed) and then runs tasks
(drivers/chunked.py: a frame's draft, or its finishing). A task gets everything it needs as arguments,
which Ray hands over through its object store: the frame at processing size, its flow to the frame
before, and the results it goes on from (the draft before it, its own draft, the finished frame before
it). It returns its result the same way. A worker never opens the driver's input, style images or work
folder, so the nodes need no shared disk; the driver keeps the results in its work store.

The chunked tasks are the very functions the local chunked run calls, on an in-memory store that holds
just the task's inputs (``_TaskStore``): the same 16-bit rounding, so the same frames.

``RenderWorker`` is a plain class; ``actor_class`` wraps it with ``ray.remote`` when a cluster render
starts, so importing this module never imports Ray.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import numpy as np

from ..config import StylizeConfig
from ..errors import VideostyleError
from ..run.drivers import chunked
from ..run.store import WorkStore

# Ray's fault tolerance, not ours: an actor whose process or node dies is started again (set up anew from
# the same spec) and the tasks it had not finished are sent to it again, in their order.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3

Kept = tuple[np.ndarray, dict]  # a result: H×W×3 uint16 RGB (the work store's precision) and its record


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs, all in memory (put into Ray's object store once by the driver)."""
    config: StylizeConfig
    styles: tuple[np.ndarray, ...]      # style images, H×W×3 uint8 RGB, decoded by the driver (none for a dream)
    chunks: tuple[chunked.Chunk, ...]   # the shot's chunk plan (plan.Shot.chunks)


class _TaskStore(WorkStore):
    """The two calls a chunked task makes on a work store, in memory: ``load`` answers from the results
    handed to the task, ``keep`` (WorkStore's own: the NaN check and the 16-bit rounding) holds the
    task's result for the driver."""

    def __init__(self, given: dict[tuple[int, int], Kept]):
        super().__init__("(a Ray worker's memory)")
        self.given, self.kept = given, None

    def load(self, index: int, pass_: int = 0) -> Kept | None:
        return self.given.get((index, pass_))

    def save(self, index: int, image: np.ndarray, record: dict, pass_: int = 0) -> None:
        self.kept = (image, record)


class RenderWorker:
    """One device's worker. A setup error that is the user's (a bad option for this node's device, a
    weights file missing) is kept and reported by ``ping``, so the driver fails the run with that one
    line instead of having Ray restart a worker that would fail the same way."""

    def __init__(self, spec: WorkerSpec, num_cpus: int):
        self.started = time.perf_counter()
        self.error: tuple[str, str] | None = None
        self.where = self._where()
        try:
            self._setup(spec, num_cpus)
        except VideostyleError as exc:
            self.error = (type(exc).__name__, str(exc))

    def _setup(self, spec: WorkerSpec, num_cpus: int) -> None:
        import torch

        from ..method.stylizer import Stylizer
        from ..run.drivers import optimizer_solver
        self.cfg, self.chunks = spec.config, list(spec.chunks)
        # Ray sets OMP_NUM_THREADS=1 in its workers; torch would use one core of the ones reserved.
        torch.set_num_threads(num_cpus)
        torch.manual_seed(self.cfg.seed)
        self.solver = optimizer_solver(Stylizer.create(self.cfg, list(spec.styles)))
        self.setup_seconds = time.perf_counter() - self.started

    @staticmethod
    def _where() -> dict:
        try:
            import ray
            # Only inside Ray: asking an uninitialized Ray for its context would start one.
            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        except ImportError:  # a test calling the class directly
            node = None
        return {"node": node, "host": socket.gethostname(), "pid": os.getpid()}

    def ping(self) -> dict:
        """Where this worker runs and how long setting it up took, or the setup error."""
        if self.error is not None:
            return {"error": self.error}
        return {**self.where, "setup_seconds": round(self.setup_seconds, 3)}

    def draft(self, n: int, frame: np.ndarray, flow, before: Kept | None, earlier: np.ndarray | None = None,
              forward=None) -> Kept:
        """Draft frame ``n``: ``frame`` H×W×3 uint8 at processing size, ``flow`` (backward flow n → n−1
        H×W×2 in pixels, its consistency weights H×W in [0, 1]) or None for the shot's first frame,
        ``before`` the draft of frame n − 1 (None for the first frame), ``earlier`` frame n − 1's source
        image (for --follow-light), ``forward`` the flow n − 1 → n and its weights (where n − 1 did not
        show the picture, the draft starts from the photo)."""
        given = {} if before is None else {(n - 1, chunked.DRAFT_PASS): before}
        return self._run(chunked.draft, n, frame, (*flow, *forward) if flow and forward else flow, given, earlier)

    def finish(self, n: int, frame: np.ndarray, flow, drafted: Kept, before: Kept | None,
               earlier: np.ndarray | None = None) -> Kept:
        """Finish frame ``n`` from ``drafted`` (its draft) and, inside its chunk, ``before`` (finished
        frame n − 1; None for the chunk's keyframe)."""
        given = {(n, chunked.DRAFT_PASS): drafted, **({} if before is None else {(n - 1, 0): before})}
        return self._run(chunked.finish, n, frame, flow, given, earlier)

    def _run(self, task, n: int, frame: np.ndarray, flow, given: dict, earlier: np.ndarray | None) -> Kept:
        store = _TaskStore(given)
        # read and flows as the chunked task asks for them: frame n's image, and frame n − 1's for the
        # change of light (the flow to the frame before is given, so no flow is estimated here).
        read = lambda numbers: [frame if m == n else earlier for m in numbers]  # noqa: E731
        # No flow (None): the shot's first frame, or a new shot after a cut (the driver found it).
        flows = lambda t, image_t, s, image_s: (  # noqa: E731
            None if flow is None else flow if len(flow) == 4 else (*flow, None, None))
        try:
            task(self._solve, self.cfg, store, self.chunks, n, read, flows)
        except Exception as exc:
            # Ray hands this error on as the result of every task that depends on this one: the task it
            # came from travels with it, so the driver names the frame that failed, not a later one.
            exc.videostyle_task = (task.__name__, n, self.where["host"])
            raise
        return store.kept

    def _solve(self, *args):
        image, record = self.solver(*args)
        return image, {**record, "worker": self.where}


_REMOTE = None


def actor_class(ray):
    """``RenderWorker`` as a Ray actor class, restarted by Ray when its process or node dies, its
    unfinished tasks retried (``MAX_RESTARTS``, ``MAX_TASK_RETRIES``); one task at a time, in the order
    they were submitted (a sync actor)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)(RenderWorker)
    return _REMOTE
