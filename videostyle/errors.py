"""User-facing errors: the message is one line a person can act on; the CLI prints it and exits non-zero."""


class VideostyleError(Exception):
    """Base of every error the CLI reports as a one-line message instead of a traceback."""


class InputError(VideostyleError):
    """An input (video, frame sequence, style image, flow file) is missing, unreadable or invalid."""


class OutputError(VideostyleError):
    """The output cannot be written where the user asked."""


class ConfigError(VideostyleError):
    """An option value is invalid or options contradict each other."""
