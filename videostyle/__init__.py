"""videostyle: artistic style transfer for videos (Ruder, Dosovitskiy & Brox 2016)."""
__version__ = "0.1.0"

from .config import LossConfig, OptimConfig, StylizeConfig  # noqa: E402
from .errors import ConfigError, InputError, OutputError, VideostyleError  # noqa: E402


def stylize_video(*args, cluster=None, **kwargs):
    """See ``videostyle.run.pipeline.stylize_video`` (imported lazily: torch loads on first use).
    ``cluster`` (config.ClusterOptions with ``cluster`` set) renders the shot's chunks on Ray: the
    executor is built here, above the run, which never imports the cluster layer."""
    from .cluster.executor import executor_for
    from .run.pipeline import stylize_video as run
    executor = executor_for(cluster)
    if executor is not None:
        kwargs["executor"] = executor
    return run(*args, **kwargs)


__all__ = ["stylize_video", "StylizeConfig", "LossConfig", "OptimConfig",
           "VideostyleError", "InputError", "OutputError", "ConfigError"]
