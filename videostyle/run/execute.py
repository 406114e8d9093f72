"""Executors: where a shot's frames are rendered. The run defines what an executor is; this process is
the local one, and the cluster layer implements another on Ray (cluster/executor.py), which the commands
hand to ``stylize_video``. The run layer never imports the cluster.

An executor checks the settings it can render (before anything is read) and opens a session for a Shot;
the session yields the finished frames (drivers.FrameOutcome) in frame order, and may say what it did.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator, Protocol

from ..config import StylizeConfig
from .drivers import FrameOutcome
from .plan import Shot
from .render import Timer, render

Event = Callable[[dict], None]


class Session(Protocol):
    def outcomes(self, stylizer, frames, flows, store, timer: Timer) -> Iterator[FrameOutcome]:
        """The shot's finished frames in frame order, each kept in ``store`` (a resumed one as it was)."""

    def summary(self) -> dict | None:
        """What the report says of the executor (None: nothing beyond the frames)."""


class Executor(Protocol):
    def check(self, config: StylizeConfig) -> None:
        """ConfigError (one line) when this executor cannot render ``config``; called first of all."""

    def session(self, shot: Shot, config: StylizeConfig, emit: Event) -> ContextManager[Session]:
        """Resources for one shot (a cluster's workers), released when the block ends, on errors too."""


class LocalSession:
    """This process: the driver the config asks for, with flows and decoding prefetched in a thread."""

    def __init__(self, shot: Shot, emit: Event):
        self.shot, self.emit = shot, emit

    def outcomes(self, stylizer, frames, flows, store, timer: Timer) -> Iterator[FrameOutcome]:
        return render(stylizer, frames, flows, store, timer, self.shot.chunks, self.shot.keyframe_images(),
                      self.emit)

    def summary(self) -> dict | None:
        return None


class LocalExecutor:
    def check(self, config: StylizeConfig) -> None:
        pass

    @contextlib.contextmanager
    def session(self, shot: Shot, config: StylizeConfig, emit: Event):
        yield LocalSession(shot, emit)
