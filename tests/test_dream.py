"""``videostyle dream`` end to end on a tiny moving texture (real packaged VGG19, 48×32, few iterations):
it writes the frames and a report, the layer's energy goes up, and dreaming with the temporal term
flickers less than dreaming each frame on its own."""
import json
import os

import numpy as np
import pytest

from videostyle.cli import main

from mediagen import make_sequence, texture

PANO = texture(32, 80, (5, 10), seed=4)
SHIFT = 2


def pan(i, w, h):
    """Frame i: a window moving SHIFT px per frame over a textured panorama (known, smooth motion)."""
    return np.ascontiguousarray(PANO[:h, 20 - SHIFT * i: 20 - SHIFT * i + w])


QUICK = ["--max-side", "48", "--iterations", "12,6", "--octaves", "2", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dream")
    clip = make_sequence(d / "clip", 5, pan)
    reports = {}
    for name, extra in (("temporal", []), ("perframe", ["--temporal-weight", "0", "--init", "image"])):
        out, report = d / name, d / f"{name}.json"
        assert main(["dream", clip, "-o", f"{out}/", "--report", str(report), *QUICK, *extra]) == 0
        reports[name] = (out, json.loads(report.read_text()))
    return clip, reports


def test_dream_writes_frames_and_a_report_with_more_layer_energy(runs):
    _, reports = runs
    out, report = reports["temporal"]
    assert len(os.listdir(out)) == 5
    assert report["config"]["objective"] == "dream" and report["styles"] == []
    assert report["config"]["dream"]["layer"] == "relu4_2"
    frames = report["frames"]
    assert len(frames) == 5 and all("dream" in f["terms"] and "style_distance" not in f for f in frames)
    ratio = np.mean([f["dream_energy"] / f["source_dream_energy"] for f in frames])
    assert ratio > 1.5


def test_temporal_dreaming_flickers_less_than_per_frame(runs):
    _, reports = runs
    temporal = reports["temporal"][1]["totals"]["warping_error"]
    perframe = reports["perframe"][1]["totals"]["warping_error"]
    assert temporal < perframe / 3


def test_dream_refuses_a_painting(runs, tmp_path, capsys):
    clip, _ = runs
    assert main(["dream", clip, "-o", str(tmp_path / "o.mp4"), "--style", clip, *QUICK]) == 2
    assert "dream takes no --style" in capsys.readouterr().err
