"""The work folder: it owns resume.

Layout of ``OUTPUT.videostyle/``::

    .videostyle-work           the mark: created exclusively (O_EXCL) when the store makes the folder, or
                               takes a new empty one; a folder without it is never resumed nor emptied
    .videostyle-written        the ledger: one line for every file and folder the store (and its flow
                               cache) created, written before the thing itself
    manifest.json              settings and input identity of the run that created it
    frames/p00/000123.png      finished stylized frame 123 of pass 0 (16-bit PNG: exactly the state the
    frames/p00/000123.json     next frame starts from) and its report record; the .json is written last,
                               so a frame counts as done only when both are complete
    flows/                     optical flow cache (flowsource.EstimatedFlows)
    .videostyle-run.lock       held (an OS lock, io/locks.py) by the run using the folder, for as long as
                               it lives: a second run of the same output is refused instead of writing
                               the same frames and deleting the folder under the first

Every file is written under a temporary name, flushed to the disk and renamed (atomic.write_atomic), so a
kill or a power loss at any moment leaves either a whole frame or none. Drivers ask ``store.load(index)``
whether a frame is done; they never look at paths.

The folder is the user's disk. A ``manifest.json`` with the right keys is no proof of ownership (anyone
can write one), so ``open`` accepts only a new or empty folder or one holding our mark, and ``remove`` and
``--restart`` delete only the files and folders named in the ledger (a folder only once it is empty),
never a subfolder by its name: a file a person put into ``frames/`` stays. A folder from a release before
the mark is refused with a line saying how to remove it by hand.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import secrets
import threading
from typing import Any

import numpy as np

from ..io import locks
from ..io.atomic import write_atomic, write_json
from ..errors import ConfigError, InputError, OutputError
from ..io.frames import encode_image, from_uint16, read_image16, to_uint16

FORMAT = 3  # 3: input identity by content; 2: 16-bit frames (1 held 8-bit ones)
MANIFEST = "manifest.json"
MARK = ".videostyle-work"
LEDGER = ".videostyle-written"
RUN = ".videostyle-run"  # its lock file is RUN + locks.SUFFIX
_NUMBER_FIELD = re.compile(r"%0?\d*d")


def default_work_dir(output: str) -> str:
    """``OUTPUT.videostyle`` beside the output. A frame pattern's folder gets it beside that folder, named
    with the pattern ('#' for the number field), so the work folder never lies among the frames."""
    out = output.rstrip("/\\")
    if _NUMBER_FIELD.search(os.path.basename(out)):
        folder, name = os.path.split(os.path.abspath(out))
        return f"{folder}.{_NUMBER_FIELD.sub('#', name)}.videostyle"
    return out + ".videostyle"


_HEAD_TAIL = 1 << 20   # bytes hashed at each end of a large file
_WHOLE = 8 << 20       # files up to this size are hashed whole
_identity_cache: dict[tuple, str] = {}


def _file_digest(path: str) -> str:
    """Size and content hash of one file: whole for files up to 8 MiB, else its first and last MiB (a
    re-encoded or replaced video changes there; reading a 10 GB master in full at every start would not
    pay). Cached within the process per (path, size, mtime, ctime, inode): ctime changes with every
    write and cannot be set back."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _identity_cache:
        h = hashlib.sha256(str(st.st_size).encode())
        with open(path, "rb") as f:
            if st.st_size <= _WHOLE:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            else:
                h.update(f.read(_HEAD_TAIL))
                f.seek(-_HEAD_TAIL, os.SEEK_END)
                h.update(f.read(_HEAD_TAIL))
        _identity_cache[key] = h.hexdigest()[:16]
    return _identity_cache[key]


def file_identity(paths: list[str]) -> str:
    """Fingerprint of input files by content (see ``_file_digest``) and order. Names and times are left
    out: a clip copied to a render node's shared disk is the same clip; a clip changed in place is not."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{_file_digest(p)}\n".encode())
    return h.hexdigest()[:16]


def folder_identity(folder: str) -> str:
    """Fingerprint of a folder's files (names and contents), e.g. a --flow-dir."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith(".")
                   and os.path.isfile(os.path.join(folder, n)))
    h = hashlib.sha256()
    for n in names:
        h.update(f"{n}|{_file_digest(os.path.join(folder, n))}\n".encode())
    return h.hexdigest()[:16]


def content_identity(path: str) -> str:
    """Hash of a file's bytes: a style image or weights file edited in place is a different one."""
    return _file_digest(path)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def work_folder_error(root: str, exc: Exception) -> OutputError:
    """A failed write into the work folder (typically a full disk), worded for the person rerunning."""
    why = str(exc) if isinstance(exc, OutputError) else f"cannot write in {root}: {exc.strerror or exc}"
    return OutputError(f"{why} (the work folder {root} keeps the finished frames; free space and rerun "
                       "the same command to continue)")


def note_written(root: str, *names: str) -> None:
    """Add ``names`` (paths relative to ``root``) to the ledger before they are created, so whatever a
    kill leaves behind is still known as ours. One append per call: writers in other processes (Ray
    workers) add their own lines without a lock."""
    lines = "".join(f"{n.replace(os.sep, '/')}\n" for n in names)
    fd = os.open(os.path.join(root, LEDGER), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


def make_dirs(root: str, name: str) -> str:
    """``os.makedirs(root/name)``, recording each folder it creates below ``root``; returns the full path."""
    os.makedirs(root, exist_ok=True)
    path, made = root, []
    for part in name.replace("/", os.sep).split(os.sep):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            made.append(os.path.relpath(path, root))
    if made:
        note_written(root, *made)
        os.makedirs(os.path.join(root, name), exist_ok=True)
    return os.path.join(root, name)


def _recorded(root: str) -> list[str]:
    """The ledger's entries that name a place inside ``root`` (a damaged or edited line never reaches
    outside it, through '..' or a folder replaced by a link), each once, in the order written."""
    try:
        with open(os.path.join(root, LEDGER), encoding="utf-8", errors="replace") as f:
            names = list(dict.fromkeys(line.rstrip("\n") for line in f))
    except OSError:
        return []
    top = os.path.realpath(root)
    inside = []
    for n in names:
        path = os.path.join(root, n)
        parent = os.path.realpath(os.path.dirname(path))
        if n and not os.path.isabs(n) and ".." not in n.split("/") and (parent + os.sep).startswith(top + os.sep):
            inside.append(n)
    return inside


def _delete_recorded(root: str, keep: tuple[str, ...] = ()) -> None:
    """Delete what the ledger names (files with the temporary files a kill left beside them; then
    folders, deepest first, each only if empty), except ``keep``; the ledger is rewritten to what stays."""
    names = _recorded(root)
    for n in names:
        path = os.path.join(root, n)
        if n in keep or (os.path.isdir(path) and not os.path.islink(path)):
            continue
        folder, base = os.path.split(path)
        # write_atomic's and flowio's temporary names (a kill between creating and renaming leaves one).
        temporary = [p for kind in ("tmp", "partial")
                     for p in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.{kind}-*"))]
        for stale in [path] + temporary:
            with contextlib.suppress(OSError):
                os.remove(stale)
    for n in sorted(names, key=lambda n: n.count("/"), reverse=True):
        path = os.path.join(root, n)
        if n not in keep and os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.rmdir(path)
    left = [n for n in names if os.path.lexists(os.path.join(root, n))]
    write_atomic(os.path.join(root, LEDGER), "".join(f"{n}\n" for n in left), durable=False)


class WorkStore:
    """Finished frames keyed by (pass, index), plus the manifest they were made under."""

    def __init__(self, root: str):
        self.root = root
        self._held: str | None = None  # its key in _HELD while this store holds the folder (open)

    @classmethod
    def open(cls, root: str, manifest: dict, restart: bool = False) -> "WorkStore":
        """Create the folder, or reuse it when its manifest matches ``manifest``. A mismatch is refused,
        naming what changed, unless ``restart`` (then the old frames are deleted). The store holds the
        folder until ``close`` (or ``remove``): another run opening it meanwhile is refused."""
        store = cls(root)
        path = os.path.join(root, MANIFEST)
        manifest = {"format": FORMAT, **manifest}
        check_work_folder(root)
        try:
            os.makedirs(root, exist_ok=True)
            _mark(root)
        except OSError as exc:
            raise OutputError(f"cannot write work folder {root}: {exc.strerror or exc}") from None
        store._held = _hold(root)
        try:
            store._read_or_reset(path, manifest, restart)
        except BaseException:
            store.close()
            raise
        return store

    def _read_or_reset(self, path: str, manifest: dict, restart: bool) -> None:
        root = self.root
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    old = json.load(f)
            except (OSError, ValueError):
                old = {}
            changed = self._changes(old, manifest)
            if changed and not restart:
                raise ConfigError(f"{root} holds an interrupted run with other settings ({changed}); "
                                  "rerun with --restart to discard it, or use another --work-dir")
            if changed or restart:
                # Frames and cached flows belong to the old input and settings: both go.
                _delete_recorded(root, keep=(MANIFEST,))
        try:
            note_written(root, MANIFEST)
            write_json(path, manifest)
        except OSError as exc:
            raise OutputError(f"cannot write work folder {root}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Let go of the folder (a later run may open it); the files stay."""
        if self._held is not None:
            _let_go(self._held)
        self._held = None

    @classmethod
    def existing(cls, root: str) -> tuple["WorkStore", dict]:
        """A kept work folder and its manifest, for reading (``videostyle assemble``); refused while a run
        is still writing it."""
        if in_use(root):
            raise InputError(f"work folder {root} is in use by a videostyle run that is still rendering; "
                             "assemble it once that run has stopped")
        try:
            with open(os.path.join(root, MANIFEST)) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or not {"format", "config", "input"} <= set(manifest):
            raise InputError(f"{root} is not a videostyle work folder (no manifest.json of ours)")
        if manifest["format"] != FORMAT:
            raise InputError(f"{root} was made by another version of videostyle (work folder format "
                             f"{manifest['format']}, this one reads {FORMAT})")
        return cls(root), manifest

    def numbers(self, pass_: int = 0) -> list[int]:
        """Sorted absolute numbers of the finished frames of ``pass_``."""
        d = os.path.join(self.root, "frames", f"p{pass_:02d}")
        if not os.path.isdir(d):
            return []
        return sorted(int(n[:-5]) for n in os.listdir(d) if n.endswith(".json") and n[:-5].isdigit())

    @staticmethod
    def _changes(old: dict, new: dict) -> str:
        a, b = _flatten(old), _flatten(json.loads(json.dumps(new)))
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        shown = [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in keys[:3]]
        return "; ".join(shown) + (f"; and {len(keys) - 3} more" if len(keys) > 3 else "")

    def _base(self, index: int, pass_: int) -> str:
        return os.path.join(self.root, "frames", f"p{pass_:02d}", f"{index:06d}")

    def load(self, index: int, pass_: int = 0) -> tuple[np.ndarray, dict] | None:
        """(stylized RGB uint16, report record) of a finished frame, or None."""
        base = self._base(index, pass_)
        try:
            with open(base + ".json") as f:
                record = json.load(f)
            return read_image16(base + ".png"), record
        except (OSError, ValueError, InputError):  # missing, or damaged by a full disk: redo the frame
            return None

    def save(self, index: int, image: np.ndarray, record: dict, pass_: int = 0) -> None:
        """Keep a finished frame (H×W×3 uint16 RGB) and its record."""
        base = self._base(index, pass_)
        try:
            make_dirs(self.root, os.path.relpath(os.path.dirname(base), self.root))
            name = os.path.relpath(base, self.root)
            note_written(self.root, name + ".png", name + ".json")
            write_atomic(base + ".png", encode_image(image, ".png"))
            write_json(base + ".json", record, indent=None)
        except (OSError, OutputError) as exc:
            raise work_folder_error(self.root, exc) from None

    def keep(self, index: int, image: np.ndarray, record: dict, pass_: int = 0) -> np.ndarray:
        """Keep an optimizer result (H×W×3 float 0–255) at the store's 16-bit precision and return it as
        it is kept: the state the next frame starts from, identical after a resume. A non-finite value
        is refused: rounding would turn it into black that every later frame inherits."""
        if not np.isfinite(image).all():
            raise InputError(f"frame {index} came out of the optimizer with NaN or infinite values "
                             "(check --flow-dir files and the loss weights)")
        kept = to_uint16(image)
        self.save(index, kept, record, pass_)
        return from_uint16(kept)

    def count(self, pass_: int = 0) -> int:
        d = os.path.join(self.root, "frames", f"p{pass_:02d}")
        return sum(1 for n in os.listdir(d) if n.endswith(".json")) if os.path.isdir(d) else 0

    def remove(self) -> None:
        """Delete what the ledger names, then the ledger and the mark, then the folder if that left it
        empty; anything else in it (a file the user put there, even inside ``frames/``) stays, and so
        does the folder."""
        with contextlib.suppress(OSError):
            _delete_recorded(self.root)
        for name in (LEDGER, MARK):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(self.root, name))
        self.close()  # deletes the lock file, so the folder can go
        with contextlib.suppress(OSError):
            os.rmdir(self.root)


# The work folders this process holds: real path → [lock, stores open on it, the thread holding it]. The
# lock keeps other processes out. The thread that holds a folder may open it again (a script or a test
# reopening a store, the Python API after a failure it caught); another thread of this process is refused
# as another process is (a server rendering jobs in threads, given one output twice). The lock goes when
# the last store on it closes.
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


def _in_use(root: str) -> InputError:
    return InputError(f"work folder {root} is in use by another videostyle run (this output is being rendered "
                      "now); wait for it to finish, or give this run another --work-dir. If no run is using "
                      f"it, delete {os.path.join(root, RUN + locks.SUFFIX)}")


def _hold(root: str) -> str:
    """The run's hold on its work folder (its key in _HELD); InputError (one line) while another live
    process, or another thread of this one, holds it."""
    key = os.path.realpath(root)
    with _HELD_GUARD:
        entry = _HELD.get(key)
        if entry is not None:
            if entry[2] != threading.get_ident():
                raise _in_use(root)
            entry[1] += 1
            return key
        try:
            lock = locks.hold(os.path.join(root, RUN))
        except OSError as exc:
            raise OutputError(f"cannot write work folder {root}: {exc.strerror or exc}") from None
        if lock is None:
            raise _in_use(root)
        _HELD[key] = [lock, 1, threading.get_ident()]
    return key


def _let_go(key: str) -> None:
    with _HELD_GUARD:
        entry = _HELD.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _HELD[key]
            locks.release(entry[0])  # deletes the lock file while held, then unlocks


def in_use(root: str) -> bool:
    """True while a live run (another process, or a store of this one still open) holds ``root``."""
    if os.path.realpath(root) in _HELD:
        return True
    if not os.path.exists(os.path.join(root, RUN + locks.SUFFIX)):
        return False
    try:
        lock = locks.hold(os.path.join(root, RUN))
    except OSError:  # a folder we cannot lock in (read-only): no run can be writing it
        return False
    locks.release(lock)
    return lock is None


def _mark(root: str) -> None:
    """Put our mark into a folder that check_work_folder found new or empty (a folder holding the mark
    already is ours). O_EXCL: two runs starting on one new folder cannot both take it."""
    mark = os.path.join(root, MARK)
    if os.path.isfile(mark):
        return
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "w") as f:
        f.write(f"videostyle work folder {secrets.token_hex(8)}\n"
                "Made by videostyle; its ledger (.videostyle-written) names what it may delete.\n")


def check_work_folder(root: str) -> None:
    """Refuse a folder that exists and is neither empty nor marked as ours: cleaning up after the run
    must never touch somebody else's files. A folder with a manifest of ours but no mark (an earlier
    release made it, or a person wrote one) is refused too, and never emptied."""
    if not os.path.exists(root):
        return
    if not os.path.isdir(root):
        raise ConfigError(f"--work-dir {root} is a file, not a folder")
    entries = os.listdir(root)
    if not entries or os.path.isfile(os.path.join(root, MARK)) or entries == [RUN + locks.SUFFIX]:
        return
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            manifest = json.load(f)
        looks_ours = isinstance(manifest, dict) and {"format", "config"} <= set(manifest)
    except (OSError, ValueError):
        looks_ours = False
    if looks_ours:
        raise ConfigError(f"--work-dir {root} has a videostyle manifest but not the mark ({MARK}) this "
                          "release puts into its work folders, so it is never emptied: if it is an old "
                          f"work folder, look inside and remove it by hand (rm -r {root}), or use another "
                          "--work-dir")
    raise ConfigError(f"--work-dir {root} already exists and is not a videostyle work folder; "
                      "give a new or empty folder")
