"""Durable, atomic file writes: the data goes to a hidden temporary file beside the target, is flushed
to the disk (fsync), renamed over the target, and the folder entry is flushed too. A kill or power loss
at any moment leaves the old file or the new one, never a torn one, and never a stray temporary file
after an error in Python."""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets


def fsync_dir(folder: str) -> None:
    """Make a rename or creation in ``folder`` durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str, data: bytes | str, durable: bool = True) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; ``durable`` also fsyncs file and folder.
    Raises OSError; the temporary file is removed on any failure."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    raw = data.encode() if isinstance(data, str) else data
    try:
        # os.open with 0o666 honours the umask, unlike tempfile.mkstemp's 0o600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if durable:
        fsync_dir(folder)


def finite(data):
    """``data`` with every NaN or infinite float replaced by None (JSON has no such numbers, and a
    reader of a report must not get them)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def write_json(path: str, data, indent: int | None = 1, durable: bool = True) -> None:
    """``data`` as strict JSON (non-finite numbers become null), written atomically."""
    write_atomic(path, json.dumps(finite(data), indent=indent, allow_nan=False, sort_keys=False), durable)
