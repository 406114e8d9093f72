"""Which staging paths belong to a live writer: a lock FILE beside each (``PATH.lock``, through the
``filelock`` package), held for as long as its writer lives, so the next run of the same output can tell
what a killed run left (its lock is free: deleted) from what a live run is writing (held: left alone).

A pid in the name could not tell (pids are reused, and a render farm's runs live on other machines), and
a lock on the folder itself is POSIX-only: Windows cannot lock a folder. ``filelock`` takes an OS lock on
the lock file (fcntl on POSIX, msvcrt on Windows); where neither exists it falls back to the file's
existence, and then a killed run's leftovers are kept rather than a live run's removed.

The writer takes the lock BEFORE it creates its staging path, so a staging path that exists and whose
lock can be taken has no live writer.
"""
from __future__ import annotations

import os
import re
import secrets
from typing import Callable

from filelock import FileLock, Timeout

SUFFIX = ".lock"


def claim(make: Callable[[str], None], name: Callable[[str], str], tries: int = 10) -> tuple[str, FileLock]:
    """Lock ``name(token)`` (8 random hex digits), then ``make`` it; (path, held lock). ``make`` raises
    FileExistsError when the path is taken (the next token is tried) or OSError (raised)."""
    for _ in range(tries):
        path = name(secrets.token_hex(4))
        lock = FileLock(path + SUFFIX, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue
        try:
            make(path)
        except FileExistsError:
            release(lock)
            continue
        except BaseException:
            release(lock)
            raise
        return path, lock
    raise FileExistsError(f"no free name for {name('XXXXXXXX')}")


def release(lock: FileLock | None) -> None:
    """Let go of a writer's lock and delete its lock file; never raises."""
    if lock is None:
        return
    try:
        lock.release(force=True)
    except Exception:
        pass
    try:
        os.remove(lock.lock_file)
    except OSError:
        pass


def remove_abandoned(directory: str, pattern: re.Pattern, remove: Callable[[str], None]) -> None:
    """For each entry of ``directory`` whose name matches ``pattern`` and whose lock is free (its writer
    is dead): ``remove(path)`` while holding the lock, then the lock file. A lock file whose path is gone
    goes too. Entries in use are left alone; errors are ignored (another run may be cleaning up)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    paths = {os.path.join(directory, n) for n in names if pattern.fullmatch(n)}
    paths |= {os.path.join(directory, n[: -len(SUFFIX)]) for n in names
              if n.endswith(SUFFIX) and pattern.fullmatch(n[: -len(SUFFIX)])}
    for path in sorted(paths):
        lock = FileLock(path + SUFFIX, timeout=0)
        try:
            lock.acquire()
        except (Timeout, OSError):
            continue
        try:
            if os.path.lexists(path):
                remove(path)
        except OSError:
            pass
        finally:
            release(lock)
