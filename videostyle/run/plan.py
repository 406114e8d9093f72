"""The plan of a shot: every fact of a run worked out once, before anything is rendered."""
from __future__ import annotations

import os

from ..io.frames import list_sequence


def input_files(input: str) -> list[str]:
    """The files of ``input`` whose identity a work folder's manifest holds: the video file, or every
    frame of the sequence (folder or printf pattern) in order."""
    return [input] if os.path.isfile(input) else [p for _, p in list_sequence(input)]
