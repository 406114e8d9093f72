"""``--draft-finish`` (issue 24): a quick draft of the whole shot, each frame drafted
from the draft before it, then every frame finished from its own draft and pulled toward the finished
frame before it (drivers/chunked.py with one chunk over the range). Frames several apart then share the
draft's texture, which a chain of single-pass frames inherits one step at a time only. Real network and
weights, tiny frames: a textured scene panned 0.7 px a frame."""
import os

import cv2
import numpy as np
import pytest

from mediagen import texture
from videostyle.config import ChunkConfig, MultiPassConfig, OptimConfig, StylizeConfig
from videostyle.errors import ConfigError
from videostyle.io.bundled import paintings
from videostyle.io.resize import resize_rgb
from videostyle.run.drivers import chunked, multi, pick, single, student
from videostyle.run.evaluate import evaluate_video
from videostyle.run.pipeline import stylize_video

W, H, N = 48, 32, 10
BIG = texture(H * 4, W * 8, (H // 2, W), seed=11)
ITERATIONS = OptimConfig(iterations_first=100, iterations_later=40)


def pan(i: int) -> np.ndarray:
    shifted = cv2.warpAffine(BIG, np.float32([[1, 0, -2.8 * i], [0, 1, 0]]), (W * 4, H * 4), flags=cv2.INTER_CUBIC)
    return resize_rgb(shifted, (W, H))


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    root = tmp_path_factory.mktemp("draft")
    os.makedirs(root / "src")
    for i in range(N):
        cv2.imwrite(str(root / "src" / f"{i:03d}.png"), pan(i)[..., ::-1])
    out = {}
    for name, cfg in {"draft": StylizeConfig(optim=ITERATIONS, device="cpu", draft_finish=True),
                      # The short-term single pass (the default until --long-term 1,2,4 every, which
                      # holds the paint four frames apart by itself): the comparison the docs state.
                      "single": StylizeConfig(optim=ITERATIONS, device="cpu", long_term=(1,))}.items():
        report = stylize_video(str(root / "src"), paintings()["starry_night"], str(root / name / "%03d.png"), cfg)
        stability = evaluate_video(str(root / name), str(root / "src"), device="cpu")
        out[name] = (report, {d: stability["warping_error"][d] / stability["source_warping_error"][d]
                              for d in ("1", "2", "4")})
    return out


@pytest.mark.slow
def test_draft_finish_is_steadier_four_frames_apart_than_the_single_pass(renders):
    (_, draft), (_, single_pass) = renders["draft"], renders["single"]
    # Guarded: with pick() returning the single-pass driver for --draft-finish, both are the same render.
    assert draft["4"] < 0.85 * single_pass["4"], (draft, single_pass)
    assert draft["2"] < single_pass["2"], (draft, single_pass)


@pytest.mark.slow
def test_the_report_says_how_the_frames_were_rendered_and_counts_the_draft(renders):
    (draft, _), (single_pass, _) = renders["draft"], renders["single"]
    assert draft["scheme"] == "draft-then-finish" and single_pass["scheme"] == "single-pass"
    assert "chunks" not in draft  # one chunk over the range: no seams to report
    assert 0 < draft["draft_evaluations"] < draft["totals"]["evaluations"]
    # The evaluations per frame count the draft too, and stay near the single pass's (issue 24: ≤ 1.25×).
    assert draft["totals"]["evaluations"] <= 1.5 * single_pass["totals"]["evaluations"]


def test_a_stepped_range_is_refused_with_one_line(tmp_path):
    os.makedirs(tmp_path / "src")
    for i in range(6):
        cv2.imwrite(str(tmp_path / "src" / f"{i:03d}.png"), pan(i)[..., ::-1])
    with pytest.raises(ConfigError, match="--draft-finish needs one unbroken range"):
        stylize_video(str(tmp_path / "src"), paintings()["starry_night"], str(tmp_path / "out" / "%03d.png"),
                      StylizeConfig(device="cpu", draft_finish=True), frames="0-4x2")
    assert not os.path.exists(tmp_path / "out")


def test_which_driver_renders_what():
    assert pick(StylizeConfig()) is single  # the default: the single pass
    assert pick(StylizeConfig(draft_finish=True)) is chunked
    assert pick(StylizeConfig(draft_finish=True, objective="dream")) is chunked
    assert pick(StylizeConfig(multipass=MultiPassConfig(passes=3))) is multi
    assert pick(StylizeConfig(chunks=ChunkConfig(chunk_frames=8))) is chunked
    assert pick(StylizeConfig(method="student")) is student
    for bad in (dict(method="student"), dict(chunks=ChunkConfig(chunk_frames=8)), dict(multipass=MultiPassConfig(passes=2))):
        with pytest.raises(ConfigError, match="--draft-finish is one chunk"):
            StylizeConfig(draft_finish=True, **bad)


def card_clip(n: int = 8) -> list[np.ndarray]:
    """A dark textured scene (still) with a bright textured card moving 4 px right a frame in front of it."""
    scene = (texture(H, W, (12, 16), seed=5) * 0.5).astype(np.uint8)
    card = np.clip(texture(14, 12, (3, 3), seed=6).astype(np.int32) + 140, 0, 255).astype(np.uint8)
    frames = []
    for i in range(n):
        f = scene.copy()
        f[9:23, 4 + 4 * i: 16 + 4 * i] = card
        frames.append(f)
    return frames


def test_the_draft_does_not_drag_a_passing_cards_paint_behind_it(tmp_path):
    """Where a card has moved away, frame n shows scene that frame n − 1 did not: the draft starts from
    the photo there, not from the draft before it warped (which drags the card's paint and the scene
    around it into the gap: a trail the finish is held to). A solver that returns its start image shows
    the start rule itself, with real flow; the reference is the same chain of warps with no restart.
    Broken on purpose (started from the warped draft on every pixel): the driver's trail is the
    reference's."""
    from videostyle.flow.warp import warp
    from videostyle.io.media import Frame
    from videostyle.run.drivers.core import prepare
    from videostyle.run.flows import EstimatedFlows
    from videostyle.run.store import WorkStore

    frames = card_clip()
    flows = EstimatedFlows("dis", "medium", None, (W, H))
    store = WorkStore.open(str(tmp_path / "w"), {"input": {}, "config": {}})
    cfg = StylizeConfig(device="cpu", draft_finish=True, follow_light=0.0)

    def solve(content, start, temporal, iterations, cold):
        return start, {"iterations": 0, "evaluations": 0, "seconds": 0.0, "terms": {}}

    out = list(chunked.run(solve, cfg, prepare([Frame(i, None, f) for i, f in enumerate(frames)], flows),
                           store, flows=flows, chunks=tuple(chunked.plan(0, len(frames), len(frames)))))
    dragged = frames[0].astype(np.float32)
    for n in range(1, len(frames)):
        dragged = warp(dragged, flows(n, frames[n], n - 1, frames[n - 1])[0])
    last = len(frames) - 1
    behind = (slice(11, 21), slice(6, 4 + 4 * last - 2))  # scene the card has left, away from its edges
    drafted = store.load(last, chunked.DRAFT_PASS)[0].astype(np.float32) / 257.0
    scene = frames[last][behind].astype(np.float32)
    trail, reference = (np.abs(image[behind] - scene).mean() for image in (drafted, dragged))
    assert reference > 30, reference  # without the restart the gap holds dragged paint
    assert trail < 0.7 * reference, (trail, reference)
    assert np.array_equal(out[last].stylized, drafted)  # the solver kept the start: the frame is the draft
