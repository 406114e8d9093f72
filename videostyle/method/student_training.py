"""Training the student (Texler et al. 2020) on one shot: patches of the stylized keyframes, plus a
temporal term on the frames between them.

- **Patches.** Each step takes ``batch`` random patches of the keyframes (source → stylized). Input and
  target get the same random gain and offset (so a brighter frame gets brighter paint: the student
  follows the light), and the input alone gets noise (so grain that changes from frame to frame does not
  make the paint change): the augmentation that keeps it from copying the keyframes pixel for pixel.
- **Sharp strokes.** L1 on colour and L1 on the image gradients. Plain L2 averages the strokes the
  network cannot place and paints mush.
- **Temporal term.** A random crop of frame t and of frame t−1 around it: the student's paint of frame
  t and its paint of t−1 warped by the flow agree where the flow is reliable (its consistency weights).
  A network is nearly shift-equivariant, so whole-pixel motion hides flicker; sub-pixel motion and
  per-frame noise do not, and this term is what holds them.
- **Resume.** A checkpoint (weights, optimizer, both random generators, the loss curve) is written
  atomically every ``checkpoint_every`` steps; a killed run continues from it and ends with the same
  weights as an uninterrupted one (bit for bit on the CPU with the same seed and thread count).
"""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..io.atomic import write_atomic
from .student import StudentNet, to_batch


@dataclass(frozen=True)
class Pair:
    """Two consecutive frames for the temporal term: frame t−1, frame t, the flow t → t−1 (pixel p of
    frame t was at p + flow in t−1) and its consistency weights."""
    earlier: np.ndarray
    later: np.ndarray
    flow: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class Settings:
    steps: int = 300
    patch: int = 48
    batch: int = 8
    learning_rate: float = 2e-3
    gradient_weight: float = 1.0     # L1 on image gradients, relative to L1 on colour
    temporal_weight: float = 1.0     # relative to the keyframe loss; 0 = none
    crop: int = 64                   # side of the temporal term's crop of frame t
    margin: int = 16                 # frame t−1's crop reaches this far beyond it (motion and context)
    width: int = 32
    seed: int = 0
    checkpoint_every: int = 50
    gain: float = 0.15               # augmentation: input and target × U(1−gain, 1+gain) per channel …
    offset: float = 15.0             # … + U(−offset, offset) (0–255)
    noise: float = 4.0               # input only: Gaussian noise, σ up to this (0–255)


@dataclass
class Curve:
    """The training curve: (step, keyframe loss, temporal loss) every ``every`` steps."""
    points: list = field(default_factory=list)
    seconds: float = 0.0


Progress = Callable[[int, int, float, float], None]  # (step, steps, loss, seconds so far)


def _grads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def keyframe_loss(out: torch.Tensor, target: torch.Tensor, gradient_weight: float) -> torch.Tensor:
    loss = (out - target).abs().mean()
    if gradient_weight:
        (ox, oy), (tx, ty) = _grads(out), _grads(target)
        loss = loss + gradient_weight * ((ox - tx).abs().mean() + (oy - ty).abs().mean())
    return loss / 255.0


def warp_tensor(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """N×C×h×w ``image`` sampled at each output pixel p + flow(p) (flow N×2×H×W in ``image``'s pixels,
    relative to the output's origin); bilinear, borders repeated."""
    n, _, h, w = image.shape
    H, W = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(H, dtype=flow.dtype), torch.arange(W, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=True)


class Trainer:
    def __init__(self, keyframes: list[tuple[np.ndarray, np.ndarray]], pairs: list[Pair], settings: Settings,
                 device: torch.device, checkpoint: str | None = None, net: StudentNet | None = None):
        self.keys = [(to_batch([s], device)[0], to_batch([t], device)[0]) for s, t in keyframes]
        self.pairs = pairs
        self.s = settings
        self.device = device
        self.checkpoint = checkpoint
        torch.manual_seed(settings.seed)
        self.net = (net or StudentNet(settings.width)).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings.learning_rate)
        self.rng = np.random.default_rng([settings.seed, 7])
        self.noise = torch.Generator().manual_seed(settings.seed)
        self.step = 0
        self.curve = Curve()
        if checkpoint and os.path.isfile(checkpoint):
            self._restore(checkpoint)

    # --- one step -------------------------------------------------------------------------------
    def _augment(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        gain = 1.0 + self.s.gain * (2 * torch.rand(n, 3, 1, 1, generator=self.noise) - 1)
        offset = self.s.offset * (2 * torch.rand(n, 3, 1, 1, generator=self.noise) - 1)
        return gain.to(self.device), offset.to(self.device)

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        if not self.s.noise:
            return x
        sigma = self.s.noise * torch.rand(x.shape[0], 1, 1, 1, generator=self.noise)
        return x + (sigma * torch.randn(x.shape, generator=self.noise)).to(self.device)

    def _patches(self) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt = [], []
        for _ in range(self.s.batch):
            s, t = self.keys[int(self.rng.integers(len(self.keys)))]
            h, w = s.shape[-2:]
            p = min(self.s.patch, h, w)
            y, x = int(self.rng.integers(h - p + 1)), int(self.rng.integers(w - p + 1))
            src.append(s[:, y:y + p, x:x + p])
            tgt.append(t[:, y:y + p, x:x + p])
        return torch.stack(src), torch.stack(tgt)

    def _temporal(self) -> torch.Tensor:
        pair = self.pairs[int(self.rng.integers(len(self.pairs)))]
        h, w = pair.later.shape[:2]
        c, m = min(self.s.crop, h, w), self.s.margin
        y, x = int(self.rng.integers(h - c + 1)), int(self.rng.integers(w - c + 1))
        y0, x0, y1, x1 = max(y - m, 0), max(x - m, 0), min(y + c + m, h), min(x + c + m, w)
        later = to_batch([pair.later[y:y + c, x:x + c]], self.device)
        earlier = to_batch([pair.earlier[y0:y1, x0:x1]], self.device)
        flow = torch.from_numpy(np.ascontiguousarray(pair.flow[y:y + c, x:x + c].transpose(2, 0, 1)))[None]
        flow = flow + torch.tensor([x - x0, y - y0], dtype=flow.dtype).view(1, 2, 1, 1)  # into the t−1 crop
        weight = torch.from_numpy(np.ascontiguousarray(pair.weight[y:y + c, x:x + c]))[None, None].float()
        # Only where frame t−1's crop holds the pixel the flow points at.
        fx, fy = flow[:, 0:1], flow[:, 1:2]
        weight = weight * ((fx >= 0) & (fx <= x1 - x0 - 1) & (fy >= 0) & (fy <= y1 - y0 - 1)).float()
        gain, offset = self._augment(1)
        both = [self._noisy(later * gain + offset), self._noisy(earlier * gain + offset)]
        out_t, out_s = self.net(both[0]), self.net(both[1])
        warped = warp_tensor(out_s, flow.to(self.device))
        weight = weight.to(self.device)
        return (weight * (out_t - warped).abs()).sum() / (3 * weight.sum().clamp(min=1.0)) / 255.0

    def _lr(self) -> float:
        # Constant, then a cosine decay over the last 40 % of the steps: the strokes settle.
        k, n = self.step, self.s.steps
        start = 0.6 * n
        return self.s.learning_rate * (1.0 if k < start else 0.5 * (1 + math.cos(math.pi * (k - start) / (n - start))))

    def one_step(self) -> tuple[float, float]:
        self.net.train()
        for g in self.opt.param_groups:
            g["lr"] = self._lr()
        src, tgt = self._patches()
        gain, offset = self._augment(src.shape[0])
        out = self.net(self._noisy(src * gain + offset))
        loss = keyframe_loss(out, tgt * gain + offset, self.s.gradient_weight)
        temporal = torch.zeros(())
        if self.s.temporal_weight and self.pairs:
            temporal = self._temporal()
            loss = loss + self.s.temporal_weight * temporal
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return float(loss.detach()), float(temporal.detach())

    # --- the run --------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None, stop_after: int | None = None) -> StudentNet:
        """Train to ``settings.steps`` (from a checkpoint's step when resumed). ``stop_after``: return
        after that many steps of this call (tests: a kill at a known step)."""
        t0, done_here = time.perf_counter() - self.curve.seconds, 0
        while self.step < self.s.steps:
            loss, temporal = self.one_step()
            done_here += 1
            if self.step % 10 == 0 or self.step == self.s.steps:
                self.curve.points.append((self.step, round(loss, 5), round(temporal, 5)))
                self.curve.seconds = time.perf_counter() - t0
                if progress:
                    progress(self.step, self.s.steps, loss, self.curve.seconds)
            if self.checkpoint and (self.step % self.s.checkpoint_every == 0 or self.step == self.s.steps):
                self.curve.seconds = time.perf_counter() - t0
                self._save(self.checkpoint)
            if stop_after is not None and done_here >= stop_after:
                break
        self.curve.seconds = time.perf_counter() - t0
        return self.net

    def _save(self, path: str) -> None:
        buf = io.BytesIO()
        torch.save({"step": self.step, "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                    "rng": self.rng.bit_generator.state, "noise": self.noise.get_state(),
                    "curve": self.curve.points, "seconds": self.curve.seconds}, buf)
        write_atomic(path, buf.getvalue())

    def _restore(self, path: str) -> None:
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
            self.net.load_state_dict(data["net"])
            self.opt.load_state_dict(data["opt"])
        except Exception:  # a damaged checkpoint: train from the start rather than trust it
            torch.manual_seed(self.s.seed)
            self.net = StudentNet(self.s.width).to(self.device)
            self.opt = torch.optim.Adam(self.net.parameters(), lr=self.s.learning_rate)
            return
        self.rng.bit_generator.state = data["rng"]
        self.noise.set_state(data["noise"])
        self.step = int(data["step"])
        self.curve = Curve(list(data["curve"]), float(data["seconds"]))
