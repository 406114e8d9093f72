"""The chunked driver (drivers/chunked.py) with a fake solver: the chunk plan, the draft and the
finishing of frames from it, resume, and the critical path, in milliseconds (no network, no Ray)."""
from dataclasses import replace

import numpy as np
import pytest

from videostyle.config import ChunkConfig, MultiPassConfig
from videostyle.run.drivers import chunked, pick
from videostyle.errors import ConfigError
from videostyle.run.store import WorkStore

from test_drivers import CFG, FakeSolver, clip

H, W = 4, 6


def flows_identity(weight=1.0):
    """A flow source with zero motion: every pair is consistent with weight ``weight``."""
    calls = []

    def flows(t, ft, s, fs):
        calls.append((t, s))
        z, c = np.zeros((H, W, 2), np.float32), np.full((H, W), weight, np.float32)
        return z, c, z, c
    flows.calls = calls
    return flows


@pytest.fixture
def store(tmp_path):
    return WorkStore.open(str(tmp_path / "w"), {"input": {}, "config": {}})


def run_chunks(solve, cfg, frames, store, flows):
    """The chunked driver over ``frames`` with the plan a Shot would hold (run.plan.plan_shot)."""
    frames = list(frames)
    return chunked.run(solve, cfg, frames, store, flows=flows,
                       chunks=chunked.plan(frames[0].number, len(frames), cfg.chunks.chunk_frames))


def chunk_cfg(k=4, **kw):
    return replace(CFG, chunks=ChunkConfig(chunk_frames=k, draft_iterations=2, draft_anchor=3.0), **kw)


def test_plan_covers_every_frame_once_and_folds_a_short_tail():
    chunks = chunked.plan(100, 9, 4)
    assert [c.numbers for c in chunks] == [(100, 101, 102, 103), (104, 105, 106, 107, 108)]
    assert [c.numbers[0] for c in chunked.plan(0, 12, 4)] == [0, 4, 8]
    assert chunked.plan(0, 3, 8)[0].numbers == (0, 1, 2)


def test_tasks_are_one_frame_each_and_finishing_follows_the_draft_frame_by_frame():
    tasks = chunked.tasks(chunked.plan(0, 12, 4))
    assert len(tasks) == 24
    assert tasks[("draft", 0)] == () and tasks[("draft", 4)] == (("draft", 3),)
    assert tasks[("finish", 4)] == (("draft", 4),)                    # a keyframe: its draft only
    assert tasks[("finish", 5)] == (("draft", 5), ("finish", 4))
    # Drafts first, in order: every task is listed after what it needs.
    seen = set()
    for key, needs in tasks.items():
        assert all(n in seen for n in needs)
        seen.add(key)


def test_the_draft_runs_through_the_shot_and_chunks_finish_from_it(store):
    solve, flows = FakeSolver(), flows_identity()
    out = list(run_chunks(solve, chunk_cfg(), clip(12, first=100), store, flows=flows))
    assert [o.prepared.number for o in out] == list(range(100, 112))
    # In this process the scheme streams: frame n's draft, then frame n finished, frame after frame.
    calls, finishes = solve.calls[0::2], solve.calls[1::2]
    # The draft, one frame after the other across the chunks: 100 cold (from its frame, 10), then each
    # frame from the draft before (+1 each), capped at --draft-iterations.
    assert calls[0]["cold"] and np.all(calls[0]["start"] == 10) and calls[0]["iterations"] == 9
    assert [float(c["start"].mean()) for c in calls[1:12]] == list(range(11, 22))
    assert all(c["iterations"] == 2 and not c["cold"] for c in calls[1:12])
    assert np.all(calls[1]["temporal"][0][0] == 11)
    assert store.numbers(chunked.DRAFT_PASS) == list(range(100, 112))
    # Then the chunks: keyframe 100 finished from its draft (11), its only target that draft, on every
    # pixel, at --draft-anchor; so is keyframe 104 (draft 15), with no link to chunk 0.
    for key, draft in ((finishes[0], 11), (finishes[4], 15)):
        assert np.all(key["start"] == draft) and key["iterations"] == 5 and not key["cold"]
        (target, weight), = key["temporal"]
        assert np.all(target == draft) and np.allclose(weight, 3.0)
    # Each finished frame's record counts its own draft's work too.
    by = {o.prepared.number: o for o in out}
    assert by[104].record["keyframe"] and not by[105].record["keyframe"] and by[105].record["chunk"] == 1
    assert (by[100].record["draft_evaluations"], by[100].record["evaluations"]) == (9, 9 + 5)
    assert (by[104].record["draft_evaluations"], by[104].record["evaluations"]) == (2, 2 + 5)


def test_the_draft_never_gets_more_iterations_than_a_finished_frame(store):
    """``--iterations 9,5`` with a draft cap of 27: the draft's warm frames get 5, not 27."""
    solve = FakeSolver()
    cfg = replace(CFG, chunks=ChunkConfig(chunk_frames=4, draft_iterations=27, draft_anchor=3.0))
    list(run_chunks(solve, cfg, clip(8), store, flows=flows_identity()))
    drafts = solve.calls[0::2][1:8]  # draft n, then finish n, frame after frame
    assert all(c["iterations"] == cfg.optim.iterations_later for c in drafts)


def test_the_draft_starts_from_paint_where_the_flow_is_unreliable(store):
    """Where the flow's weight is 0 (disocclusions, motion boundaries) the single pass restarts from the
    photo; the draft starts from the warped draft before it there too, and its temporal loss still
    ignores those pixels."""
    solve = FakeSolver()
    list(run_chunks(solve, chunk_cfg(), clip(8, first=0), store, flows=flows_identity(weight=0.0)))
    drafts = solve.calls[0::2]  # draft n, then finish n, frame after frame
    assert [float(c["start"].mean()) for c in drafts[1:8]] == list(range(11, 18))   # never the frame
    (target, weight), = drafts[1]["temporal"]
    assert np.all(target == 11) and np.all(weight == 0)


def test_finished_frames_get_at_most_the_finish_cap(store):
    solve = FakeSolver()
    cfg = replace(CFG, chunks=ChunkConfig(chunk_frames=4, draft_iterations=2, finish_iterations=3))
    list(run_chunks(solve, cfg, clip(8), store, flows=flows_identity()))
    assert [c["iterations"] for c in solve.calls[1::2]] == [3] * 8  # draft n, finish n, frame after frame
    # … and never more than a frame of the single pass (--iterations 9,5).
    solve = FakeSolver()
    cfg = replace(cfg, chunks=replace(cfg.chunks, finish_iterations=50))
    list(run_chunks(solve, cfg, clip(8), WorkStore.open(str(store.root) + "2", {"input": {}, "config": {}}),
                     flows=flows_identity()))
    assert [c["iterations"] for c in solve.calls[1::2]] == [5] * 8


def test_a_chunk_frame_starts_from_its_draft_pulled_toward_the_finished_frame_before(store):
    solve, flows = FakeSolver(), flows_identity()
    list(run_chunks(solve, chunk_cfg(), clip(8, first=0), store, flows=flows))
    # Calls: draft 0, finish 0 (chunk 0's keyframe), draft 1, finish 1, …
    f1 = solve.calls[3]
    assert np.all(f1["start"] == 12)                         # draft 1 (11 + 1)
    (previous, c), (draft, anchor) = f1["temporal"]
    assert np.all(previous == 12) and np.allclose(c, 1)      # keyframe 0 finished (11 + 1), warped
    assert np.all(draft == 12) and np.allclose(anchor, 3.0)
    assert not f1["cold"] and f1["iterations"] == 5


def test_a_rerun_skips_finished_frames_and_gives_the_same_frames(store, tmp_path):
    frames = clip(12, first=0)
    first = [o.stylized for o in run_chunks(FakeSolver(), chunk_cfg(), frames, store, flows=flows_identity())]
    solve = FakeSolver()
    again = list(run_chunks(solve, chunk_cfg(), frames, store, flows=flows_identity()))
    assert solve.calls == [] and all(o.resumed for o in again)
    assert all(np.array_equal(a, o.stylized) for a, o in zip(first, again))


def test_a_task_whose_draft_is_missing_says_so(store):
    chunks = chunked.plan(0, 8, 4)
    frames = clip(8, first=0)
    read = lambda ns: [frames[n].frame for n in ns]  # noqa: E731
    with pytest.raises(RuntimeError, match="draft of frame 0 .* chunk 0 needs it"):
        chunked.finish(FakeSolver(), chunk_cfg(), store, chunks, 0, read, flows_identity())
    with pytest.raises(RuntimeError, match="draft of frame 3 .* the draft of frame 4 needs it"):
        chunked.draft(FakeSolver(), chunk_cfg(), store, chunks, 4, read, flows_identity())


def test_critical_path_is_the_longest_chain_of_tasks():
    chunks = chunked.plan(0, 12, 4)
    records = {n: {"evaluations": 12, "draft_evaluations": 2} for n in range(12)}
    records[0] = {"evaluations": 110, "draft_evaluations": 100}
    # Finishing (10 a frame) is slower than the draft (2): the last chunk starts when draft 8 is done
    # (100 + 8 × 2) and finishes 4 frames (40). Before one task per frame, it waited for its whole draft
    # (100 + 11 × 2 + 40 = 162).
    assert chunked.critical_path(chunks, records) == 156
    assert sum(r["evaluations"] for r in records.values()) == 242
    # A draft slower than the finishing: the whole draft (100 + 11 × 20), then the last frame's finishing.
    slow = {n: {"evaluations": 30, "draft_evaluations": 20} for n in range(12)}
    slow[0] = {"evaluations": 110, "draft_evaluations": 100}
    assert chunked.critical_path(chunks, slow) == 330


def test_pick_and_refusals():
    assert pick(chunk_cfg()) is chunked
    with pytest.raises(ConfigError):
        ChunkConfig(chunk_frames=1)
    with pytest.raises(ConfigError, match="draft"):
        ChunkConfig(chunk_frames=4, draft_iterations=0)
    with pytest.raises(ConfigError, match="finish"):
        ChunkConfig(chunk_frames=4, finish_iterations=0)
    with pytest.raises(ConfigError, match="passes"):
        replace(CFG, chunks=ChunkConfig(chunk_frames=4), multipass=MultiPassConfig(passes=2))
