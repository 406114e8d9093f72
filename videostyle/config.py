"""The only home of defaults. The CLI builds its flags from these dataclasses; nothing is changed in place
(use ``dataclasses.replace``)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from .errors import ConfigError

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
INITS = ("prevwarped", "image", "random")
OPTIMIZERS = ("lbfgs", "adam")
FLOW_METHODS = ("dis", "farneback", "deepflow", "tvl1")  # = flow.FLOW_METHODS; listed so config loads no cv2
DIS_PRESETS = ("ultrafast", "fast", "medium")
OBJECTIVES = ("style", "dream")
# VGG19's ReLU outputs (= the relu* of features.LAYER_NAMES; listed so config loads no torch).
DREAM_LAYERS = tuple(f"relu{b}_{i}" for b, n in enumerate((2, 2, 4, 4, 4), 1) for i in range(1, n + 1))


@dataclass(frozen=True)
class OptimConfig:
    """How one frame is optimized (see ``optimize.stylize_frame``)."""
    optimizer: str = "lbfgs"
    # Reference: 2000 / 1000. Warm starts from the warped previous frame converge far sooner, and
    # early stopping ends most later frames well before the cap (measured; see README).
    iterations_first: int = 400
    iterations_later: int = 200
    # Stop when the loss fell by less than this fraction over the last `check_every` iterations.
    # Reference: 1e-4 over 50. Tuned with scripts/bench.py --compare (README): 1 % over 10 stops
    # warm-started frames after ~35 evaluations at 1.014× the reference's final loss.
    tolerance: float = 1e-2
    check_every: int = 10
    # Cold starts (first frame, --init image/random) improve slowly at first: stop only on 0.1 % over 10.
    first_tolerance: float = 1e-3
    # None: 1.0 for L-BFGS (as the reference), 8.0 (0–255 pixels) for Adam.
    learning_rate: float | None = None
    line_search: bool = False           # L-BFGS with a strong-Wolfe line search (the reference uses none)
    # Diagonal preconditioning by the temporal term's curvature (optimize.precondition_scale); 0 = off
    # (the reference's plain L-BFGS). 10: 20–27 % less warping error than 0 at the same loss and
    # evaluations, measured at 64, 128 and 256 px; 30+ trades loss for more stability (README).
    precondition: float = 10.0
    # Coarse-to-fine: optimize at these fractions of the processing size in turn (1.0 last).
    scales: tuple[float, ...] = (1.0,)

    @property
    def step(self) -> float:
        """The learning rate in use (the explicit one, or the optimizer's default)."""
        return self.learning_rate or (1.0 if self.optimizer == "lbfgs" else 8.0)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.iterations_first < 0 or self.iterations_later < 0:
            raise ConfigError("--iterations must be non-negative")
        if self.precondition < 0:
            raise ConfigError("--precondition must be non-negative")
        if self.check_every < 1:
            raise ConfigError("--check-every must be at least 1")
        if not self.scales or any(not 0 < s <= 1 for s in self.scales) or self.scales[-1] != 1.0:
            raise ConfigError("--scales must be fractions in (0, 1] ending with 1")


@dataclass(frozen=True)
class LossConfig:
    # Reference: 5. With max pooling at 128–256 px, 5 lets the style swallow the subject (looked at:
    # relu4_2 relative distance 0.83 at 128 px); 50 keeps it recognisable with the style clearly on.
    content_weight: float = 50.0
    style_weight: float = 1e2
    tv_weight: float = 1e-3
    # Reference: 1e3 against content 5. The content weight is 10× here, so the temporal weight is too
    # (same temporal/content ratio); at 1e3 the warping error on the cockatoo clip was 5.4× the source's
    # own, at 1e4 it is 1.1× with the same content and style distances.
    temporal_weight: float = 1e4
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS

    def __post_init__(self):
        for f in ("content_weight", "style_weight", "tv_weight", "temporal_weight"):
            if getattr(self, f) < 0:
                raise ConfigError(f"--{f.replace('_', '-')} must be non-negative")


@dataclass(frozen=True)
class MultiPassConfig:
    """Ruder et al. Sec. 3.3; passes=1 is the single-pass algorithm."""
    passes: int = 1                 # reference: 15
    blend_weight: float = 1.0       # δ: 1 blends previous pass and warped neighbour equally on reliable pixels
    # 1-based pass from which the later passes use the temporal loss (reference: 8 of 15, after passes
    # without it). Departure: pass 1 here is the single-pass algorithm, temporal loss included, so every
    # refinement pass can use it too; a schedule whose temporal loss never starts is refused.
    temporal_from_pass: int = 2
    pass_iterations: int = 50       # iteration cap per frame in passes 2..N

    def __post_init__(self):
        if self.passes < 1 or self.temporal_from_pass < 1 or self.pass_iterations < 0 or self.blend_weight < 0:
            raise ConfigError("--passes, --temporal-from-pass must be ≥ 1; --pass-iterations, --blend-weight ≥ 0")
        if self.passes > 1 and self.temporal_from_pass > self.passes:
            # Refinement passes without the temporal term only undo what pass 1 made consistent.
            raise ConfigError(f"--temporal-from-pass {self.temporal_from_pass} never applies the temporal loss "
                              f"in {self.passes} passes; use 2..{self.passes}")


@dataclass(frozen=True)
class DreamConfig:
    """DeepDream (objectives.DreamObjective): amplify what ``layer`` responds to, coarse to fine over
    ``octaves`` sizes, each ``octave_scale`` times the previous (the last is the processing size)."""
    layer: str = "relu4_2"
    octaves: int = 4
    octave_scale: float = 1.4
    # −weight·log(E/E_source) of the layer's energy E = mean(a²), + anchor·mean((x − frame)²) on 0–255
    # pixels. Looked at on the cockatoo clip at 128 px: 1e4 / 30 gives clearly visible patterns (energy
    # 3.4× the frame's) with the subject kept; 3e4 or anchor 10 bury more of it.
    weight: float = 1e4
    anchor: float = 30.0

    @property
    def scales(self) -> tuple[float, ...]:
        """Fractions of the processing size, smallest first, ending with 1: octave_scale^−(n−1) … 1."""
        return tuple(self.octave_scale ** -(self.octaves - 1 - k) for k in range(self.octaves))

    def __post_init__(self):
        if self.layer not in DREAM_LAYERS:
            raise ConfigError(f"--layer must be a VGG19 ReLU layer: {', '.join(DREAM_LAYERS)}")
        if self.octaves < 1 or self.octave_scale < 1:
            raise ConfigError("--octaves must be at least 1 and --octave-scale at least 1")
        if self.weight < 0 or self.anchor < 0:
            raise ConfigError("--dream-weight and --anchor must be non-negative")


@dataclass(frozen=True)
class StylizeConfig:
    """Everything that determines the stylized pixels (plus device), independent of paths."""
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    multipass: MultiPassConfig = field(default_factory=MultiPassConfig)
    max_side: int = 256           # processing size: longer side in pixels, aspect kept
    init: str = "prevwarped"      # later frames; the first frame has no previous one
    first_init: str = "image"     # 'image' or 'random' for frame 0 (and for every frame when init='random')
    style_scale: float = 1.0      # style image resized to style_scale × max_side (longer side)
    style_blend: tuple[float, ...] | None = None
    long_term: tuple[int, ...] = (1,)  # temporal targets from frames t−j, j in this set (paper: 1,2,4)
    flow: str = "dis"
    flow_preset: str = "medium"
    weights: str = "packaged"
    weights_format: str = "auto"
    device: str = "auto"
    precision: str = "auto"       # network compute: auto = bfloat16 on CUDA, float32 elsewhere; fp32; bf16
    compile: bool = False         # torch.compile the network (pays a compile per input size)
    seed: int = 0
    # What a frame is optimized for: 'style' (content + Gram style, ``loss``) or 'dream' (``dream``).
    objective: str = "style"
    dream: DreamConfig = field(default_factory=DreamConfig)

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}")
        if self.init not in INITS:
            raise ConfigError(f"--init must be one of {', '.join(INITS)}")
        if self.first_init not in ("image", "random"):
            raise ConfigError("--first-init must be 'image' or 'random'")
        if self.max_side < 16:
            raise ConfigError("--max-side must be at least 16 (VGG19 pools 4 times)")
        if self.style_scale <= 0:
            raise ConfigError("--style-scale must be positive")
        if not self.long_term or 1 not in self.long_term or any(j < 1 for j in self.long_term):
            raise ConfigError("--long-term must be positive frame offsets including 1, e.g. 1,2,4")
        if self.flow not in FLOW_METHODS:
            raise ConfigError(f"--flow must be one of {', '.join(FLOW_METHODS)}")
        if self.flow_preset not in DIS_PRESETS:
            raise ConfigError(f"--flow-preset must be one of {', '.join(DIS_PRESETS)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError("--precision must be auto, fp32 or bf16")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError("--device must be auto, cpu, cuda, cuda:N or mps")


OUTPUT_SIZES = ("processing", "original")


@dataclass(frozen=True)
class OutputOptions:
    """What to read and write around a render: the frame selection, the outputs and their format, the
    work folder. The method's settings are StylizeConfig's."""
    frames: str | tuple[int, int | None] | None = None  # START:END (0-based, END exclusive) or FIRST-LAST
    fps: float | None = None            # frame rate of a frame-sequence input (default 25); refused for a video
    no_audio: bool = False              # -an: the outputs get no audio stream
    codec: str | None = None            # video codec (default libx264; .webm vp9; .gif gif)
    crf: int | None = None              # x264/x265/vp9 quality (default 18)
    output_size: str = "processing"     # or 'original': upscaled to the source size
    preserve_colors: bool = False       # stylized luminance with the source's chroma
    compare: str | None = None          # also write a side-by-side video (source | stylized) here
    depth: int = 8                      # 16: 16-bit PNG/TIFF frames, FFV1 16-bit / ProRes 10-bit video
    overwrite: bool = False             # replace an existing output; otherwise it is refused
    report: str | None = None           # JSON report path
    flow_dir: str | None = None         # read flows from .flo files instead of estimating them
    work_dir: str | None = None         # default OUTPUT.videostyle
    restart: bool = False               # discard an interrupted run's frames
    keep_work: bool = False             # keep the work folder after success

    def __post_init__(self):
        if self.output_size not in OUTPUT_SIZES:
            raise ConfigError("--output-size must be 'processing' or 'original'")
        if self.depth not in (8, 16):
            raise ConfigError(f"--depth must be 8 or 16, got {self.depth}")
        if self.fps is not None and not self.fps > 0:
            raise ConfigError("--fps must be positive")


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
