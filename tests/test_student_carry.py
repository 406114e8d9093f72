"""The fast mode's keyframe carry (method/carry.py, issue 25): between keyframes, each frame is painted
with the keyframes' own strokes carried in by the flow where it holds, and by the student elsewhere."""
import dataclasses

import cv2
import numpy as np

from mediagen import make_video, texture
from videostyle.config import OptimConfig, StudentConfig, StylizeConfig
from videostyle.io.bundled import paintings
from videostyle.method.carry import Side, carry
from videostyle.run.pipeline import stylize_video

W, H = 48, 32


def strokes(h: int, w: int, seed: int) -> np.ndarray:
    """A fine high-contrast pattern no colour mapping of a smooth frame would give: the 'paint'."""
    return texture(h, w, (h // 2, w // 2), seed, cv2.INTER_NEAREST).astype(np.float32)


def test_the_keyframes_paint_where_the_flow_holds_and_the_students_elsewhere():
    key = strokes(H, W + 8, 3)
    frame = texture(H, W, (4, 6), 1)
    student = np.full((H, W, 3), 128.0, np.float32)
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 3.0                      # pixel p of the frame is at p + (3, 0) in the keyframe
    weight = np.ones((H, W), np.float32)
    weight[:, 30:] = 0.0                    # the flow fails on the right: the student paints there
    out = carry(frame, student, [Side(key, frame, flow, weight, 1.0)], follow_light=0.0)
    carried = key[:, 3:3 + W]
    assert np.abs(out[:, :24] - carried[:, :24]).mean() < 1.0          # the keyframe's strokes, moved
    assert np.abs(out[:, 36:] - student[:, 36:]).max() < 1.0            # the student's paint
    # Two keyframes: the nearer one counts more.
    other = Side(np.zeros_like(key), frame, flow, np.ones((H, W), np.float32), 0.25)
    both = carry(frame, student, [Side(key, frame, flow, np.ones((H, W), np.float32), 0.75), other], 0.0)
    assert np.allclose(both[:, :W - 8], 0.75 * carried[:, :W - 8], atol=1.5)


def pan(i: int, w: int, h: int) -> np.ndarray:
    big = texture(h + 4, w + 40, (5, 12), 7)
    return big[2:2 + h, 2 * i:2 * i + w]     # 2 px a frame to the left


def test_frames_between_keyframes_keep_the_keyframes_strokes(tmp_path):
    """A pan with keyframe 0 its only keyframe: with the carry, frame t is (nearly) keyframe 0's paint moved
    by the pan, along the chain of frame-to-frame flows; the student alone
    paints an average that misses it by far more."""
    video = tmp_path / "pan.mp4"
    make_video(video, n=8, w=W, h=H, image=pan)
    style = paintings()["starry_night"]
    cfg = StylizeConfig(max_side=W, device="cpu", method="student",
                        optim=OptimConfig(iterations_first=30, iterations_later=10),
                        student=StudentConfig(steps=60, patch=24, keyframe_every=100, new_content=1.0))

    def frames(config, name):
        stylize_video(str(video), style, str(tmp_path / name / "%02d.png"), config)
        return [cv2.imread(str(tmp_path / name / f"{t + 1:02d}.png")).astype(np.float32) for t in range(8)]

    carried = frames(cfg, "carried")
    alone = frames(dataclasses.replace(cfg, student=dataclasses.replace(cfg.student, no_carry=True)), "alone")
    key = carried[0]                          # a keyframe is its own stylization
    for t in (2, 4, 6):
        moved = key[:, 2 * t:]                # frame t's pixel x is frame 0's x + 2t
        err_carried = np.abs(carried[t][:, :W - 2 * t - 2] - moved[:, :W - 2 * t - 2]).mean()
        err_alone = np.abs(alone[t][:, :W - 2 * t - 2] - moved[:, :W - 2 * t - 2]).mean()
        assert err_carried < 0.5 * err_alone, (t, err_carried, err_alone)


def test_a_keyframe_is_linked_to_the_one_before_along_the_frames_between(tmp_path):
    """The optimizer starts keyframe 6 from keyframe 0's paint moved by the flows composed frame to frame
    (0→1→…→6), as the carry moves it, not by one long-range flow. The solver here returns its start
    unchanged, so the keyframe is that warm start: the pan's 12 px shift of keyframe 0's strokes."""
    from videostyle.run.drivers.core import Prepared
    from videostyle.run.drivers.student import Job, stylize_keyframes
    from videostyle.run.flows import EstimatedFlows
    from videostyle.run.keyframes import Keyframe
    from videostyle.run.store import WorkStore
    frames = [Prepared(t, pan(t, W, H), {}, {}, 0.0) for t in range(7)]
    estimate, asked = EstimatedFlows("dis", "medium"), []

    def flows(t, image_t, s, image_s):
        asked.append((t, s))
        return estimate(t, image_t, s, image_s)

    paint0 = strokes(H, W, 5)
    cfg = StylizeConfig(max_side=W, device="cpu", method="student", follow_light=0.0)
    job = Job(device=None, work_dir=str(tmp_path), artist={0: paint0})
    out = stylize_keyframes(lambda frame, start, temporal, iterations, cold: (start, {"evaluations": 0}), cfg,
                            frames, [Keyframe(0, "artist"), Keyframe(6, "every 6 frames")],
                            WorkStore(str(tmp_path / "w")), flows, job)
    assert asked and all(abs(t - s) == 1 for t, s in asked), asked
    # Frame 6 shows the panorama 12 px further right: its column x is keyframe 0's column x + 12.
    moved = out[6][4:-4, 4:W - 16]
    assert np.abs(moved - paint0[4:-4, 16:W - 4]).mean() < 12.0


def test_the_chains_of_an_interval_cost_one_flow_a_frame_and_side_and_equal_the_frame_by_frame_loop():
    """Painting the frames between keyframes 0 and 8 in order asks each frame-to-frame flow once (the
    chain of frame n is frame n∓1's plus one step), not once per frame it lies on the path of (8 × 7
    asks without the kept steps); and the chains are the loop's, to the bit."""
    from videostyle.run.drivers.core import Prepared
    from videostyle.method.carry import chain_step
    from videostyle.run.drivers.student import Chains
    from videostyle.run.flows import EstimatedFlows
    frames = [Prepared(t, pan(t, W, H), {}, {}, 0.0) for t in range(9)]
    estimate, asked = EstimatedFlows("dis", "medium"), []

    def flows(t, image_t, s, image_s):
        asked.append((t, s))
        return estimate(t, image_t, s, image_s)

    def loop(n, k):  # the chain composed from k back to n, every step asked again
        step = 1 if k > n else -1
        grid = np.stack(np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32)), -1)
        to_k, weight = np.zeros((H, W, 2), np.float32), np.ones((H, W), np.float32)
        for m in reversed(range(n, k, step)):
            f, c, _, _ = estimate(m, frames[m].frame, m + step, frames[m + step].frame)
            c = chain_step(c)
            moved = grid + f
            to_k = f + cv2.remap(to_k, moved[..., 0], moved[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            weight = c * cv2.remap(weight, moved[..., 0], moved[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return to_k, weight

    chains = Chains(frames, flows)
    chains.interval(0, 8)
    for n in range(1, 8):
        for k in (0, 8):
            got, want = chains(n, k), loop(n, k)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (n, k)
    assert len(asked) == len(set(asked)) == 14, asked  # 1→0 … 7→6 and 7→8 … 1→2, each once


def test_a_chain_drops_the_thin_lines_a_check_draws_on_each_step_but_not_a_wide_failure():
    """Each step's check fails along a line a pixel wide at a new place (an edge's motion boundary, a
    pixel-wide disocclusion), and on a 10-px block (an occluder's trail). Multiplied along 12 steps the
    lines would leave half the weight on a third of the frame; the chain keeps nearly all of it but the
    block."""
    from videostyle.run.drivers.core import Prepared
    from videostyle.run.drivers.student import Chains
    h, w, n = 40, 64, 13
    frames = [Prepared(t, np.zeros((h, w, 3), np.float32), {}, {}, 0.0) for t in range(n)]

    def flows(t, image_t, s, image_s):
        c = np.ones((h, w), np.float32)
        c[:, 4 * t + 2] = 0.0                          # a line one pixel wide, somewhere new each step
        if t == 6:
            c[14:24, 20:30] = 0.0                      # one step's wide failure
        c = cv2.GaussianBlur(c, (0, 0), 0.8)           # as consistency_weights smooths its mask
        return np.zeros((h, w, 2), np.float32), c, None, None

    chained = Chains(frames, flows)(n - 1, 0)[1]
    outside = np.ones((h, w), bool)
    outside[10:28, 16:34] = False
    assert chained[outside].min() > 0.9, chained[outside].min()  # 0.50 with the lines multiplied
    assert chained[16:22, 22:28].max() < 0.05
