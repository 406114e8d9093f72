"""Every path a run reads and writes, checked against every other before any work starts.

People point options at the wrong place (``--report`` at the input, ``--work-dir`` at their home folder,
the output into the folder of the style images). A render tool must never lose a file because of it, so a
clash is a one-line error before anything is created. Paths are compared after resolving symlinks
(``os.path.realpath``), and files that exist are also compared by device and inode
(``os.path.samefile``), so a symlink or a hard link to the input is the input.

What counts as a clash:
- a file we write is a file we read, or another file we write;
- a frame-sequence output (folder or pattern) would put, or replace, frames of its pattern where a file
  we read lies (a style image named ``000001.png`` in the output folder);
- a folder we read (frame folder, flow folder) is a folder we write frames into;
- the work folder is or contains anything read or written here, or lies inside an output frame folder
  (see ``check_work_dir``). It may lie inside a folder that is read (the folder of the input frames, a
  preview movie's work folder beside its plates): only the files directly in a read folder are read, so
  a work folder there holds none of them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import ConfigError

_NUMBER_FIELD = re.compile(r"%(0\d+)?d")


def real(path: str) -> str:
    """Absolute path with symlinks resolved (also for a path that does not exist yet)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _inode(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None for one that does not exist (or cannot be read)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_file(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name one file: the same real path, or (both existing) the same device and
    inode, as a hard link is. Writing ``a`` by a rename would only break such a link by luck."""
    if real(a) == real(b):
        return True
    ia = _inode(a)
    return ia is not None and ia == _inode(b)


def is_within(path: str, folder: str) -> bool:
    """True when real ``path`` is ``folder`` or lies below it."""
    p, f = real(path), real(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def _pattern_regex(name: str) -> str:
    """Regular expression of the file names a printf pattern (``sh.%04d.exr``) produces."""
    m = _NUMBER_FIELD.search(name)
    return re.escape(name[:m.start()]) + r"\d+" + re.escape(name[m.end():]) if m else re.escape(name)


@dataclass(frozen=True)
class Written:
    """One thing a run writes: a file, or files named by a pattern in a folder."""
    what: str                   # how the user named it: "output", "--compare", "--report", …
    path: str                   # a file, or the folder of a set of files
    pattern: str | None = None  # a set of files: what to show the user (``%06d.png``)
    names: str | None = None    # a set of files: regular expression of their names

    def takes(self, file: str) -> bool:
        """Whether writing this may create or replace ``file`` (by name, or an existing file of the
        pattern that is ``file`` through a hard link)."""
        if self.pattern is None:
            return same_file(file, self.path)
        if (os.path.dirname(real(file)) == real(self.path)
                and re.fullmatch(self.names, os.path.basename(file)) is not None):
            return True
        inode = _inode(file)
        return inode is not None and inode in self._existing

    @cached_property
    def _existing(self) -> frozenset:
        """(device, inode) of the files of the pattern that exist now (listed once, not per file read)."""
        try:
            names = [e.path for e in os.scandir(self.path) if re.fullmatch(self.names, e.name)]
        except OSError:
            return frozenset()
        return frozenset(filter(None, map(_inode, names)))


def written_file(what: str, path: str) -> Written:
    return Written(what, path)


def written_sequence(what: str, pattern_path: str) -> Written:
    """A frame sequence given as a pattern path (``out/%04d.png``; a folder is ``out/%06d.png``)."""
    name = os.path.basename(pattern_path)
    return Written(what, os.path.dirname(os.path.abspath(pattern_path)) or ".", name, _pattern_regex(name))


def written_flows(what: str, folder: str) -> Written:
    """The files ``videostyle flow`` writes into ``folder`` (artistic-videos' names)."""
    return Written(what, folder, "forward_*_*.flo, backward_*_*.flo, reliable_*_*.pgm",
                   r"(forward|backward)_\d+_\d+\.flo|reliable_\d+_\d+\.pgm")


@dataclass
class PathPlan:
    """The files a run reads (``reads``: files; ``read_dirs``: folders whose files it reads) and writes."""
    reads: list[tuple[str, str]] = field(default_factory=list)       # (what, file)
    read_dirs: list[tuple[str, str]] = field(default_factory=list)   # (what, folder)
    writes: list[Written] = field(default_factory=list)

    def read(self, what: str, path: str | None) -> None:
        if path:
            (self.read_dirs if os.path.isdir(path) else self.reads).append((what, path))

    def read_files(self, what: str, files: list[str]) -> None:
        self.reads.extend((what, f) for f in files)

    def write(self, item: Written | None) -> None:
        if item is not None:
            self.writes.append(item)

    def check(self) -> None:
        """ConfigError (one line) on the first clash."""
        for w in self.writes:
            for what, f in self.reads:
                if w.takes(f):
                    raise ConfigError(f"{w.what} {shown(w)} would overwrite the {what} {f}; choose another name")
            for what, d in self.read_dirs:
                # Files written beside the frames of an input folder are not read back; frames are.
                if w.pattern is not None and real(w.path) == real(d):
                    folder = what if what.endswith("folder") else f"{what} folder"
                    raise ConfigError(f"{w.what} {shown(w)} would write into the {folder} {d}; "
                                      "choose another folder")
        for i, a in enumerate(self.writes):
            for b in self.writes[i + 1:]:
                if _same_target(a, b):
                    raise ConfigError(f"{a.what} and {b.what} name the same place ({shown(a)}); "
                                      "give each its own name")

    def check_work_dir(self, work_dir: str) -> None:
        """The work folder is the one place the run creates and later cleans up: it must not be or contain
        anything the run reads or writes, nor lie inside an output frame folder. It may lie inside a folder
        that is read (``plates/out.mp4.videostyle`` beside ``plates/in.%04d.png``): only the files
        directly in that folder are read, and the work folder holds none of them."""
        named = [(what, p) for what, p in self.reads] + [(what, d) for what, d in self.read_dirs]
        for what, p in named:
            if is_within(p, work_dir):
                raise ConfigError(f"--work-dir {work_dir} contains the {what} {p}; choose an empty or new folder")
        for w in self.writes:
            if w.pattern is not None and is_within(work_dir, w.path):
                raise ConfigError(f"--work-dir {work_dir} lies inside the {w.what} frame folder {w.path}; "
                                  "choose another folder")
            if is_within(w.path, work_dir):
                raise ConfigError(f"--work-dir {work_dir} would contain the {w.what} {shown(w)}; "
                                  "choose another folder")


def shown(w: Written) -> str:
    return os.path.join(w.path, w.pattern) if w.pattern else w.path


def _same_target(a: Written, b: Written) -> bool:
    if a.pattern is None and b.pattern is None:
        return real(a.path) == real(b.path)
    if a.pattern is not None and b.pattern is not None:
        return real(a.path) == real(b.path)  # two sequences in one folder: their patterns may overlap
    seq, one = (a, b) if a.pattern is not None else (b, a)
    return seq.takes(one.path) or real(one.path) == real(seq.path)
