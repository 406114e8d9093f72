"""The fast mode's network (Texler et al. 2020): a small fully convolutional image-to-image network,
trained from scratch per shot on patches of a few stylized keyframes, that then paints any frame on its
own. Training is in student_training.py; this module is the network, its file and its rendering.

Two scales below the full one (strides 2 and 2) give each output pixel about 40 px of context: enough
for strokes and edges, not so much that it copies whole keyframes. No normalization layer: a frame's
paint must not depend on which frames share its batch (random access, batched rendering).
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, OutputError
from ..io.atomic import write_atomic

FORMAT = "videostyle-student-1"

# On the CPU a batch holds at most this many pixels: beyond it each frame costs more, not less (its
# activations leave the cache). Measured on 2 cores (scripts/student_speed.py): 256×144 40 ms a frame
# one at a time against 60 ms eight at a time, 256×192 53 against 88, 512×288 197 against 292; 128×72
# the same either way (12–14 ms).
CPU_BATCH_PIXELS = 65536


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    # Reflected borders: a patch's edge and a frame's edge look alike to the network.
    return nn.Conv2d(cin, cout, 3, stride, 1, padding_mode="reflect")


class Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.a, self.b = _conv(width, width), _conv(width, width)

    def forward(self, x):
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class StudentNet(nn.Module):
    """RGB 0–255 in, RGB 0–255 out (unclamped while training), any size (padded to a multiple of 4)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.width = width
        w = width
        self.enc1 = nn.Sequential(_conv(3, w), nn.LeakyReLU(0.2), _conv(w, w), nn.LeakyReLU(0.2))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), nn.LeakyReLU(0.2), _conv(2 * w, 2 * w), nn.LeakyReLU(0.2))
        self.enc3 = nn.Sequential(_conv(2 * w, 2 * w, 2), nn.LeakyReLU(0.2), Residual(2 * w), Residual(2 * w))
        self.dec2 = nn.Sequential(_conv(4 * w, 2 * w), nn.LeakyReLU(0.2))
        self.dec1 = nn.Sequential(_conv(3 * w, w), nn.LeakyReLU(0.2), _conv(w, w), nn.LeakyReLU(0.2))
        self.out = nn.Conv2d(w, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        z = x / 127.5 - 1.0
        e1 = self.enc1(z)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="nearest"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], 1))
        # A residual on the frame: an untrained network passes the picture through, and the first steps
        # learn the paint rather than the picture.
        y = x + 127.5 * self.out(d1)
        return y[..., :h, :w]


def to_batch(frames: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """H×W×3 arrays (0–255) → N×3×H×W float32 tensor."""
    return torch.from_numpy(np.stack([np.asarray(f, np.float32) for f in frames])).permute(0, 3, 1, 2).to(device)


def batch_on(device: torch.device, batch: int, height: int, width: int) -> int:
    """How many of ``batch`` frames of this size are painted at once on ``device``: all of them, but on
    the CPU no more than CPU_BATCH_PIXELS' worth (at least one)."""
    if device.type != "cpu":
        return batch
    return max(1, min(batch, CPU_BATCH_PIXELS // max(height * width, 1)))


@torch.no_grad()
def render(net: StudentNet, frames: list[np.ndarray], device: torch.device, batch: int = 4) -> list[np.ndarray]:
    """The student's paint of each frame (H×W×3 float32 0–255): each frame on its own, ``batch`` at a
    time (on the CPU fewer when the frames are large: CPU_BATCH_PIXELS); half precision on a GPU."""
    net.eval()
    out = []
    if frames:
        batch = batch_on(device, batch, *frames[0].shape[:2])
    for k in range(0, len(frames), batch):
        x = to_batch(frames[k:k + batch], device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda"):
            y = net(x)
        out += [im for im in y.float().clamp(0, 255).permute(0, 2, 3, 1).cpu().numpy()]
    return out


def save(net: StudentNet, path: str, info: dict) -> None:
    """The student as one file (written atomically): its weights, width and what it was trained on."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "width": net.width, "state": net.state_dict(), "info": info}, buf)
    try:
        write_atomic(path, buf.getvalue())
    except OSError as exc:
        raise OutputError(f"cannot write the student to {path}: {exc.strerror or exc}") from None


def load(path: str, device: torch.device) -> tuple[StudentNet, dict]:
    """A student saved by ``save`` (--save-student); InputError (one line) for anything else."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"--student {path} does not exist") from None
    except Exception as exc:
        raise InputError(f"--student {path} is not a student saved by videostyle ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"--student {path} is not a student saved by videostyle --save-student")
    net = StudentNet(int(data["width"]))
    try:
        net.load_state_dict(data["state"])
    except RuntimeError:
        raise InputError(f"--student {path} holds weights of another network") from None
    return net.to(device), dict(data.get("info") or {})

