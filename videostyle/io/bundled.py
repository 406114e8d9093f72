"""The files shipped with videostyle (the top-level ``assets/`` folder): a short clip and public-domain
paintings, so that ``videostyle demo`` and ``--style starry_night`` work without any file of the user's.

A wheel installs ``assets/`` as ``videostyle/assets/`` (pyproject maps it); a source checkout or an
editable install finds it beside the package. Sources and licences: ``assets/README.md``.
"""
from __future__ import annotations

import os

from ..errors import InputError

CLIP = "astronaut.mp4"
DEFAULT_STYLE = "starry_night"
_PAINTING_EXTENSIONS = (".jpg", ".jpeg", ".png")


def assets_dir() -> str:
    """The folder holding the bundled files; InputError if the installation lacks them."""
    # videostyle/io/bundled.py -> videostyle/: installed, the files are videostyle/assets/; in a source
    # checkout (editable install) they are the top-level assets/ beside the package.
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (os.path.join(package, "assets"), os.path.join(os.path.dirname(package), "assets")):
        if os.path.isfile(os.path.join(folder, CLIP)):
            return folder
    raise InputError("videostyle's bundled assets are missing from this installation; reinstall videostyle")


def clip_path() -> str:
    """The bundled demo clip (H.264 with an AAC audio track)."""
    return os.path.join(assets_dir(), CLIP)


def paintings() -> dict[str, str]:
    """Bundled paintings by name (the file's stem, e.g. ``starry_night``) → path, sorted by name."""
    folder = assets_dir()
    found = {os.path.splitext(f)[0]: os.path.join(folder, f) for f in os.listdir(folder)
             if f.lower().endswith(_PAINTING_EXTENSIONS)}
    return dict(sorted(found.items()))


def resolve_style(name_or_path: str) -> str:
    """``--style`` value → image path. An existing file, or anything with a path separator, is a path and
    returned unchanged (so a user's file always wins); otherwise a bundled painting's name (``starry_night``,
    case-insensitive, extension optional) gives that file; anything else is returned unchanged, for the
    reader to report as a missing file."""
    if os.path.exists(name_or_path) or os.sep in name_or_path or (os.altsep and os.altsep in name_or_path):
        return name_or_path
    stem = os.path.splitext(name_or_path)[0].lower()
    try:
        return paintings().get(stem, name_or_path)
    except InputError:  # no assets in this installation: the name can only be a (missing) file
        return name_or_path


def check_style(path: str) -> None:
    """InputError (one line) when a resolved ``--style`` names no file: a name that is not a bundled
    painting gets the list of those (a typo of ``starry_night`` is the usual cause)."""
    if os.path.exists(path):
        return
    named = os.sep not in path and not (os.altsep and os.altsep in path)
    try:
        names = ", ".join(sorted(paintings())) if named else ""
    except InputError:
        names = ""
    hint = f"; the bundled paintings are {names} (videostyle styles)" if names else ""
    raise InputError(f"style image {path} does not exist{hint}")
