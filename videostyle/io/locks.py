"""Which staging paths belong to a live writer: a lock FILE beside each (``PATH.lock``, through the
``filelock`` package), held for as long as its writer lives, so the next run of the same output can tell
what a killed run left (its lock is free: deleted) from what a live run is writing (held: left alone).

A pid in the name could not tell (pids are reused, and a render farm's runs live on other machines), and
a lock on the folder itself is POSIX-only: Windows cannot lock a folder. ``filelock`` takes an OS lock on
the lock file (fcntl on POSIX, msvcrt on Windows); where neither exists it falls back to the file's
existence, and then a killed run's leftovers are kept rather than a live run's removed.

The flock scheme this replaces had a writer hold a SHARED lock on its staging path and a cleanup take an
EXCLUSIVE one. Each staging path has one writer only (its name holds 8 random hex digits), so "shared"
never had a second holder: an exclusive lock per path, held by the writer, tried without waiting by the
cleanup, says the same thing. Why it is safe:

- The writer takes the lock BEFORE it creates its staging path, and lets go only after the path is gone
  (renamed into place or deleted). So a staging path that exists and whose lock a cleanup can take has
  no live writer, and a cleanup never waits.
- Nobody deletes a lock file without holding its lock, and the holder deletes it BEFORE unlocking
  (POSIX; Windows cannot delete an open file, so there it goes after, and no other process can hold a
  deleted one). Deleting after unlocking would let a newcomer lock the old file in between, keep a lock
  on a file that no longer has a name, and let a third party lock a fresh file under the same name.
- A writer that lost such a race anyway (it opened the lock file, a cleanup locked and deleted it, then
  the writer's lock went through on the deleted file) sees its lock file gone right after locking, and
  tries another name: filelock checks this too (``st_nlink``), this check keeps it for older versions.
"""
from __future__ import annotations

import os
import re
import secrets
from typing import Callable

from filelock import FileLock, Timeout

SUFFIX = ".lock"


def _acquire(path: str) -> FileLock | None:
    """The lock of ``path`` if it is free now and its file still has its name; None otherwise (a lock
    file that cannot be made included)."""
    try:
        return hold(path)
    except OSError:
        return None


def claim(make: Callable[[str], None], name: Callable[[str], str], tries: int = 10) -> tuple[str, FileLock]:
    """Lock ``name(token)`` (8 random hex digits), then ``make`` it; (path, held lock). ``make`` raises
    FileExistsError when the path is taken (the next token is tried) or OSError (raised)."""
    for _ in range(tries):
        path = name(secrets.token_hex(4))
        lock = _acquire(path)
        if lock is None:
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


def hold(path: str) -> FileLock | None:
    """The lock of ``path`` (its file ``PATH.lock``) if no live process holds it; None if one does. Let go
    with ``release``, which deletes the lock file first. OSError when the lock file cannot be made (a
    read-only folder): that is not "in use", and the caller says what it is."""
    lock = FileLock(path + SUFFIX, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return None
    if not os.path.exists(lock.lock_file):  # deleted by its holder between our open and our lock
        _unlock(lock)  # not release(): the name may already be another holder's
        return None
    return lock


def _unlock(lock: FileLock) -> None:
    try:
        lock.release(force=True)
    except Exception:
        pass


def release(lock: FileLock | None) -> None:
    """Delete a held lock's file, then let go of the lock (see the module docstring); never raises."""
    if lock is None:
        return
    try:
        os.remove(lock.lock_file)  # while held
        removed = True
    except OSError:
        removed = False  # Windows: an open file cannot be deleted
    _unlock(lock)
    if not removed:
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
        lock = _acquire(path)
        if lock is None:
            continue
        try:
            if os.path.lexists(path):
                remove(path)
        except OSError:
            pass
        finally:
            release(lock)
