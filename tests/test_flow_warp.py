"""Known answers for warping, flow and the consistency weights."""
import numpy as np
import pytest

from mediagen import texture as make_texture

from videostyle.flow.estimate import FlowEstimator, consistency_weights
from videostyle.flow.warp import compose, inside, uncovered, warp


def texture(h=64, w=96, seed=0):
    return make_texture(h, w, (h // 4, w // 4), seed)


def test_identity_flow_is_identity_warp():
    img = texture().astype(np.float32)
    assert np.array_equal(warp(img, np.zeros(img.shape[:2] + (2,), np.float32)), img)


def test_integer_shift_is_exact_shift():
    img = texture().astype(np.float32)
    flow = np.zeros(img.shape[:2] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = 3, -2           # out[y, x] = img[y - 2, x + 3]
    out = warp(img, flow)
    assert np.array_equal(out[2:, :-3], img[:-2, 3:])


def test_dis_recovers_a_known_pan():
    a = texture()
    b = np.roll(a, 2, axis=1)                    # content moves 2 px right from a to b
    flow = FlowEstimator("dis", "medium")(b, a)  # b → a: each pixel of b came from 2 px to the left
    assert np.median(flow[8:-8, 8:-8, 0]) == pytest.approx(-2, abs=0.1)
    assert np.median(flow[8:-8, 8:-8, 1]) == pytest.approx(0, abs=0.1)


def test_consistent_flow_is_reliable_inside_and_unreliable_where_it_leaves():
    h, w = 40, 60
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -3                              # frame t pixel p came from p − 3 in t−1
    fwd = -back
    c = consistency_weights(back, fwd)
    assert c[5:-5, 8:-5].min() > 0.99
    assert c[:, :2].max() == 0                     # sources left the frame: nothing to follow


def test_occluded_region_is_unreliable():
    """A square moves 6 px right over a static background. At t, the strip the square uncovered has
    background flow 0 back to t−1, but there t−1 shows the square moving +6: the round trip fails."""
    h, w, x0, size, d = 48, 64, 20, 16, 6
    back = np.zeros((h, w, 2), np.float32)
    back[16:32, x0 + d:x0 + d + size, 0] = -d      # square at t came from 6 px left
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[16:32, x0:x0 + size, 0] = d                # square at t−1 moves right
    c = consistency_weights(back, fwd)
    assert c[18:30, x0 + 1:x0 + d - 1].max() == 0  # uncovered strip
    assert c[4:12, 4:60].min() > 0.99              # static background far from the square
    assert c[19:29, x0 + d + 3:x0 + d + size - 3].min() > 0.99  # inside the moving square


def test_motion_boundary_gets_zero_weight():
    h, w = 40, 60
    back = np.zeros((h, w, 2), np.float32)
    back[:, 30:, 1] = 1.0                          # a sharp shear, consistent in both directions
    fwd = np.zeros_like(back)
    fwd[:, 30:, 1] = -1.0
    c = consistency_weights(back, fwd, smooth_sigma=0)
    assert c[10:30, 29:31].max() == 0
    assert c[10:30, 5:25].min() == 1


def test_uncovered_is_the_strip_a_moving_square_leaves_and_the_edge_a_pan_brings_in():
    """Known answers for ``uncovered`` (nothing of frame t−1 lands there): a 16-px square moving 6 px
    right uncovers the 6 columns it left, and nothing else (where it lands, on the background, two
    pixels' worth arrive: covered twice, not uncovered). A pan that moves the picture 2.5 px right
    brings in its 2 leftmost columns whole and half of the third."""
    h, w, x0, size, d = 48, 64, 20, 16, 6
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[16:32, x0:x0 + size, 0] = d
    new = uncovered(fwd)
    expected = np.zeros((h, w), bool)
    expected[16:32, x0:x0 + d] = True
    assert np.array_equal(new, expected)
    pan = np.zeros((h, w, 2), np.float32)
    pan[..., 0] = 2.5
    new = uncovered(pan)
    assert new[:, :2].all() and not new[:, 3:].any()
    # Seen from frame t, that edge's flow back to t−1 points outside t−1 (``inside``: the draft keeps
    # its warped paint there); half a pixel beyond the outermost centre still counts as inside.
    assert np.array_equal(inside(-pan)[0], np.arange(w) >= 2)
    # The consistency check cannot tell such pixels from a motion boundary; this does: a shear moves
    # every pixel somewhere, so none is uncovered.
    shear = np.zeros((h, w, 2), np.float32)
    shear[:, 30:, 1] = 1.0
    assert not uncovered(shear)[1:, :].any()


def test_composed_flows_move_paint_as_the_two_steps_do_with_one_resample():
    # a → b: a pan of 5.3 px; b → c: a field that shears with x. Moving c's picture into b and that into
    # a must land where one warp by the composed flow puts it (up to the second resample's blur). Adding
    # the two flows at the same pixel (the second not sampled along the path) is off by 24 levels.
    h, w = 48, 64
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    first = np.stack([5.3 + 0 * ys, -0.4 + 0.01 * xs], -1).astype(np.float32)
    then = np.stack([0.05 * (ys - h / 2), 0.25 * (xs - w / 2)], -1).astype(np.float32)
    c_img = texture(h, w, seed=3).astype(np.float32)
    stepwise = warp(warp(c_img, then), first)
    flow, weight = compose(first, np.ones((h, w), np.float32), then, np.full((h, w), 0.5, np.float32))
    once = warp(c_img, flow)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(once[inner] - stepwise[inner]).mean() < 4.0
    assert np.allclose(weight[inner], 0.5)          # the product of the steps' weights
    # A path that leaves frame b carries no weight.
    off = np.zeros((h, w, 2), np.float32)
    off[..., 0] = w
    assert compose(off, np.ones((h, w), np.float32), then, np.ones((h, w), np.float32))[1].max() == 0
