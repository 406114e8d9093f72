"""Loss terms: known values, zeros where they must be zero, and gradients (float64 gradcheck)."""
import torch

from videostyle.method.losses import content_loss, gram, style_loss, temporal_loss, tv_loss


def test_gram_matches_definition():
    f = torch.randn(1, 4, 5, 6, dtype=torch.float64)
    m = f.reshape(4, 30)
    assert torch.allclose(gram(f), m @ m.T / 120)


def test_content_and_style_vanish_at_their_targets():
    f = torch.randn(1, 8, 6, 6)
    assert content_loss(f, f.clone()) == 0
    assert style_loss({"a": f}, {"a": gram(f)}) == 0


def test_tv_known_values():
    assert tv_loss(torch.full((1, 3, 5, 5), 7.0)) == 0
    ramp = torch.arange(4.0).repeat(1, 1, 3, 1)     # [1,1,3,4], horizontal steps of 1
    assert tv_loss(ramp) == 0.5 * 3 * 3


def test_temporal_zero_mask_and_zero_difference_give_zero():
    x, w = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert temporal_loss(x, w, torch.zeros(1, 1, 8, 8)) == 0
    assert temporal_loss(x, x.clone(), torch.ones(1, 1, 8, 8)) == 0
    full = temporal_loss(x, w, torch.ones(1, 1, 8, 8))
    assert torch.isclose(full, ((x - w) ** 2).mean())


def test_gradients_match_finite_differences():
    x = torch.rand(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    c = torch.rand(1, 1, 5, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: temporal_loss(v, target, c), (x,))
    assert torch.autograd.gradcheck(tv_loss, (x,))
    g = gram(torch.rand(1, 3, 5, 6, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda v: style_loss({"a": v}, {"a": g}), (x,))
