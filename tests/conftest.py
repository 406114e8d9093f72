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
