"""Shared test setup."""
import faulthandler
import sys

import pytest


@pytest.fixture(autouse=True, scope="module")
def fatal_signals_keep_their_traceback(request):
    """``ray.init`` in this process (the cluster tests) replaces the handlers of fatal signals with Ray's
    own, which write to Ray's log files: a crash in any later test would end the run with a bare
    "Aborted" and no traceback (seen once in CI). After a module that loaded Ray, pytest's faulthandler
    is installed again, writing where pytest had it write."""
    yield
    if "ray" not in sys.modules or not faulthandler.is_enabled():
        return
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key
    except ImportError:  # a pytest without it: leave things as they are
        return
    fd = request.config.stash.get(fault_handler_stderr_fd_key, None)
    if fd is not None:
        faulthandler.disable()
        faulthandler.enable(file=fd)


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """A test that builds a Ray worker in this process (cluster/worker.py sets torch's threads to its
    reserved CPUs, 1 in these tests) must not leave every later test on one thread: that made the
    rest of the suite 1.5× slower without failing anything."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)
