"""Resume: a run killed with SIGKILL and rerun gives exactly the frames of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from mediagen import make_video, texture


def pan(i, w, h):
    pano = texture(h, w * 2, (8, 24), seed=7, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(pano[:, 30 - i:30 - i + w])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    video = make_video(d / "in.mp4", n=10, image=pan)
    style = str(d / "style.png")
    cv2.imwrite(style, np.random.default_rng(2).uniform(0, 255, (40, 40, 3)).astype(np.uint8))
    return video, style


def command(video, style, out, *extra):
    return [sys.executable, "-m", "videostyle.cli", "stylize", video, "--style", style, "-o", out,
            "--iterations", "40,30", "--tolerance", "0", "--check-every", "10", "--quiet", "--device", "cpu", *extra]


def frames_of(folder):
    return {n: cv2.imread(os.path.join(folder, n)) for n in sorted(os.listdir(folder))}


def test_sigkill_then_rerun_equals_uninterrupted(clip, tmp_path):
    video, style = clip
    ref = tmp_path / "ref"
    subprocess.run(command(video, style, str(ref) + "/"), check=True)

    out = tmp_path / "out"
    work = tmp_path / "out.videostyle"
    proc = subprocess.Popen(command(video, style, str(out) + "/"))
    deadline = time.time() + 120
    while time.time() < deadline:
        done = work / "frames" / "p00"
        if done.is_dir() and len([n for n in os.listdir(done) if n.endswith(".json")]) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave output under the final name"
    finished = len([n for n in os.listdir(work / "frames" / "p00") if n.endswith(".json")])
    assert 3 <= finished < 10

    r = subprocess.run(command(video, style, str(out) + "/", "--report", str(tmp_path / "r.json")),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = frames_of(ref), frames_of(out)
    assert list(a) == list(b) and len(a) == 10
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    report = json.load(open(tmp_path / "r.json"))
    assert len(report["frames"]) == 10 and not work.exists()


def test_changed_settings_are_refused_unless_restart(clip, tmp_path):
    video, style = clip
    out, work = str(tmp_path / "o.mp4"), tmp_path / "w"
    base = command(video, style, out, "--work-dir", str(work), "--frames", "0:2", "--keep-work")
    subprocess.run(base, check=True)
    os.remove(out)
    r = subprocess.run(base + ["--content-weight", "7"], capture_output=True, text=True)
    assert r.returncode != 0 and "content_weight" in r.stderr and r.stderr.count("\n") == 1
    assert not os.path.exists(out)
    r = subprocess.run(base + ["--content-weight", "7", "--restart"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sigint_stops_cleanly_and_the_rerun_finishes(clip, tmp_path):
    video, style = clip
    out, work = tmp_path / "o", tmp_path / "o.videostyle"
    proc = subprocess.Popen(command(video, style, str(out) + "/"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = work / "frames" / "p00"
        if done.is_dir() and any(n.endswith(".json") for n in os.listdir(done)):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "rerun the same command" in err and err.count("\n") == 1, err
    assert not out.exists()
    records = [n for n in os.listdir(work / "frames" / "p00") if n.endswith(".json")]
    assert all((work / "frames" / "p00" / n.replace(".json", ".png")).exists() for n in records)
    r = subprocess.run(command(video, style, str(out) + "/"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(out)) == 10
