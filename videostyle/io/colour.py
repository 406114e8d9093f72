"""Colour management: from a file's values to the picture the network sees, and back (OpenColorIO).

The network sees *display* values: sRGB-encoded Rec.709 in [0, 1] (stored ×255 in the pipeline), the
picture a painting is. A frame's values get there in two steps, and come back by the inverse:

    file values (input colour space) --OCIO--> linear anchor --view--> display
    display --view⁻¹--> linear anchor --OCIO--> file values (output colour space)

- The *linear anchor* is ``Linear Rec.709 (sRGB)`` in OCIO's built-in ACES studio config, or the
  ``scene_linear`` role of a config given by ``--ocio-config`` / ``$OCIO`` (its primaries are then taken
  as the network's).
- The *view* maps scene light onto display values (VIEWS). ``shoulder`` (the default for scene-linear and
  log colour spaces) is the plain sRGB curve up to linear 0.5, then a smooth roll-off that reaches 1.0
  only at infinite light: invertible, so a lamp at 20.0 comes back at 20.0, where the strokes put it. The
  picture below the shoulder is the one an sRGB conversion shows, so the style lands as on an 8-bit copy.
  ``reinhard`` is x/(1+x) over the whole range (flatter, more room for highlights); ``clip`` is the sRGB
  curve clipped to [0, 1] (display-referred spaces; not invertible above 1.0).
- Going back, the view's inverse is capped at the frame's own brightest value (at least 1.0): a stroke
  that paints a shadow pixel near white must not turn into a light brighter than anything in the plate.

Defaults keep what videostyle assumed before it had colour management: 8/16-bit images and videos are
sRGB display values (no conversion at all: the 8-bit path is bit for bit what it was), EXR is linear
Rec.709. Names are OCIO's, aliases included (``ACEScg``, ``lin_srgb``, ``sRGB - Texture``); an unknown
name is a ConfigError that lists the nearest ones. Library code: no printing.
"""
from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

VIEWS = ("shoulder", "reinhard", "clip")
BUILTIN = "ocio://studio-config-latest"
BUILTIN_LABEL = "OpenColorIO's built-in ACES studio config"
SRGB = "sRGB Encoded Rec.709 (sRGB)"  # the network's own space, in the built-in config
LINEAR = "Linear Rec.709 (sRGB)"
_SCENE_ENCODINGS = ("scene-linear", "log")
# HDR video (Rec.2100 PQ and HLG, as cameras and phones record it) is shown to the network as an SDR
# picture: its reference white (203 cd/m², ITU-R BT.2408) becomes SDR white (1.0 in OCIO's display
# spaces, 100 cd/m²) and the light above rolls off through the shoulder view, as an SDR grade of the shot
# would. Read as plain values, its signal looks washed out: (0, 160, 0) in SDR is (87, 143, 45) in HLG.
HDR_SPACES = {"pq": "Rec.2100-PQ - Display", "hlg": "Rec.2100-HLG - Display"}
HDR_REFERENCE_WHITE = 2.03
_KNEE = 0.5  # linear value where the shoulder leaves the sRGB curve (display 0.735)


# --------------------------------------------------------------------------- views (numpy, float64 inside)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1) on [0, 1]."""
    f = np.clip(linear, 0.0, 1.0)
    return np.where(f <= 0.0031308, 12.92 * f, 1.055 * np.power(f, 1 / 2.4) - 0.055)


def srgb_decode(display: np.ndarray) -> np.ndarray:
    f = np.clip(display, 0.0, 1.0)
    return np.where(f <= 0.04045, f / 12.92, np.power((f + 0.055) / 1.055, 2.4))


def view_forward(view: str, linear: np.ndarray) -> np.ndarray:
    """Display values in [0, 1] of scene-linear ``linear`` (negative light, outside any display, is 0)."""
    x = np.maximum(np.asarray(linear, np.float64), 0.0)
    if view == "shoulder":
        t = np.maximum(x - _KNEE, 0.0) / (1.0 - _KNEE)
        s = np.where(x <= _KNEE, x, _KNEE + (1.0 - _KNEE) * t / (1.0 + t))
    elif view == "reinhard":
        s = x / (1.0 + x)
    else:
        s = x
    return srgb_encode(s)


def view_inverse(view: str, display: np.ndarray, peak: float | None = None) -> np.ndarray:
    """Scene-linear values of ``display`` ([0, 1]); ``peak``: the largest value to give back (the frame's
    brightest light, at least 1.0), None for no cap (the view's own top)."""
    s = srgb_decode(np.asarray(display, np.float64))
    if view == "clip":
        return s
    top = 1.0 - 1e-9  # the shoulder and x/(1+x) reach 1.0 only at infinite light
    s = np.minimum(s, top)
    if view == "shoulder":
        u = np.maximum(s - _KNEE, 0.0) / (1.0 - _KNEE)
        x = np.where(s <= _KNEE, s, _KNEE + (1.0 - _KNEE) * u / (1.0 - u))
    else:
        x = s / (1.0 - s)
    if peak is not None:
        x = np.minimum(x, max(float(peak), 1.0))
    return x


# --------------------------------------------------------------------------- configs and names


@functools.lru_cache(maxsize=4)
def _load(source: str):
    import PyOpenColorIO as ocio  # only needed when a colour space is named or a plate is float

    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as e:  # OCIO raises its own Exception type for every config problem
        raise ConfigError(f"cannot load the OCIO config {source}: {str(e).splitlines()[0]}") from None


def config_source(ocio_config: str | None) -> str:
    """The config a run uses: ``--ocio-config``, else ``$OCIO``, else the built-in ACES studio config."""
    return ocio_config or os.environ.get("OCIO") or BUILTIN


def _label(source: str) -> str:
    return BUILTIN_LABEL if source == BUILTIN else source


def _names(config) -> list[str]:
    names = []
    for cs in config.getColorSpaces():
        names.append(cs.getName())
        names.extend(cs.getAliases())
    return names


def find_space(source: str, name: str, flag: str) -> str:
    """The canonical name of colour space ``name`` (or an alias or role) in the config ``source``;
    ConfigError naming the nearest names otherwise."""
    config = _load(source)
    cs = config.getColorSpace(name)
    if cs is not None:
        return cs.getName()
    names = _names(config)
    near = difflib.get_close_matches(name, names, n=4, cutoff=0.4) or \
        [n for n in names if name.lower() in n.lower()][:4]
    hint = f"; nearest: {', '.join(repr(n) for n in near)}" if near else ""
    raise ConfigError(f"{flag} {name!r} is not a colour space of {_label(source)}{hint}")


def linear_anchor(source: str) -> str:
    """The scene-linear space every conversion goes through (see the module docstring)."""
    if source == BUILTIN:
        return LINEAR
    config = _load(source)
    if not config.hasRole("scene_linear"):
        raise ConfigError(f"the OCIO config {source} has no scene_linear role; videostyle converts through it")
    return config.getColorSpace("scene_linear").getName()


def is_scene_referred(source: str, name: str) -> bool:
    """Whether a colour space holds scene light (scene-linear or log encoding), which gets a view."""
    cs = _load(source).getColorSpace(name)
    encoding = cs.getEncoding() if hasattr(cs, "getEncoding") else ""
    if encoding:
        return encoding in _SCENE_ENCODINGS
    return name == linear_anchor(source)  # a config without encodings: only its scene_linear is known linear


@functools.lru_cache(maxsize=16)
def _processor(source: str, src: str, dst: str):
    return _load(source).getProcessor(src, dst).getDefaultCPUProcessor()


def hdr_to_display(values: np.ndarray, transfer: str) -> np.ndarray:
    """Display values ×255 (float32, the network's sRGB) of Rec.2100 ``transfer`` ("pq" or "hlg") signal
    values in [0, 1] (BT.2020 primaries): see HDR_SPACES. Through the built-in config whatever
    --ocio-config says: the result is the network's own space."""
    return Transfer(BUILTIN, HDR_SPACES[transfer], "shoulder", HDR_REFERENCE_WHITE).to_display(values)[0]


def is_hdr_space(source: str, name: str) -> bool:
    """Whether a colour space is HDR video (OCIO's "hdr-video" encoding: Rec.2100 PQ and HLG)."""
    cs = _load(source).getColorSpace(name)
    return cs is not None and hasattr(cs, "getEncoding") and cs.getEncoding() == "hdr-video"


def convert(source: str, src: str, dst: str, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (H×W×3 float) from colour space ``src`` to ``dst`` of config ``source``; a new float32 array."""
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    if src != dst:
        _processor(source, src, dst).applyRGB(out)
    return out


# --------------------------------------------------------------------------- one run's conversions


@dataclass(frozen=True)
class Transfer:
    """How one picture's values map to display values and back: a colour space of a config and a view.
    ``identity``: the values already are the network's sRGB display values (nothing to do)."""
    source: str                 # config (BUILTIN, a path, an ocio:// URI)
    space: str | None           # canonical name; None: sRGB display values, no OCIO at all
    view: str                   # VIEWS
    white: float = 1.0          # the linear value shown as SDR white (HDR video: HDR_REFERENCE_WHITE)

    @property
    def identity(self) -> bool:
        return self.space is None or (self.source == BUILTIN and self.space == SRGB and self.view == "clip")

    @property
    def inverts_highlights(self) -> bool:
        """Whether values above 1.0 survive the round trip (a view other than clip)."""
        return self.view != "clip"

    def to_display(self, values: np.ndarray) -> tuple[np.ndarray, float]:
        """(display values ×255 as float32, the brightest linear value) of a picture in this space."""
        if self.identity:
            v = np.clip(np.nan_to_num(np.asarray(values, np.float32), nan=0.0), 0.0, 1.0)
            return v * np.float32(255.0), float(v.max(initial=0.0))
        linear = convert(self.source, self.space, linear_anchor(self.source),
                         np.nan_to_num(values, nan=0.0, posinf=65504.0, neginf=0.0))
        if self.white != 1.0:
            linear /= np.float32(self.white)
        return (view_forward(self.view, linear) * 255.0).astype(np.float32), float(linear.max(initial=0.0))

    def from_display(self, display: np.ndarray, peak: float | None, view: str) -> np.ndarray:
        """Values in this space (float32, unclipped) of display values ×255, through ``view``'s inverse
        (the view the picture was *read* with)."""
        linear = view_inverse(view, np.asarray(display, np.float64) / 255.0, peak if view != "clip" else None)
        if self.white != 1.0:
            linear = linear * self.white
        if self.space is None:
            return srgb_encode(linear).astype(np.float32)
        return convert(self.source, linear_anchor(self.source), self.space, linear)


def transfer(ocio_config: str | None, space: str | None, view: str, *, flag: str, float_file: bool) -> Transfer:
    """The Transfer of a picture: colour space ``space`` (None: the default, by kind of file: linear for a
    float file such as EXR, sRGB display values otherwise) and ``view`` ("auto": shoulder for scene-referred
    and HDR video spaces, clip for SDR display ones). ConfigError for an unknown name, view or config."""
    if view != "auto" and view not in VIEWS:
        raise ConfigError(f"--view must be auto or one of {', '.join(VIEWS)}, got {view!r}")
    source = config_source(ocio_config)
    if space is None and not float_file:
        return Transfer(source, None, "clip" if view == "auto" else view)
    name = find_space(source, space, flag) if space is not None else linear_anchor(source)
    hdr = is_hdr_space(source, name)
    if view == "auto":
        view = "shoulder" if hdr or is_scene_referred(source, name) else "clip"
    return Transfer(source, name, view, HDR_REFERENCE_WHITE if hdr else 1.0)


@dataclass(frozen=True)
class ColourOptions:
    """The colour settings of a run, as the command line gives them (names resolved when used)."""
    ocio_config: str | None = None
    input: str | None = None        # --input-colorspace
    output: str | None = None       # --output-colorspace
    style: str | None = None        # --style-colorspace
    view: str = "auto"              # --view

    def reading(self, float_file: bool) -> Transfer:
        """The input's Transfer (a float file such as EXR defaults to linear)."""
        return transfer(self.ocio_config, self.input, self.view, flag="--input-colorspace", float_file=float_file)

    def writing(self, float_file: bool) -> Transfer:
        """The output's colour space (its view is unused: going back uses the input's)."""
        return transfer(self.ocio_config, self.output, "clip", flag="--output-colorspace", float_file=float_file)

    def style_reading(self, float_file: bool) -> Transfer:
        return transfer(self.ocio_config, self.style, "auto", flag="--style-colorspace", float_file=float_file)

    @property
    def plain(self) -> bool:
        """Nothing asked of colour management: the defaults."""
        return self == ColourOptions()

    @classmethod
    def of(cls, opts) -> "ColourOptions":
        """The colour settings of an OutputOptions (config.py, a layer below: it cannot build this)."""
        return cls(opts.ocio_config, opts.input_colorspace, opts.output_colorspace, opts.style_colorspace,
                   opts.view)
