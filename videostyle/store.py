"""The work folder: it owns resume.

Layout of ``OUTPUT.videostyle/``::

    manifest.json              settings and input identity of the run that created it
    frames/p00/000123.png      finished stylized frame 123 of pass 0 (16-bit PNG: exactly the state the
    frames/p00/000123.json     next frame starts from) and its report record; the .json is written last,
                               so a frame counts as done only when both are complete

Every file is written under a temporary name and renamed, so a kill at any moment leaves either a whole
frame or none. Drivers ask ``store.load(index)`` whether a frame is done; they never look at paths.
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

from .errors import ConfigError, InputError, OutputError
from .frames import read_image16, write_png

FORMAT = 2  # 2: 16-bit frames (1 held 8-bit ones)


def default_work_dir(output: str) -> str:
    """``OUTPUT.videostyle`` beside the output; a pattern's number field becomes '#'."""
    name = re.sub(r"%0?\d*d", "#", output.rstrip("/\\"))
    return name + ".videostyle"


def file_identity(paths: list[str]) -> str:
    """Cheap fingerprint of input files: names, sizes and modification times (no content read)."""
    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def content_identity(path: str) -> str:
    """Hash of a (small) file's bytes: a style image edited in place is a different style."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


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
        path = os.path.join(root, "manifest.json")
        manifest = {"format": FORMAT, **manifest}
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
                shutil.rmtree(os.path.join(root, "frames"), ignore_errors=True)
        try:
            os.makedirs(root, exist_ok=True)
            _atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True))
        except OSError as exc:
            raise OutputError(f"cannot write work folder {root}: {exc.strerror or exc}") from None
        return store

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
            write_png(base + ".png", image)
            _atomic_write_text(base + ".json", json.dumps(record))
        except (OSError, OutputError) as exc:
            raise work_folder_error(self.root, exc) from None

    def count(self, pass_: int = 0) -> int:
        d = os.path.join(self.root, "frames", f"p{pass_:02d}")
        return sum(1 for n in os.listdir(d) if n.endswith(".json")) if os.path.isdir(d) else 0

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
