"""What a run shows while it works: a progress bar (or JSON lines, or nothing) from the run's events, a
cluster batch's one display, and the stop signals that end a run cleanly at the next frame."""
from __future__ import annotations

import json
import signal
import sys
import threading


class Stop:
    """Ctrl-C, SIGTERM (a render farm stopping a job) and SIGHUP (the terminal closed): raise
    KeyboardInterrupt at once, and remember the signal, so that if C code ever swallowed that
    exception the run still stops at the next frame event. A signal the caller set to be ignored
    (``nohup``, a background job) stays ignored."""
    received: int | None = None
    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    @classmethod
    def install(cls) -> dict:
        """Set the handlers (main thread only); returns the previous ones for ``restore``."""
        cls.received = None
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in cls.SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, cls._handle)
        return previous

    @staticmethod
    def restore(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    @classmethod
    def _handle(cls, signum, frame) -> None:
        cls.received = signum
        raise KeyboardInterrupt

    @classmethod
    def check(cls) -> None:
        if cls.received is not None:
            raise KeyboardInterrupt


class Progress:
    """Turns pipeline events into a tqdm bar, JSON lines, or nothing."""

    def __init__(self, mode: str):
        self.mode, self.bar = mode, None

    def __call__(self, event: dict) -> None:
        Stop.check()
        if self.mode == "json":
            print(json.dumps(event), flush=True)
        elif event["event"] == "warning":  # shown with --quiet too: the result is not what was asked
            self.say(f"videostyle: warning: {event['message']}")
        elif self.mode == "text":
            self._bar(event)

    def say(self, line: str) -> None:
        """One line on stderr, above the bar when there is one."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def _bar(self, event: dict) -> None:
        from tqdm import tqdm
        kind = event["event"]
        if kind == "start":
            w, h = event["size"]
            print(f"{event['input']}: {event['n_frames']} frames, processing at {w}x{h} on {event['device']}",
                  file=sys.stderr)
            if event["resuming"]:
                print(f"resuming: {event['resuming']} frames already done in {event['work_dir']}", file=sys.stderr)
            self.bar = tqdm(total=event["n_frames"], unit="frame", file=sys.stderr, dynamic_ncols=True)
        elif kind == "note":  # above the bar (a cluster's notes come while it runs)
            if self.bar is not None:
                self.bar.write(event["message"], file=sys.stderr)
            else:
                print(event["message"], file=sys.stderr)
        elif kind == "keyframe":  # --method student, step 2
            at = f" at {event['size'][0]}x{event['size'][1]}" if event.get("size") else ""
            self.say(f"keyframe {event.get('name', event['frame'])} ({event['why']}){at}: {event['evaluations']} evaluations, "
                     f"{event['seconds']:.1f} s")
        elif kind == "training":  # step 3: a second bar while the student trains
            w, h = event.get("size") or (0, 0)
            self.say(f"training the student on {event['keyframes']} keyframes" + (f" at {w}x{h}" if w else "")
                     + (f" (resuming at step {event['step']})" if event["step"] else ""))
            self.train_bar = tqdm(total=event["steps"], initial=event["step"], unit="step", desc="training",
                                  file=sys.stderr, dynamic_ncols=True, leave=False)
        elif kind == "train" and getattr(self, "train_bar", None) is not None:
            self.train_bar.set_postfix(loss=f"{event['loss']:.3g}")
            self.train_bar.update(event["step"] - self.train_bar.n)
            if event["step"] >= event["steps"]:
                self.train_bar.close()
                self.train_bar = None
        elif kind == "frame" and self.bar is not None:
            if "total" in event["terms"]:
                self.bar.set_postfix(loss=f"{event['terms']['total']:.3g}", its=event["iterations"])
            self.bar.update(1)
        elif kind == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ClusterProgress:
    """A cluster batch's progress in the driver (clusterbatch.BatchProgress): jobs done, frames done of
    all jobs', ETA. On a terminal one bar; otherwise (a log file) a line whenever a job is sent or ends
    and at most every ``EVERY`` seconds between, never a carriage return. json: every job's events as
    lines on stdout with the job's number."""
    EVERY = 30.0

    def __init__(self, n_jobs: int, mode: str):
        from ..cluster.batch import BatchProgress
        self.counts, self.n_jobs, self.mode = BatchProgress(n_jobs), n_jobs, mode
        self.tty = mode == "text" and sys.stderr.isatty()
        self.bar, self.last = None, 0.0

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def _show(self, force: bool) -> None:
        import time
        if self.mode != "text":
            return
        if self.tty:
            from tqdm import tqdm
            done, total, _ = self.counts.totals()
            if self.bar is None:
                self.bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True)
            self.bar.total = total
            self.bar.set_description(f"jobs {self.counts.jobs_done}/{self.n_jobs}", refresh=False)
            self.bar.update(done - self.bar.n)
        elif force or time.monotonic() - self.last >= self.EVERY:
            self.last = time.monotonic()
            print(f"[batch] {self.counts.line()}", file=sys.stderr, flush=True)

    def submitted(self, k: int, job) -> None:
        Stop.check()
        if self.mode == "text":
            self._say(f"[{k}/{self.n_jobs}] {job.name} -> {job.output}")

    def event(self, k: int, event: dict) -> None:
        self.counts.event(k, event)
        if self.mode == "json":
            print(json.dumps({"job": k, **event}), flush=True)
        elif event.get("event") == "warning":  # with --quiet too, as for one render
            self._say(f"videostyle: job {k}: warning: {event['message']}")
        elif self.mode == "text" and event.get("event") == "note":
            self._say(f"job {k}: {event['message']}")
        self._show(force=event.get("event") == "start")

    def finished(self, k: int, outcome) -> None:
        self.counts.finished(k, outcome.status == "ok")
        if outcome.status != "ok":
            self._say(f"videostyle: job {k} failed: {outcome.message}")
        self._show(force=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
