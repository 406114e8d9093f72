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
            "--iterations", "20,10", "--tolerance", "0", "--check-every", "10", "--quiet", "--device", "cpu", *extra]


def frames_of(folder):
    """Frames as stored (16-bit when the run wrote --depth 16)."""
    return {n: cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED) for n in sorted(os.listdir(folder))}


def test_sigkill_then_rerun_equals_uninterrupted(clip, tmp_path):
    video, style = clip
    ref = tmp_path / "ref"
    subprocess.run(command(video, style, str(ref) + "/", "--depth", "16"), check=True)

    out = tmp_path / "out"
    work = tmp_path / "out.videostyle"
    proc = subprocess.Popen(command(video, style, str(out) + "/", "--depth", "16"))
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

    r = subprocess.run(command(video, style, str(out) + "/", "--depth", "16", "--report", str(tmp_path / "r.json")),
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


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_stops_cleanly_and_the_rerun_finishes(clip, tmp_path, sig, code):
    video, style = clip
    out, work = tmp_path / "o", tmp_path / "o.videostyle"
    # A shell without job control starts background jobs (e.g. `pytest &`) with SIGINT ignored, and the
    # child would inherit that: give it the default disposition, as a terminal would.
    proc = subprocess.Popen(command(video, style, str(out) + "/"), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline:
        done = work / "frames" / "p00"
        if done.is_dir() and any(n.endswith(".json") for n in os.listdir(done)):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the test could interrupt it"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code and "rerun the same command" in err and err.count("\n") == 1, (proc.returncode, err)
    assert not out.exists()
    records = [n for n in os.listdir(work / "frames" / "p00") if n.endswith(".json")]
    assert 1 <= len(records) < 10
    assert all((work / "frames" / "p00" / n.replace(".json", ".png")).exists() for n in records)
    r = subprocess.run(command(video, style, str(out) + "/"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(out)) == 10


@pytest.fixture()
def small_disk(tmp_path):
    """A real, tiny file system (tmpfs): writes fail with ENOSPC when it is full. Needs the right to mount
    (root, as on the project's machines and CI). 360 KB: the 8 frames at 48×32 with their cached flows
    (1, 2 and 4 frames apart, ~52 KB a frame) take ~500 KB, so the disk fills after a few frames."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=360k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_full_disk_keeps_the_work_folder_resumable(clip, tmp_path, small_disk):
    video, style = clip
    ref = tmp_path / "ref"
    subprocess.run(command(video, style, str(ref) + "/", "--depth", "16", "--frames", "0:8"), check=True)

    out, work = small_disk / "out", small_disk / "out.videostyle"
    cmd = command(video, style, str(out) + "/", "--depth", "16", "--frames", "0:8")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "No space left on device" in r.stderr and "rerun" in r.stderr, r.stderr
    assert not out.exists()
    # Only whole frames count as finished: each .json has its complete 16-bit PNG; no temporary files left.
    names = os.listdir(work / "frames" / "p00")
    finished = sorted(n for n in names if n.endswith(".json"))
    assert 1 <= len(finished) < 8, names
    for n in finished:
        assert cv2.imread(str(work / "frames" / "p00" / n.replace(".json", ".png")), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert not [n for n in names if "partial" in n or "tmp" in n], names

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)  # space freed
    r = subprocess.run(cmd + ["--report", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.load(open(tmp_path / "r.json"))
    assert sum(f["resumed"] for f in report["frames"]) == len(finished), (finished, [f["resumed"] for f in report["frames"]], r.stderr)
    a, b = frames_of(ref), frames_of(out)
    assert list(a) == list(b) and len(a) == 8
    for name in a:
        assert np.array_equal(a[name], b[name]), name
