"""The work folder: it owns resume.

Layout of ``OUTPUT.videostyle/``::

    manifest.json              settings and input identity of the run that created it
    frames/p00/000123.png      finished stylized frame 123 of pass 0 (16-bit PNG: exactly the state the
    frames/p00/000123.json     next frame starts from) and its report record; the .json is written last,
                               so a frame counts as done only when both are complete
    flows/                     optical flow cache (flowsource.EstimatedFlows)

Every file is written under a temporary name, flushed to the disk and renamed (atomic.write_atomic), so a
kill or a power loss at any moment leaves either a whole frame or none. Drivers ask ``store.load(index)``
whether a frame is done; they never look at paths.

The folder is the user's disk: ``open`` accepts only a new or empty folder or one holding our manifest,
and ``remove`` deletes only what this module creates (manifest, frames/, flows/), then the folder if it
is empty.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from typing import Any

import numpy as np

from .atomic import write_atomic, write_json
from .errors import ConfigError, InputError, OutputError
from .frames import encode_image, from_uint16, read_image16, to_uint16

FORMAT = 3  # 3: input identity by content; 2: 16-bit frames (1 held 8-bit ones)
MANIFEST = "manifest.json"
_NUMBER_FIELD = re.compile(r"%0?\d*d")
_OURS = (MANIFEST, "frames", "flows")  # everything the store (and the flow cache) creates in the folder


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


class WorkStore:
    """Finished frames keyed by (pass, index), plus the manifest they were made under."""

    def __init__(self, root: str):
        self.root = root

    @classmethod
    def open(cls, root: str, manifest: dict, restart: bool = False) -> "WorkStore":
        """Create the folder, or reuse it when its manifest matches ``manifest``. A mismatch is refused,
        naming what changed, unless ``restart`` (then the old frames are deleted)."""
        store = cls(root)
        path = os.path.join(root, MANIFEST)
        manifest = {"format": FORMAT, **manifest}
        check_work_folder(root)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    old = json.load(f)
            except (OSError, ValueError):
                old = {}
            changed = store._changes(old, manifest)
            if changed and not restart:
                raise ConfigError(f"{root} holds an interrupted run with other settings ({changed}); "
                                  "rerun with --restart to discard it, or use another --work-dir")
            if changed or restart:
                # Frames and cached flows belong to the old input and settings: both go.
                for sub in ("frames", "flows"):
                    shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        try:
            os.makedirs(root, exist_ok=True)
            write_json(path, manifest)
        except OSError as exc:
            raise OutputError(f"cannot write work folder {root}: {exc.strerror or exc}") from None
        return store

    @classmethod
    def existing(cls, root: str) -> tuple["WorkStore", dict]:
        """A kept work folder and its manifest, for reading (``videostyle assemble``)."""
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
            os.makedirs(os.path.dirname(base), exist_ok=True)
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
        """Delete what the store created, then the folder if that left it empty; anything else in it
        (a file the user put there) stays, and so does the folder."""
        for name in _OURS:
            path = os.path.join(self.root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.root)


def check_work_folder(root: str) -> None:
    """Refuse a folder that exists and is neither empty nor a work folder (by its manifest): cleaning up
    after the run must never touch somebody else's files."""
    if not os.path.exists(root):
        return
    if not os.path.isdir(root):
        raise ConfigError(f"--work-dir {root} is a file, not a folder")
    entries = [n for n in os.listdir(root) if not n.startswith(f".{MANIFEST}.tmp-")]
    if not entries:
        return
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            manifest = json.load(f)
        ours = isinstance(manifest, dict) and {"format", "config"} <= set(manifest)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise ConfigError(f"--work-dir {root} already exists and is not a videostyle work folder; "
                          "give a new or empty folder")
