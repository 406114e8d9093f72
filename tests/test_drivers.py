"""Drivers with a fake solver: scheduling, start images, iteration caps, long-term targets, resume and
multi-pass blending, in milliseconds (no network)."""
import os
from dataclasses import replace

import numpy as np
import pytest

from videostyle.config import MultiPassConfig, OptimConfig, StylizeConfig
from videostyle.run.drivers import multi, pick, single
from videostyle.run.drivers.core import Prepared
from videostyle.errors import ConfigError
from videostyle.run.store import WorkStore
from videostyle.flow.warp import warp

H, W = 4, 6
# The frames' grey levels rise (10, 20, …): with --follow-light the warped results would take that change
# on. These tests are about scheduling, so it is off; test_relit_starts_and_targets checks it.
CFG = StylizeConfig(optim=OptimConfig(iterations_first=9, iterations_later=5),
                    multipass=MultiPassConfig(passes=1, pass_iterations=3, temporal_from_pass=2), follow_light=0.0)


class FakeSolver:
    """Returns start + 1 (so each result shows where it started) and records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, content, start, temporal, iterations, cold):
        self.calls.append({"start": start.copy(), "temporal": temporal, "iterations": iterations, "cold": cold})
        return start + 1.0, {"iterations": iterations, "evaluations": iterations, "seconds": 0.0,
                             "terms": {"total": 0.0}}


def clip(n, first=100, offsets=(1,), weight=1.0, rise=10):
    """Frames numbered from ``first``: flat grey levels 10, 10 + rise, …; identity flows with weight
    ``weight``."""
    out = []
    for i in range(n):
        flows = {j: (np.zeros((H, W, 2), np.float32), np.full((H, W), weight, np.float32))
                 for j in offsets if j <= i}
        out.append(Prepared(first + i, np.full((H, W, 3), 10 + rise * i, np.uint8), flows, dict(flows), 0.0))
    return out


@pytest.fixture
def store(tmp_path):
    return WorkStore.open(str(tmp_path / "w"), {"input": {}, "config": {}})


def test_single_pass_start_images_caps_and_absolute_numbers(store):
    solve = FakeSolver()
    results = list(single.run(solve, CFG, clip(3), store))
    first, second = solve.calls[0], solve.calls[1]
    assert np.all(first["start"] == 10) and first["cold"] and first["iterations"] == 9   # the frame itself
    assert np.all(second["start"] == 11) and not second["cold"] and second["iterations"] == 5  # warped result
    assert len(second["temporal"]) == 1 and np.all(second["temporal"][0][0] == 11)
    assert [o.prepared.number for o in results] == [100, 101, 102]
    assert store.load(102) is not None and store.load(2) is None


@pytest.mark.parametrize("gain", [0.5, 1.0])
def test_relit_starts_and_targets(store, gain):
    """--follow-light: frame 101 (grey 20) starts from frame 100's result (11) warped, plus gain × the
    source's change of light (20 − 10), and the temporal target is that relit image too; the rise is
    measured where the flow is reliable, so with no reliable pixel nothing is added."""
    solve = FakeSolver()
    list(single.run(solve, replace(CFG, follow_light=gain), clip(2), store))
    second = solve.calls[1]
    assert np.allclose(second["start"], 11 + gain * 10, atol=1e-3)
    assert np.allclose(second["temporal"][0][0], 11 + gain * 10, atol=1e-3)
    solve = FakeSolver()
    list(single.run(solve, replace(CFG, follow_light=gain, init="warped"), clip(2, weight=0.0),
                    WorkStore.open(str(store.root) + "-unreliable", {"input": {}, "config": {}})))
    assert np.allclose(solve.calls[1]["start"], 11, atol=1e-3)


def test_prevwarped_starts_unreliable_pixels_from_the_frame(store):
    solve = FakeSolver()
    list(single.run(solve, replace(CFG, init="prevwarped"), clip(2, weight=0.0), store))
    assert np.all(solve.calls[1]["start"] == 20)


def test_the_default_start_is_paint_everywhere_and_a_warm_start(store):
    """The default (--init warped, since the study of 2026-12-06): unreliable pixels start from the
    warped previous result too, not from the frame (20)."""
    solve = FakeSolver()
    list(single.run(solve, CFG, clip(2, weight=0.0), store))
    second = solve.calls[1]
    assert np.all(second["start"] == 11) and not second["cold"] and second["iterations"] == 5


def test_resume_skips_finished_frames_and_continues_from_them(store):
    list(single.run(FakeSolver(), CFG, clip(2), store))
    stored = store.load(101)[0]
    solve = FakeSolver()
    results = list(single.run(solve, CFG, clip(3), store))
    assert len(solve.calls) == 1 and [o.resumed for o in results] == [True, True, False]
    assert np.allclose(solve.calls[0]["start"], stored / 257.0)


def test_long_term_targets_follow_the_closest_visible_frame(store):
    solve = FakeSolver()
    cfg = replace(CFG, long_term=(1, 2), long_term_rule="nearest")
    list(single.run(solve, cfg, clip(3, offsets=(1, 2)), store))
    targets = solve.calls[2]["temporal"]
    assert len(targets) == 2
    assert np.all(targets[0][1] == 1.0) and np.all(targets[1][1] == 0.0)  # t−1 visible everywhere


def test_every_rule_pulls_each_pixel_toward_every_frame_where_it_was_visible(store):
    solve = FakeSolver()
    cfg = replace(CFG, long_term=(1, 2), long_term_rule="every")
    list(single.run(solve, cfg, clip(3, offsets=(1, 2), rise=0), store))
    targets = solve.calls[2]["temporal"]
    # The source frames are alike here, so the source check leaves the farther pull whole.
    assert len(targets) == 2 and all(np.allclose(c, 1.0, atol=0.01) for _, c in targets)


def test_random_init_is_seeded_by_the_absolute_frame_number(tmp_path):
    cfg = replace(CFG, init="random", first_init="random")
    starts = []
    for k, first in enumerate((100, 100, 101)):
        solve = FakeSolver()
        list(single.run(solve, cfg, clip(1, first=first), WorkStore.open(str(tmp_path / f"w{k}"), {"config": {}})))
        starts.append(solve.calls[0]["start"])
    assert np.array_equal(starts[0], starts[1]) and not np.array_equal(starts[0], starts[2])


def test_multi_pass_first_pass_is_the_single_pass_then_blends_backward(store, tmp_path):
    cfg = replace(CFG, multipass=replace(CFG.multipass, passes=2, pass_targets="processed"))
    solve = FakeSolver()
    results = list(multi.run(solve, cfg, clip(3), store))
    single_solve = FakeSolver()
    list(single.run(single_solve, CFG, clip(3), WorkStore.open(str(tmp_path / "s"), {"config": {}})))
    for a, b in zip(solve.calls[:3], single_solve.calls):  # pass 1 == single pass (caps included)
        assert np.array_equal(a["start"], b["start"]) and a["iterations"] == b["iterations"]
    back = solve.calls[3:]
    assert [c["iterations"] for c in back] == [3, 3, 3]
    # Pass 2 runs backward: frame 102 first, from its pass-1 result (no neighbour yet), then 101 blends its
    # pass-1 result with 102's pass-2 result warped (δ = 1: the mean) and is pulled toward it.
    p1 = {o: store.load(100 + o, 1)[0] / 257.0 for o in range(3)}
    assert np.allclose(back[0]["start"], p1[2]) and back[0]["temporal"] == ()
    p2_102 = store.load(102, 2)[0] / 257.0
    assert np.allclose(back[1]["start"], (p1[1] + p2_102) / 2, atol=1e-3)
    assert len(back[1]["temporal"]) == 1
    assert [o.prepared.number for o in results] == [100, 101, 102]
    assert results[1].record["evaluations_all_passes"] == 5 + 3


def test_multi_pass_uses_long_term_neighbours_in_every_pass(tmp_path):
    calls = {}
    for name, offsets in (("short", (1,)), ("long", (1, 2))):
        cfg = replace(CFG, long_term=offsets, multipass=replace(CFG.multipass, passes=3, pass_targets="processed"))
        solve = FakeSolver()
        list(multi.run(solve, cfg, clip(4, offsets=(1, 2)), WorkStore.open(str(tmp_path / name), {"config": {}})))
        calls[name] = [len(c["temporal"]) for c in solve.calls]
    assert max(calls["short"]) == 1 and max(calls["long"]) == 2
    assert calls["long"] != calls["short"]


def moving_clip(n, first=100, offsets=(1, 2)):
    """Textured frames whose content moves right 1 px per frame, with the flows that motion has: t → t−j
    is (−j, 0) (``back``), t−j → t is (+j, 0) (``ahead``), and for each flow its own random weights, so a
    target built from the wrong side, flow or weight differs from the right one."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 200, (H, W + n, 3))
    out = []
    for i in range(n):
        shift = lambda dx: np.broadcast_to(np.array([dx, 0.0], np.float32), (H, W, 2)).copy()  # noqa: E731
        weights = lambda: rng.uniform(0.2, 1.0, (H, W)).astype(np.float32)  # noqa: E731
        back = {j: (shift(-j), weights()) for j in offsets if j <= i}
        ahead = {j: (shift(+j), weights()) for j in offsets if j <= i}
        frame = base[:, n - i:n - i + W].astype(np.uint8)
        out.append(Prepared(first + i, frame, back, ahead, 0.0))
    return out


def test_refinement_passes_pull_toward_both_sides_by_default(store):
    """Pass 2 runs backward. Frame t is pulled toward the frames t+j just redone (warped into t by the
    flow t → t+j) and, by default, toward the frames t−j as pass 1 left them (warped by the flow t → t−j),
    each side with its flows' weights combined as in eq. 8. Computed here from those definitions."""
    cfg = replace(CFG, long_term=(1, 2), long_term_rule="nearest", multipass=replace(CFG.multipass, passes=2))
    assert cfg.multipass.pass_targets == "both"
    frames = moving_clip(4)
    solve = FakeSolver()
    list(multi.run(solve, cfg, frames, store))
    assert len(solve.calls) == 8
    p1 = {n: store.load(n, 1)[0] / 257.0 for n in range(100, 104)}  # as kept (16 bits), as a resume sees them
    p2 = {n: store.load(n, 2)[0] / 257.0 for n in range(100, 104)}

    def side(pairs):
        """(warped image, weight) per offset, nearest first; a pixel follows the nearest frame it is seen
        in: c_j minus what nearer offsets already cover, at least 0 (eq. 8)."""
        out, covered = [], np.zeros((H, W), np.float32)
        for image, (flow, c) in pairs:
            out.append((warp(image, flow), np.maximum(c - covered, 0.0)))
            covered = covered + c
        return out

    for k, n in enumerate((103, 102, 101, 100)):
        t = n - 100
        redone = side([(p2[n + j], frames[t + j].ahead[j]) for j in (1, 2) if t + j < 4])
        previous = side([(p1[n - j], frames[t].back[j]) for j in (1, 2) if t - j >= 0])
        got = solve.calls[4 + k]["temporal"]
        expected = redone + previous
        assert len(got) == len(expected), n
        for i, ((image, weight), (want_image, want_weight)) in enumerate(zip(got, expected)):
            assert np.allclose(image, want_image, atol=1e-4), (n, i, "image")
            assert np.allclose(weight, want_weight, atol=1e-6), (n, i, "weight")
    assert not np.allclose(frames[1].back[1][0], frames[1].ahead[1][0])  # the two directions differ here
    # The paper's rule: only the redone side.
    solve = FakeSolver()
    paper = replace(cfg, multipass=replace(cfg.multipass, pass_targets="processed"))
    list(multi.run(solve, paper, moving_clip(4), WorkStore.open(store.root + "p", {"config": {}})))
    assert [len(c["temporal"]) for c in solve.calls[4:]] == [0, 1, 2, 2]


def test_multi_pass_refuses_a_schedule_without_temporal_loss():
    with pytest.raises(ConfigError, match="never applies"):
        MultiPassConfig(passes=4, temporal_from_pass=8)
    assert MultiPassConfig(passes=4).temporal_from_pass == 2


def test_multi_pass_resumes_inside_a_pass(store):
    cfg = replace(CFG, multipass=replace(CFG.multipass, passes=2))
    list(multi.run(FakeSolver(), cfg, clip(3), store))
    for name in ("000100.json", "000100.png"):
        os.remove(os.path.join(store.root, "frames", "p02", name))
    solve = FakeSolver()
    list(multi.run(solve, cfg, clip(3), store))
    assert len(solve.calls) == 1 and solve.calls[0]["iterations"] == 3


def test_pick_declares_what_each_driver_needs():
    assert pick(CFG) is single and not single.NEEDS_WHOLE_CLIP
    assert pick(replace(CFG, multipass=replace(CFG.multipass, passes=3))) is multi and multi.NEEDS_WHOLE_CLIP


def test_every_rule_lets_go_of_a_far_frame_where_the_source_contradicts_its_flow(store):
    """Under "every" the pull toward t−2 fades where the source frame t−2 brought in by its flow does not
    show what frame t shows (a long flow gone wrong: another object's picture), and stays whole where
    they differ by a level a frame."""
    h, w = 32, 48
    frames = []
    for i in range(3):
        flows = {j: (np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)) for j in (1, 2) if j <= i}
        image = np.full((h, w, 3), 100 + i, np.uint8)
        if i == 0:
            image[:, :w // 2] = 200         # frame t−2 shows something else on the left half
        frames.append(Prepared(100 + i, image, flows, dict(flows), 0.0))
    solve = FakeSolver()
    list(single.run(solve, replace(CFG, long_term=(1, 2), long_term_rule="every"), frames, store))
    near, far = (c for _, c in solve.calls[2]["temporal"])
    assert np.all(near == 1.0)
    assert far[:, :w // 2 - 8].max() < 0.05 and far[:, w // 2 + 8:].min() > 0.9
    solve = FakeSolver()
    list(single.run(solve, replace(CFG, long_term=(1, 2), long_term_rule="nearest"), frames,
                    WorkStore.open(store.root + "n", {"input": {}, "config": {}})))
    assert np.all(solve.calls[2]["temporal"][1][1] == 0.0)  # the paper's rule: t−1 saw every pixel


def test_the_students_keyframes_start_new_picture_from_the_frame(store, tmp_path):
    """A keyframe is chosen where much of the picture is new, so its unreliable pixels start from the
    frame (the earlier rule), not from the default start's smeared paint, which the student would learn."""
    import torch
    from videostyle.run.drivers import student
    from videostyle.run.keyframes import Keyframe
    frames = clip(3, weight=0.0)

    def flows(n, frame_n, k, frame_k):  # identity flows the check rejects everywhere
        return np.zeros((H, W, 2), np.float32), np.zeros((H, W), np.float32), None, None
    solve = FakeSolver()
    job = student.Job(torch.device("cpu"), str(tmp_path / "work"))
    student.stylize_keyframes(solve, CFG, frames, [Keyframe(100, "first"), Keyframe(102, "new")], store, flows, job)
    assert CFG.init == "warped"  # the default, which the keyframes do not take
    assert np.all(solve.calls[1]["start"] == 30)  # frame 102's own picture, not frame 100's paint (11)
