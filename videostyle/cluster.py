"""Joining a Ray cluster, and how many workers of what size it holds (``--cluster``, ``--workers``,
``--gpus-per-worker``, ``--cpus-per-worker``).

Ray is optional (``pip install -e '.[ray]'``): it is imported here, only when ``--cluster`` is given.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .config import ClusterOptions
from .errors import ConfigError


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


def connect(opts: ClusterOptions) -> Placement:
    """Start (``local``) or join (``auto``, ``host:port``) a Ray cluster and size the workers on it.
    A Ray already initialized in this process (a test, or a batch of jobs) is used as it is."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        try:
            if opts.cluster == "local":
                # Ray's own default would be fine, but a container may report the host's cores.
                ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
                started = True
            else:
                ray.init(address=opts.cluster, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        except ConnectionError as exc:
            raise ConfigError(f"--cluster {opts.cluster}: cannot connect ({exc}); start one with "
                              "'ray start --head' or use --cluster local") from None
        except Exception as exc:  # Ray raises a zoo of types for a bad address
            raise ConfigError(f"--cluster {opts.cluster}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    num_gpus = opts.gpus_per_worker if opts.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if num_gpus > 0 and gpus == 0:
        raise ConfigError(f"--gpus-per-worker {num_gpus:g}: the cluster has no GPUs")
    num_cpus = opts.cpus_per_worker or (1 if num_gpus else 2)
    num_cpus = max(1, min(num_cpus, cpus))
    workers = opts.workers or max(1, int(gpus // num_gpus) if num_gpus else cpus // num_cpus)
    address = ray.get_runtime_context().gcs_address if hasattr(ray.get_runtime_context(), "gcs_address") else "?"
    return Placement(workers, num_cpus, num_gpus, address, started)


def disconnect(placement: Placement) -> None:
    """Shut down a Ray this process started; leave a joined cluster running."""
    if placement.started:
        require_ray().shutdown()
