"""The fast mode on a Ray cluster (``--method student --cluster``): the student paints the shot's frames
on the cluster's workers, as independent work (no ``--chunk-frames``).

The driver chooses and stylizes the keyframes and trains the student (drivers/student.py), as in one
process: the keyframes form a chain, and the training is one job. Only the painting is spread out,
because it is the part whose cost grows with the frames: every frame is painted on its own, so any
worker can paint any frame, and the result does not depend on which one did.

* One long-lived actor per device holds the student. Its weights are put into Ray's object store once
  and go with every task as a reference, not into the actor's constructor: an actor restarted by Ray
  loads them again from its next task (and Ray does not warn of constructor arguments a restart could
  lose). Fetching a 1.4 MB object that the node already holds costs about a millisecond a group.
* Each group of frames (drivers/student.render_batch_size of them) goes into the object store once, as
  an argument of one task; the workers take the groups in turn. At most ``IN_FLIGHT_PER_WORKER`` groups
  a worker are out at once, so a long shot does not fill the object store with frames waiting.
* The paint comes back through the object store and the driver carries the keyframes' paint into it
  (method/carry.py) and keeps it in its work store: the workers never open the driver's files.
* Faults are Ray's, as for the chunked render: an actor that dies is restarted from the same weights
  and its unfinished tasks are sent again (worker.MAX_RESTARTS, MAX_TASK_RETRIES).
"""
from __future__ import annotations

import io
import os
import secrets
import socket
from typing import Iterator

import numpy as np

from .connect import Placement, require_ray
from .shot import ray_get
from .worker import MAX_RESTARTS, MAX_TASK_RETRIES

IN_FLIGHT_PER_WORKER = 2  # one painting, one waiting: the worker never waits for the driver


class StudentWorker:
    """One device's painter: the student loaded from its saved bytes, on this worker's GPU when Ray gave
    it one, else on its CPU cores."""

    def __init__(self, num_cpus: int, num_gpus: float):
        import torch
        # Ray sets OMP_NUM_THREADS=1 in its workers; torch would use one core of the ones reserved.
        torch.set_num_threads(max(1, num_cpus))
        self.device = torch.device("cuda" if num_gpus > 0 and torch.cuda.is_available() else "cpu")
        self.net, self.loaded = None, None  # the student, and the token of the weights it was loaded from
        self.where = {"host": socket.gethostname(), "pid": os.getpid(), "device": str(self.device)}

    def paint(self, token: str, weights: bytes, frames: np.ndarray) -> tuple[list[np.ndarray], dict]:
        """The student's paint of each of ``frames`` (N×H×W×3 uint8), and where it was painted; the
        student is loaded from ``weights`` the first time this actor sees ``token``."""
        import torch

        from ..method import student as network
        if self.loaded != token:
            data = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
            net = network.StudentNet(data["width"]).to(self.device)
            net.load_state_dict(data["state"])
            self.net, self.loaded = net, token
        return network.render(self.net, list(frames), self.device, batch=len(frames)), self.where


def weights_of(net) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save({"width": net.width, "state": {k: v.cpu() for k, v in net.state_dict().items()}}, buf)
    return buf.getvalue()


class ClusterPainter:
    """drivers/student.Painter on the cluster's workers. ``summary()`` says where each group was painted,
    for the report's "cluster" section."""

    def __init__(self, placement: Placement):
        self.placement = placement
        self.painted: list[dict] = []  # one per group painted: its size and where

    def __call__(self, net, groups: list[list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
        ray, p = require_ray(), self.placement
        cls = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)(StudentWorker)
        weights, token = ray.put(weights_of(net)), secrets.token_hex(8)
        actors = [cls.options(num_cpus=p.num_cpus, num_gpus=p.num_gpus, scheduling_strategy="SPREAD")
                  .remote(p.num_cpus, p.num_gpus) for _ in range(p.workers)]
        window = IN_FLIGHT_PER_WORKER * len(actors)
        refs: list = []
        try:
            for i, group in enumerate(groups):
                while len(refs) < min(len(groups), i + window):
                    k = len(refs)
                    refs.append(actors[k % len(actors)].paint.remote(token, weights, ray.put(np.stack(groups[k]))))
                images, where = ray_get(ray, refs[i], f"the student's paint of frames group {i + 1} of {len(groups)}")
                refs[i] = None  # its frames and paint leave the object store
                self.painted.append({"frames": len(group), **where})
                yield images
        finally:
            for ref in refs:
                if ref is not None:
                    try:
                        ray.cancel(ref)
                    except Exception:
                        pass
            for actor in actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # already gone with its node
                    pass

    def summary(self) -> dict:
        p = self.placement
        workers: dict[tuple, dict] = {}
        for g in self.painted:
            w = workers.setdefault((g["host"], g["pid"]), {"host": g["host"], "pid": g["pid"], "device": g["device"],
                                                           "groups": 0, "frames": 0})
            w["groups"] += 1
            w["frames"] += g["frames"]
        return {"address": p.address, "workers": p.workers, "num_cpus_per_worker": p.num_cpus,
                "num_gpus_per_worker": p.num_gpus, "painted_by": list(workers.values())}
