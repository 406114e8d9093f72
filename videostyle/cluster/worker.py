"""The worker side of a shot rendered in chunks on a Ray cluster (``--cluster``; the driver side is
cluster/shot.py): one long-lived actor per device, holding the network and the style targets.

The actor is set up once — network loaded, Gram targets computed, the shot's decoder probed — and then
runs tasks (drivers/chunked.py: a frame's draft, or its finishing), by number: a task carries a frame
number, never an image, and reads its own frames from the input and writes its results to the shared
work store. A task that is
retried after a worker died skips the frames that worker already kept.

``RenderWorker`` is a plain class; ``actor_class`` wraps it with ``ray.remote`` when a cluster render
starts, so importing this module never imports Ray.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from fractions import Fraction

from ..config import StylizeConfig
from ..errors import InputError, VideostyleError


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs, all small: paths and numbers (the driver already opened the work store
    and wrote its manifest; the workers only add frames)."""
    config: StylizeConfig
    styles: tuple[str, ...]          # style image paths (none for a dream)
    input: str                       # video file, folder or printf pattern, as the driver opened it
    fps: Fraction | None             # rate of a frame-sequence input (--fps)
    size: tuple[int, int]            # processing size (width, height)
    work_dir: str
    flow_dir: str | None
    first: int                       # the selection's first absolute frame number
    n_frames: int

    def chunks(self):
        from ..run.drivers import chunked
        return chunked.plan(self.first, self.n_frames, self.config.chunks.chunk_frames)


class RenderWorker:
    """One device's worker. A setup error that is the user's (the input or the work folder not visible
    on this node, a bad style image) is kept and reported by ``ping``, so the driver fails the run with
    that one line instead of recreating a worker that would fail the same way."""

    def __init__(self, spec: WorkerSpec, num_cpus: int):
        self.started = time.perf_counter()
        self.error: tuple[str, str] | None = None
        try:
            self._setup(spec, num_cpus)
        except VideostyleError as exc:
            self.error = (type(exc).__name__, str(exc))

    def _setup(self, spec: WorkerSpec, num_cpus: int) -> None:
        import torch

        from ..run.drivers import optimizer_solver
        from ..io.frames import read_image
        from ..run.plan import input_files  # the files whose identity the manifest holds
        from ..run.render import flow_source
        from ..run.store import MANIFEST, WorkStore, file_identity
        from ..method.stylizer import Stylizer
        self.spec, self.cfg = spec, spec.config
        self.where = self._where()
        try:
            with open(os.path.join(spec.work_dir, MANIFEST)) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            raise InputError(f"the work folder {spec.work_dir} is not readable on {self.where['host']}: on "
                             "several machines it must be a shared folder (the same path on every node)") from None
        try:
            files = input_files(spec.input)
        except InputError:
            files = []
        if not files:
            raise InputError(f"input not found on {self.where['host']}: {spec.input} (on several machines it "
                             "must be on a shared folder, or copied to the same path on every node)")
        if file_identity(files) != manifest["input"]["identity"]:
            raise InputError(f"the input at {spec.input} on {self.where['host']} is not the file the driver "
                             "reads (copy the same file, or use a shared folder)")
        self.store = WorkStore(spec.work_dir)  # not WorkStore.open: the driver wrote the manifest
        # Ray sets OMP_NUM_THREADS=1 in its workers; torch would use one core of the ones reserved.
        torch.set_num_threads(num_cpus)
        torch.manual_seed(self.cfg.seed)
        stylizer = Stylizer.create(self.cfg, [read_image(s) for s in spec.styles])
        self.solver = optimizer_solver(stylizer)
        self.flows = flow_source(self.cfg, spec.size, spec.work_dir, spec.flow_dir)
        self.chunks = spec.chunks()
        self._frames: dict = {}  # absolute number → frame at processing size, oldest first
        self.setup_seconds = time.perf_counter() - self.started

    @staticmethod
    def _where() -> dict:
        try:
            import ray
            node = ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray (a test calling the class directly)
            node = None
        return {"node": node, "host": socket.gethostname(), "pid": os.getpid()}

    def ping(self) -> dict:
        """Where this worker runs and how long setting it up took, or the setup error."""
        if self.error is not None:
            return {"error": self.error}
        return {**self.where, "setup_seconds": round(self.setup_seconds, 3)}

    def read(self, numbers):
        """Source frames at processing size by absolute number. A frame not in memory is decoded with its
        whole chunk and one frame either side, from one seek (media's seeks are verified to land on the
        right frame): a task is one frame, and the next tasks on this worker mostly want its neighbours."""
        from ..run.drivers import chunked
        missing = [n for n in numbers if n not in self._frames]
        if missing:
            first, last = self.spec.first, self.spec.first + self.spec.n_frames - 1
            c = chunked.chunk_of(self.chunks, missing[0])
            a, b = max(first, min(c.numbers[0] - 1, *missing)), min(last, max(c.numbers[-1] + 1, *missing))
            self._decode(a, b + 1)
            while len(self._frames) > 4 * (len(c.numbers) + 2):  # a few chunks' frames at most
                self._frames.pop(next(iter(self._frames)))
        return [self._frames[n] for n in numbers]

    def _decode(self, a: int, b: int) -> None:
        from ..io.media import open_source
        from ..io.resize import resize_rgb
        source = open_source(self.spec.input, f"{a}:{b}", fps=self.spec.fps, audio=False)
        with contextlib.closing(source.frames()) as frames:
            for frame in frames:
                self._frames.pop(frame.number, None)
                self._frames[frame.number] = resize_rgb(frame.image, self.spec.size)

    def _solve(self, *args):
        image, record = self.solver(*args)
        return image, {**record, "worker": self.where}

    def draft(self, n: int) -> dict:
        """Draft frame ``n`` (the draft it goes on from must be kept)."""
        from ..run.drivers import chunked
        t = time.perf_counter()
        outcome = chunked.draft(self._solve, self.cfg, self.store, self.chunks, n, self.read, self.flows)
        return self._result("draft", n, outcome, t)

    def finish(self, n: int) -> dict:
        """Finish frame ``n`` (its draft and the finished frame before it in its chunk must be kept)."""
        from ..run.drivers import chunked
        t = time.perf_counter()
        outcome = chunked.finish(self._solve, self.cfg, self.store, self.chunks, n, self.read, self.flows)
        return self._result("finish", n, outcome, t)

    def _result(self, task: str, n: int, outcome, t: float) -> dict:
        from ..run.drivers import chunked
        return {"task": task, "frame": n, "chunk": chunked.chunk_of(self.chunks, n).index,
                "seconds": round(time.perf_counter() - t, 4), "resumed": outcome.resumed,
                "evaluations": 0 if outcome.resumed else outcome.record["evaluations"]
                - (outcome.record.get("draft_evaluations", 0) if task == "finish" else 0), **self.where}


_REMOTE = None


def actor_class(ray):
    """``RenderWorker`` as a Ray actor class: never restarted by Ray (the driver decides what to redo and
    where), one task at a time."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(max_restarts=0, max_task_retries=0)(RenderWorker)
    return _REMOTE
