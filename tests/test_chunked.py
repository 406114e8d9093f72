"""The chunked driver (drivers/chunked.py) with a fake solver: the chunk plan, the keyframe relay, the
seam ramp, resume, and the critical path, in milliseconds (no network, no Ray)."""
from dataclasses import replace

import numpy as np
import pytest

from videostyle.config import ChunkConfig, MultiPassConfig
from videostyle.drivers import chunked, pick
from videostyle.errors import ConfigError
from videostyle.store import WorkStore

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


def chunk_cfg(k=4, seam=2, **kw):
    return replace(CFG, chunks=ChunkConfig(chunk_frames=k, seam_frames=seam), **kw)


def test_plan_covers_every_frame_once_and_folds_a_short_tail():
    chunks = chunked.plan(100, 9, 4)
    assert [c.numbers for c in chunks] == [(100, 101, 102, 103), (104, 105, 106, 107, 108)]
    assert [c.right for c in chunks] == [104, None]
    chunks = chunked.plan(0, 12, 4)
    assert [c.key for c in chunks] == [0, 4, 8] and chunks[-1].right is None
    assert chunked.plan(0, 3, 8)[0].numbers == (0, 1, 2)


def test_seam_ramp_rises_toward_the_seam_and_is_zero_before():
    assert [chunked.seam_ramp(d, 3) for d in (5, 4, 3, 2, 1)] == [0, 0, 0.25, 0.5, 0.75]
    assert chunked.seam_ramp(1, 0) == 0


def test_keyframes_are_a_chain_and_chunks_start_from_their_keyframe(store):
    solve, flows = FakeSolver(), flows_identity()
    frames = clip(12, first=100)
    out = list(chunked.run(solve, chunk_cfg(), frames, store, flows=flows))
    assert [o.prepared.number for o in out] == list(range(100, 112))
    # Keyframes first: 100 cold from its frame (10), 104 from 100's result (11) warped, 108 from 104's (12).
    keys = solve.calls[:3]
    assert keys[0]["cold"] and np.all(keys[0]["start"] == 10)
    assert not keys[1]["cold"] and np.all(keys[1]["start"] == 11) and np.all(keys[1]["temporal"][0][0] == 11)
    assert np.all(keys[2]["start"] == 12)
    # The keyframe pairs' flows were asked for with absolute numbers, K apart.
    assert (104, 100) in flows.calls and (108, 104) in flows.calls
    # Chunk 0's frame 101 starts from keyframe 100's result.
    assert np.all(solve.calls[3]["start"] == 11)
    by = {o.prepared.number: o for o in out}
    assert by[104].record["keyframe"] and by[101].record["chunk"] == 0


def test_the_last_frames_of_a_chunk_are_pulled_toward_the_next_keyframe(store):
    solve, flows = FakeSolver(), flows_identity()
    list(chunked.run(solve, chunk_cfg(k=4, seam=2), clip(8, first=0), store, flows=flows))
    # Calls: keyframes 0, 4; chunk 0: frames 1, 2, 3; chunk 1: 5, 6, 7.
    f1, f2, f3 = solve.calls[2:5]
    assert len(f1["temporal"]) == 1                       # 3 frames before the seam: no pull
    (prev2, w_prev2), (key2, w_key2) = f2["temporal"]      # 2 before: 1/3 toward keyframe 4
    assert np.allclose(w_key2, 1 / 3) and np.allclose(w_prev2, 2 / 3)
    assert np.all(key2 == 12)                              # keyframe 4's result (11 + 1), warped
    (_, w_prev3), (_, w_key3) = f3["temporal"]
    assert np.allclose(w_key3, 2 / 3) and np.allclose(w_prev3, 1 / 3)
    assert all(len(c["temporal"]) == 1 for c in solve.calls[5:])  # the last chunk has no seam after it


def test_a_rerun_skips_finished_frames_and_gives_the_same_frames(store, tmp_path):
    frames = clip(12, first=0)
    first = [o.stylized for o in chunked.run(FakeSolver(), chunk_cfg(), frames, store, flows=flows_identity())]
    solve = FakeSolver()
    again = list(chunked.run(solve, chunk_cfg(), frames, store, flows=flows_identity()))
    assert solve.calls == [] and all(o.resumed for o in again)
    assert all(np.array_equal(a, o.stylized) for a, o in zip(first, again))


def test_a_chunk_whose_keyframe_is_missing_says_so(store):
    chunks = chunked.plan(0, 8, 4)
    frames = clip(8, first=0)
    read = lambda ns: [frames[n].frame for n in ns]  # noqa: E731
    with pytest.raises(RuntimeError, match="keyframe 0"):
        list(chunked.chunk(FakeSolver(), chunk_cfg(), store, chunks, 0, read, flows_identity()))


def test_critical_path_is_the_keyframe_chain_plus_one_chunk():
    chunks = chunked.plan(0, 12, 4)
    evals = {n: 10 for n in range(12)}
    evals[0] = 100
    # Chunk 1 waits for keyframes 0, 4, 8 (120) and runs 3 frames (30); the last chunk as much.
    assert chunked.critical_path(chunks, evals) == 150
    assert sum(evals.values()) == 210


def test_pick_and_refusals():
    assert pick(chunk_cfg()) is chunked
    with pytest.raises(ConfigError):
        ChunkConfig(chunk_frames=1)
    with pytest.raises(ConfigError, match="seam"):
        ChunkConfig(chunk_frames=4, seam_frames=4)
    with pytest.raises(ConfigError, match="passes"):
        replace(CFG, chunks=ChunkConfig(chunk_frames=4), multipass=MultiPassConfig(passes=2))
