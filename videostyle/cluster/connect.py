"""Joining a Ray cluster, and how many workers of what size it holds (``--cluster``, ``--workers``,
``--gpus-per-worker``, ``--cpus-per-worker``).

Ray is optional (``pip install -e '.[ray]'``): it is imported here, only when ``--cluster`` is given.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
from dataclasses import dataclass

from ..config import ClusterOptions
from ..errors import ConfigError


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--cluster needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.40')") from None
    return ray


@dataclass(frozen=True)
class Placement:
    """How many workers, each holding ``num_cpus`` cores and ``num_gpus`` GPUs (Ray resources)."""
    workers: int
    num_cpus: int
    num_gpus: float
    address: str          # where the cluster is (for the report and messages)
    started: bool         # this process started Ray (``local``) and shuts it down at the end
    dashboard: str | None = None  # the dashboard's URL when --ray-dashboard started one


def connect(opts: ClusterOptions) -> Placement:
    """Start (``local``) or join (``auto``, ``host:port``) a Ray cluster and size the workers on it.
    A Ray already initialized in this process (a test, or a batch of jobs) is used as it is."""
    ray = require_ray()
    started, dashboard = False, None
    _check_address(opts.cluster)
    # ray.init puts its own SIGTERM handler (exit at once) in place of the caller's, which would then
    # never see a farm's stop: the caller's handlers are put back.
    handlers = _signal_handlers()
    if not ray.is_initialized():
        try:
            if opts.cluster == "local":
                # Ray's own default would be fine, but a container may report the host's cores.
                # address="local": a new instance even where a `ray start` cluster (or a test's) runs.
                context = ray.init(address="local", num_cpus=len(os.sched_getaffinity(0)),
                                   include_dashboard=opts.ray_dashboard, dashboard_host="127.0.0.1",
                                   log_to_driver=False, configure_logging=False)
                started = True
                url = getattr(context, "dashboard_url", None) if opts.ray_dashboard else None
                dashboard = (url if "://" in url else f"http://{url}") if url else None
            else:
                ray.init(address=opts.cluster, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        except ConnectionError as exc:
            raise ConfigError(f"--cluster {opts.cluster}: cannot connect ({exc}); start one with "
                              "'ray start --head' or use --cluster local") from None
        except Exception as exc:  # Ray raises a zoo of types for a bad address
            raise ConfigError(f"--cluster {opts.cluster}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    num_gpus = opts.worker_gpus(gpus)  # the defaults are config's (ClusterOptions)
    if num_gpus > 0 and gpus == 0:
        raise ConfigError(f"--gpus-per-worker {num_gpus:g}: the cluster has no GPUs")
    num_cpus = opts.worker_cpus(num_gpus)
    if opts.workers and not opts.cpus_per_worker and not num_gpus:
        num_cpus = min(num_cpus, cpus // opts.workers)  # --workers 2 on 2 cores: a core each, both running
    num_cpus = max(1, min(num_cpus, cpus))
    workers = opts.workers or max(1, int(gpus // num_gpus) if num_gpus else cpus // num_cpus)
    if num_gpus and workers * num_gpus > gpus + 1e-9:
        # One worker per device: a worker that does not fit would wait for a GPU forever.
        raise ConfigError(f"--workers {workers} with {num_gpus:g} GPU each needs {workers * num_gpus:g} GPUs; "
                          f"the cluster has {gpus:g}")
    address = ray.get_runtime_context().gcs_address if hasattr(ray.get_runtime_context(), "gcs_address") else "?"
    return Placement(workers, num_cpus, num_gpus, address, started, dashboard)


def _check_address(address: str) -> None:
    """A HOST:PORT that nothing listens on is refused at once: Ray itself retries for minutes."""
    if address in ("local", "auto"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--cluster {address}: expected local, auto, or the head's HOST:PORT "
                          "(printed by 'ray start --head', default port 6379)")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"--cluster {address}: cannot connect ({exc.strerror or exc}); start the head with "
                          "'ray start --head', or use --cluster local") from None


def _signal_handlers() -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    return {sig: h for sig, h in handlers.items() if h is not None}  # None: set outside Python, keep Ray's


def disconnect(placement: Placement) -> None:
    """Shut down a Ray this process started; leave a joined cluster running."""
    if placement.started:
        require_ray().shutdown()
