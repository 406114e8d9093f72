"""Memory estimate before a run: refuse up front, naming a size that fits, instead of failing at frame 900.

Per processed pixel: VGG19 activations kept for the backward pass up to relu5_1 (conv and ReLU outputs,
64·4 + 128·4/4 + 256·8/16 + 512·8/64 + 512·2/256 ≈ 580 values), gradients in flight, and L-BFGS's
history (100 pairs of image-sized vectors, 600 values). Measured with scripts/memory_scaling.py on the
CPU: peak memory grows linearly, 3.9 KB per pixel with 30 history pairs (≈ 970 values); with the full
100 pairs that is ≈ 1400 values, the constant below.
"""
from __future__ import annotations

import math
import os

import torch

from ..errors import ConfigError

VALUES_PER_PIXEL = 1400                # measured 970 with 30 L-BFGS pairs, plus 70 more pairs × 6 values
FIXED_BYTES = 200 * 2 ** 20            # the truncated network's weights and framework overhead


def estimate_bytes(width: int, height: int, bytes_per_value: int = 4) -> int:
    return int(width * height * VALUES_PER_PIXEL * bytes_per_value + FIXED_BYTES)


def available_bytes(device: torch.device) -> int | None:
    """Free memory of the device (CUDA) or memory available to a new process on the machine (CPU);
    None when unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return _machine_available()
    return None


def _machine_available() -> int | None:
    # Linux's MemAvailable counts the page cache and reclaimable slabs the kernel gives back on demand;
    # free pages alone (sysconf's AVPHYS_PAGES) are a fraction of that on any machine that has read files
    # for a while, so checking them refused runs that fit.
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            available = parse_meminfo(f.read())
        if available is not None:
            return available
    except OSError:
        pass
    if hasattr(os, "sysconf"):  # other Unix systems: free pages, the best they tell
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def parse_meminfo(text: str) -> int | None:
    """Bytes of MemAvailable in the text of /proc/meminfo (given in kB), or None if it has no such line
    (kernels before 3.14)."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            fields = value.split()
            if fields and fields[0].isdigit():
                return int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return None


def check_fits(width: int, height: int, device: torch.device, available: int | None = None,
               flag: str = "--max-side") -> None:
    """Raise ConfigError when a ``width``×``height`` optimization will not fit, with the largest
    longer side that would, as the option ``flag`` that sets it."""
    available = available_bytes(device) if available is None else available
    if available is None:
        return
    need = estimate_bytes(width, height)
    if need <= available:
        return
    usable = max(available - FIXED_BYTES, 0) / (VALUES_PER_PIXEL * 4)
    scale = math.sqrt(usable / (width * height))
    side = int(max(width, height) * scale) // 8 * 8
    raise ConfigError(f"{width}x{height} needs about {need / 2 ** 30:.1f} GiB on {device.type} but "
                      f"{available / 2 ** 30:.1f} GiB are free; use {flag} {side} or less")
