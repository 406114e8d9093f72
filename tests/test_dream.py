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


def test_dream_preview_shows_what_the_dream_paints(runs, tmp_path, capsys):
    """dream-preview: a contact sheet of frames dreamed each as a first frame, with the dream's own options:
    its first tile is the dream's first frame (within a level of rounding), and a painting is refused."""
    import cv2
    clip, reports = runs
    sheet = tmp_path / "sheet.png"
    assert main(["dream-preview", clip, "-o", str(sheet), "--count", "2", *QUICK]) == 0
    image = cv2.imread(str(sheet))[..., ::-1]
    out, _ = reports["perframe"]
    first = cv2.imread(str(sorted(out.iterdir())[0]))[..., ::-1]
    h, w = first.shape[:2]
    source = cv2.imread(os.path.join(clip, "000.png"))[..., ::-1]
    assert image.shape == (2 * h + 12, 2 * w + 12, 3)
    np.testing.assert_array_equal(image[4:4 + h, 4:4 + w], source)
    dreamed = image[8 + h:8 + 2 * h, 4:4 + w].astype(int)
    assert np.abs(dreamed - first.astype(int)).max() <= 1
    assert np.abs(dreamed - source.astype(int)).mean() > 5  # dreamed, not the frame
    assert main(["dream-preview", clip, "-o", str(tmp_path / "s2.png"), "--style", clip, *QUICK]) == 2
    assert "dream-preview takes no --style" in capsys.readouterr().err
    assert not (tmp_path / "s2.png").exists()
