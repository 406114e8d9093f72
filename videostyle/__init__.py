"""videostyle: artistic style transfer for videos (Ruder, Dosovitskiy & Brox 2016)."""
__version__ = "0.1.0"

from .config import LossConfig, OptimConfig, StylizeConfig  # noqa: E402
from .errors import ConfigError, InputError, OutputError, VideostyleError  # noqa: E402


def stylize_video(*args, **kwargs):
    """See ``videostyle.run.pipeline.stylize_video`` (imported lazily: torch loads on first use)."""
    from .run.pipeline import stylize_video as run
    return run(*args, **kwargs)


__all__ = ["stylize_video", "StylizeConfig", "LossConfig", "OptimConfig",
           "VideostyleError", "InputError", "OutputError", "ConfigError"]
