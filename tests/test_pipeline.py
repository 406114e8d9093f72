"""End to end on the real packaged VGG19 at 48×32: real codecs, real audio, known motion."""
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle import LossConfig, OptimConfig, StylizeConfig, stylize_video

W, H, SHIFT = 48, 32, 1


PANO = texture(H, W * 2, (10, 20), seed=1)


def pan(i, w, h):
    """Frame i: a window on a textured panorama, moved SHIFT px left per frame (content moves right)."""
    x = 40 - SHIFT * i
    return np.ascontiguousarray(PANO[:h, x:x + w])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    video = make_video(d / "pan.mp4", n=6, image=pan, audio="aac", rate=Fraction(24))
    style = d / "style.png"
    yy, xx = np.mgrid[0:64, 0:64]
    img = np.stack([(np.sin(xx / 3.0) * 120 + 128), (np.sin((xx + yy) / 5.0) * 120 + 128),
                    np.full_like(xx, 60.0)], -1).astype(np.uint8)
    cv2.imwrite(str(style), img)
    return video, str(style)


def quick(**kw):
    return StylizeConfig(optim=OptimConfig(iterations_first=40, iterations_later=20), device="cpu", **kw)


def brief(**kw):
    """For tests of what is written where, not of the picture: a few iterations a frame."""
    return StylizeConfig(optim=OptimConfig(iterations_first=10, iterations_later=5), device="cpu", **kw)


def read_back(path):
    with av.open(path) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return frames, v.average_rate, [s.type for s in c.streams]


def test_video_round_trip_keeps_count_rate_and_audio(clip, tmp_path):
    video, style = clip
    out = str(tmp_path / "out.mp4")
    report = stylize_video(video, style, out, brief(), report=str(tmp_path / "r.json"))
    frames, rate, streams = read_back(out)
    assert len(frames) == 6 and rate == 24 and "audio" in streams
    assert report["audio"] == "copy" and (tmp_path / "r.json").exists()
    assert len(report["frames"]) == 6 and report["frames"][1]["evaluations"] > 0
    assert set(report["stages_seconds"]) >= {"decode", "flow", "optimize", "encode"}
    # Stylized, not a copy: the picture moved away from the source.
    assert np.abs(frames[0].astype(int) - pan(0, W, H)).mean() > 10


def test_temporal_consistency_on_a_known_pan(clip, tmp_path):
    """Warping error (flow and weights from the source) with the temporal loss stays near the source's own
    noise floor, far below independent per-frame stylization from random noise."""
    video, style = clip
    ours = stylize_video(video, style, str(tmp_path / "a.mp4"), quick())["totals"]
    independent = stylize_video(video, style, str(tmp_path / "b.mp4"),
                                quick(init="random", first_init="random",
                                      loss=LossConfig(temporal_weight=0)))["totals"]
    assert ours["warping_error"] < 0.25 * independent["warping_error"]
    assert ours["warping_error"] < 3 * ours["source_warping_error"] + 0.0007
    assert ours["style_distance"] < independent["style_distance"] * 2


def test_frame_sequence_in_and_out_with_selection(clip, tmp_path):
    video, style = clip
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        cv2.imwrite(str(src / f"shot.{1001 + i}.png"), pan(i, W, H)[..., ::-1])
    out = tmp_path / "out"
    out.mkdir()
    stylize_video(str(src), style, str(out / "%04d.png"), brief(), frames="1:3")
    assert sorted(p.name for p in out.iterdir()) == ["1002.png", "1003.png"]
    encoded = str(tmp_path / "seq.mp4")
    stylize_video(str(src), style, encoded, brief(), fps=12)
    frames, rate, streams = read_back(encoded)
    assert len(frames) == 4 and rate == 12 and streams == ["video"]


def test_flows_from_a_folder_give_the_same_frames(clip, tmp_path, capsys):
    """`videostyle flow` writes what `stylize` computes: reading it back (masks recomputed from the
    flows) reproduces the frames exactly."""
    import os
    from videostyle.cli import main
    video, style = clip
    assert main(["flow", video, "-o", str(tmp_path / "flows")]) == 0
    for name in os.listdir(tmp_path / "flows"):
        if name.endswith(".pgm"):
            os.remove(tmp_path / "flows" / name)
    a, b = tmp_path / "a", tmp_path / "b"
    stylize_video(video, style, str(a) + "/", brief())
    stylize_video(video, style, str(b) + "/", brief(), flow_dir=str(tmp_path / "flows"))
    for name in sorted(os.listdir(a)):
        assert np.array_equal(cv2.imread(str(a / name)), cv2.imread(str(b / name))), name


def test_flow_auto_is_deepflow_guarded_by_dis_on_the_cpu_and_the_work_folder_keeps_auto(clip, tmp_path):
    """The default --flow auto renders on the CPU with deepflow+dis (flows filed under that method), the
    report says so, and the work folder's settings keep "auto", so a run moved to a GPU machine (where
    auto is DIS) continues instead of being refused."""
    import json
    import os
    _, style = clip
    wide = texture(60, 130, (10, 20), seed=2)
    video = make_video(tmp_path / "pan96.mp4", n=3, image=lambda i, w, h: np.ascontiguousarray(wide[:h, 30 - i:30 - i + w]),
                       w=96, h=60)  # DeepFlow only from 50 px a side: smaller frames get DIS
    work = tmp_path / "work"
    report = stylize_video(video, style, str(tmp_path / "o") + "/", brief(), work_dir=str(work), keep_work=True)
    assert report["config"]["flow"] == "deepflow+dis"
    assert [n for n in os.listdir(work / "flows")] == ["deepflow+dis-medium-96x60"]
    with open(work / "manifest.json") as f:
        assert json.load(f)["config"]["flow"] == "auto"
