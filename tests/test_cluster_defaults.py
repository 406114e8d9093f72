"""A worker's size when the flags do not give it is config's (ClusterOptions), read by cluster.connect:
the defaults resolve as before they moved there, and connect() on a Ray declaring 6 CPUs and 2 GPUs places
its workers by them."""
import pytest

from videostyle.cluster.connect import connect
from videostyle.config import ClusterOptions


def test_worker_size_defaults_come_from_config():
    none_given = ClusterOptions(cluster="local")
    assert none_given.worker_gpus(0) == 0 and none_given.worker_gpus(4) == ClusterOptions.GPUS_PER_WORKER == 1
    assert none_given.worker_cpus(0) == ClusterOptions.CPUS_PER_WORKER == 2
    assert none_given.worker_cpus(1) == ClusterOptions.CPUS_PER_GPU_WORKER == 1
    given = ClusterOptions(cluster="local", gpus_per_worker=0.5, cpus_per_worker=3)
    assert given.worker_gpus(4) == 0.5 and given.worker_gpus(0) == 0.5 and given.worker_cpus(0.5) == 3


@pytest.fixture(scope="module")
def ray_with_two_gpus():
    """A Ray of this process declaring 6 CPUs and 2 GPUs (resources only: nothing runs on them);
    connect() sizes its workers on a Ray already initialized as it finds it."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=6, num_gpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def test_connect_sizes_the_workers_with_configs_defaults(ray_with_two_gpus, monkeypatch):
    def sized(**flags):
        p = connect(ClusterOptions(cluster="auto", **flags))
        return p.workers, p.num_cpus, p.num_gpus

    # As before the defaults moved: one worker per GPU, a core each; without GPUs, 2 cores each.
    assert sized() == (2, 1, 1.0)
    assert sized(gpus_per_worker=0) == (3, 2, 0.0)
    assert sized(gpus_per_worker=0, workers=6) == (6, 1, 0.0)
    # connect reads them from config: changing config's default changes the placement.
    monkeypatch.setattr(ClusterOptions, "GPUS_PER_WORKER", 0.5)
    monkeypatch.setattr(ClusterOptions, "CPUS_PER_WORKER", 3)
    assert sized() == (4, 1, 0.5)
    assert sized(gpus_per_worker=0) == (2, 3, 0.0)
