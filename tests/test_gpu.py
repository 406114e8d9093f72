"""CUDA path: bfloat16 autocast network, channels_last, and a short end-to-end run. Skipped without CUDA."""
import numpy as np
import pytest
import torch

from videostyle.config import OptimConfig, StylizeConfig
from videostyle.method.device import to_tensor
from videostyle.method.optimize import FrameProblem, stylize_frame
from videostyle.method.stylizer import Stylizer

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cuda_frame_optimization_matches_cpu_loss_scale():
    rng = np.random.default_rng(0)
    style = rng.uniform(0, 255, (64, 64, 3)).astype(np.uint8)
    content = rng.uniform(0, 255, (72, 128, 3)).astype(np.uint8)
    losses = {}
    for device in ("cpu", "cuda"):
        st = Stylizer.create(StylizeConfig(device=device), [style])
        p = FrameProblem(st.objective(to_tensor(content, st.device)))
        r = stylize_frame(st.model, p, to_tensor(content, st.device), st.config.loss, OptimConfig(), 30)
        assert torch.isfinite(r.image).all()
        losses[device] = r.terms["total"]
    assert losses["cuda"] < 1.2 * losses["cpu"]
