"""The worker side of a shot rendered in chunks on a Ray cluster (``--cluster``; the driver side is
distributed.py): one long-lived actor per device, holding the network and the style targets.

The actor is set up once — network loaded, Gram targets computed, the shot's decoder probed — and then
runs drafts and chunks (drivers/chunked.py), by number: a task carries a chunk index, never an image,
and reads its own frames from the input and writes its results to the shared work store. A task that is
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

from .config import StylizeConfig
from .errors import InputError, VideostyleError


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
        from .drivers import chunked
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

        from .drivers import optimizer_solver
        from .frames import read_image
        from .pipeline import _input_files  # the files whose identity the manifest holds
        from .render import flow_source
        from .store import MANIFEST, WorkStore, file_identity
        from .stylizer import Stylizer
        self.spec, self.cfg = spec, spec.config
        self.where = self._where()
        try:
            with open(os.path.join(spec.work_dir, MANIFEST)) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            raise InputError(f"the work folder {spec.work_dir} is not readable on {self.where['host']}: on "
                             "several machines it must be a shared folder (the same path on every node)") from None
        try:
            files = _input_files(spec.input)
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
        """Source frames at processing size by absolute number: each run of consecutive numbers is
        decoded from a seek to its first (media's seeks are verified to land on the right frame)."""
        from .media import open_source
        from .resize import resize_rgb
        wanted = sorted(set(numbers))
        images = {}
        runs, start = [], wanted[0]
        for a, b in zip(wanted, wanted[1:] + [None]):
            if b != a + 1:
                runs.append((start, a + 1))
                start = b
        for a, b in runs:
            source = open_source(self.spec.input, f"{a}:{b}", fps=self.spec.fps, audio=False)
            with contextlib.closing(source.frames()) as frames:
                for frame in frames:
                    images[a + frame.index] = resize_rgb(frame.image, self.spec.size)
        return [images[n] for n in numbers]

    def _solve(self, *args):
        image, record = self.solver(*args)
        return image, {**record, "worker": self.where}

    def draft(self, k: int) -> dict:
        """Draft chunk ``k``'s frames (task ``draft(k − 1)`` must have run)."""
        from .drivers import chunked
        t = time.perf_counter()
        outcomes = chunked.draft(self._solve, self.cfg, self.store, self.chunks, k, self.read, self.flows)
        return self._result("draft", k, outcomes, t)

    def chunk(self, k: int) -> dict:
        """Finish the frames of chunk ``k`` (task ``draft(k)`` must have run)."""
        from .drivers import chunked
        t = time.perf_counter()
        outcomes = list(chunked.chunk(self._solve, self.cfg, self.store, self.chunks, k, self.read, self.flows))
        return self._result("chunk", k, outcomes, t)

    def _result(self, task: str, k: int, outcomes, t: float) -> dict:
        solved = [o for o in outcomes if not o.resumed]
        return {"task": task, "chunk": k, "seconds": round(time.perf_counter() - t, 4),
                "solved": [o.prepared.number for o in solved],
                "resumed": [o.prepared.number for o in outcomes if o.resumed],
                "evaluations": sum(o.record["evaluations"] for o in solved), **self.where}


_REMOTE = None


def actor_class(ray):
    """``RenderWorker`` as a Ray actor class: never restarted by Ray (the driver decides what to redo and
    where), one task at a time."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(max_restarts=0, max_task_retries=0)(RenderWorker)
    return _REMOTE
