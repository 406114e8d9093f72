"""Installed in every worker process of the cluster tests' Ray cluster (runtime_env
``worker_process_setup_hook``; this folder is on the nodes' PYTHONPATH):

* ``VS_TEST_FORBID``: folders (``os.pathsep``-separated) a worker must never touch; an audit hook
  raises PermissionError on any open, listing or change of a path under them, as a node without the
  driver's disk would fail. (Audit events cover Python's own file calls, not C libraries opening files
  by themselves.)
* ``VS_TEST_FAULTS``: a folder where a test arms one fault for one task: a file named
  ``KIND-N-ACTION`` (``draft-5-kill``, ``finish-6-fail``). The first worker task KIND on frame N (the chunked
  task function, patched) that finds it renames it (so only one worker takes it) and then kills its own process with SIGKILL (kill)
  or raises an InputError (fail).
"""
import functools
import os
import signal
import sys


def install() -> None:
    roots = [os.path.realpath(r) for r in os.environ.get("VS_TEST_FORBID", "").split(os.pathsep) if r]
    if roots:
        def audit(event, args):
            if event in ("open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.mkdir") and args:
                path = args[0]
                if isinstance(path, (str, bytes, os.PathLike)) and not isinstance(path, int):
                    real = os.path.realpath(os.fsdecode(path))
                    if any(real == r or real.startswith(r + os.sep) for r in roots):
                        raise PermissionError(f"a Ray worker touched the driver's folder: {real}")
        sys.addaudithook(audit)
    faults = os.environ.get("VS_TEST_FAULTS")
    if faults:
        # The chunked tasks themselves, as the worker calls them: a fault is raised where a real one is.
        from videostyle.run.drivers import chunked
        for kind in ("draft", "finish"):
            setattr(chunked, kind, _armed(getattr(chunked, kind), kind, faults))


def _armed(function, kind, folder):
    @functools.wraps(function)
    def task(solve, cfg, store, chunks, n, *args):
        for action in ("kill", "fail"):
            armed = os.path.join(folder, f"{kind}-{n}-{action}")
            try:
                os.rename(armed, armed + ".taken")
            except OSError:
                continue
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            from videostyle.errors import InputError
            raise InputError(f"fault armed by the test on {kind} {n}")
        return function(solve, cfg, store, chunks, n, *args)
    return task
