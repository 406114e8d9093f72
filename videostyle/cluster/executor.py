"""The Ray executor (run/execute.py's interface): one shot's chunks rendered by Ray actors, or with
``--method student`` its frames painted by them (cluster/student.py). The commands
(cli/, ``videostyle.stylize_video(cluster=…)``) build it from ``--cluster`` and hand it to the run."""
from __future__ import annotations

import contextlib

from ..config import ClusterOptions, StylizeConfig
from ..errors import ConfigError
from ..io.plates import read_style
from .connect import connect, disconnect
from .shot import ClusterRender
from .student import ClusterPainter
from ..run.render import render
from .worker import WorkerSpec
from ..io.colour import ColourOptions


class RayExecutor:
    def __init__(self, options: ClusterOptions):
        self.options = options

    def check(self, config: StylizeConfig) -> None:
        if config.method == "student":
            return  # its frames are independent: no chunks (config refuses --chunk-frames with it)
        if not config.chunks.chunk_frames:
            # Multi-pass needs no check of its own: config refuses it together with chunks.
            raise ConfigError("--cluster renders one shot as chunks: add --chunk-frames K (e.g. 8-24)")

    @contextlib.contextmanager
    def session(self, shot, config: StylizeConfig, emit):
        placement = connect(self.options)
        try:
            emit({"event": "note", "message": f"rendering on Ray at {placement.address}: {placement.workers} "
                  f"workers, each {placement.num_cpus} CPU and {placement.num_gpus:g} GPU"
                  + (f"; dashboard at {placement.dashboard}" if placement.dashboard else "")})
            yield _RaySession(placement, shot, config, emit)
        finally:
            disconnect(placement)


class _RaySession:
    def __init__(self, placement, shot, config, emit):
        self.placement, self.shot, self.config, self.emit = placement, shot, config, emit
        self.render: ClusterRender | ClusterPainter | None = None
        self._closing = contextlib.ExitStack()

    def outcomes(self, stylizer, frames, flows, store, timer):
        shot = self.shot
        if self.config.method == "student":
            # Keyframes and training here, as in one process; the painting on the workers.
            self.render = ClusterPainter(self.placement)
            yield from render(stylizer, frames, flows, store, timer, (), shot.keyframe_images(), self.emit,
                              painter=self.render)
            return
        # The style images decoded here: a worker never opens the driver's files.
        spec = WorkerSpec(self.config, tuple(read_style(s, ColourOptions.of(shot.options)) for s in shot.styles), tuple(shot.chunks))
        self.render = ClusterRender(self.placement, spec, store, timer, self.emit)
        # Closed on any error too: its workers are stopped before the cluster is left.
        with contextlib.closing(self.render.outcomes(frames, flows)) as outcomes:
            yield from outcomes

    def summary(self) -> dict | None:
        return self.render.summary() if self.render is not None else None


def executor_for(options: ClusterOptions | None):
    """The executor ``options`` asks for: Ray's with ``--cluster``, else None (the run's own, local)."""
    return RayExecutor(options) if options is not None and options.cluster else None
