"""Batch: a failing job is reported, the others finish, the exit code says something failed."""
import os

import cv2
import numpy as np
import pytest

from mediagen import make_video
from videostyle.batch import Job, load_jobs
from videostyle.cli import main
from videostyle.errors import ConfigError


@pytest.fixture()
def shots(tmp_path):
    make_video(tmp_path / "a.mp4", n=2)
    make_video(tmp_path / "b.mp4", n=2)
    cv2.imwrite(str(tmp_path / "style.png"), np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.uint8))
    (tmp_path / "out").mkdir()
    return tmp_path


def test_one_missing_input_two_good(shots, capsys):
    (shots / "jobs.toml").write_text('''
[defaults]
iterations = "3,2"
max_side = 32
device = "cpu"

[[job]]
input = "a.mp4"
style = "style.png"
output = "out/a.mp4"

[[job]]
input = "missing.mp4"
style = "style.png"
output = "out/missing.mp4"

[[job]]
input = "b.mp4"
style = ["style.png"]
output = "out/b.mp4"
content_weight = 20
''')
    code = main(["batch", str(shots / "jobs.toml"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(os.listdir(shots / "out")) == ["a.mp4", "b.mp4"]
    assert "missing.mp4" in captured.err and "2 of 3 jobs succeeded" in captured.err
    assert captured.out.count("FAILED") == 1


def test_glob_inputs(shots, capsys):
    code = main(["batch", "--inputs", str(shots / "*.mp4"), "--style", str(shots / "style.png"),
                 "--output-dir", str(shots / "out"), "--options", "--iterations 3,2 --device cpu", "--quiet"])
    assert code == 0
    assert sorted(os.listdir(shots / "out")) == ["a.mp4", "b.mp4"]


def test_job_file_errors_and_argv(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[job]]\ninput = 'x.mp4'\n")
    with pytest.raises(ConfigError, match="lacks style, output"):
        load_jobs(str(bad))
    job = Job("in.mp4", ("s.jpg",), "o.mp4", {"max_side": 64, "style_blend": [1, 2], "preserve_colors": True})
    assert job.argv() == ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--max-side", "64",
                          "--style-blend", "1,2", "--preserve-colors"]
