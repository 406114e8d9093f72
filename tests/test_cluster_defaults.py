"""A worker's size when the flags do not give it is config's (ClusterOptions), read by cluster.connect."""
from videostyle.config import ClusterOptions


def test_worker_size_defaults_come_from_config():
    none_given = ClusterOptions(cluster="local")
    assert none_given.worker_gpus(0) == 0 and none_given.worker_gpus(4) == ClusterOptions.GPUS_PER_WORKER == 1
    assert none_given.worker_cpus(0) == ClusterOptions.CPUS_PER_WORKER == 2
    assert none_given.worker_cpus(1) == ClusterOptions.CPUS_PER_GPU_WORKER == 1
    given = ClusterOptions(cluster="local", gpus_per_worker=0.5, cpus_per_worker=3)
    assert given.worker_gpus(4) == 0.5 and given.worker_gpus(0) == 0.5 and given.worker_cpus(0.5) == 3
