"""``ray job submit`` to a local head: the render runs as a Ray job (its driver on the head, the input
and style uploaded as the job's working_dir) with ``--cluster auto``, as README's cluster section says."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

from mediagen import make_video

pytest.importorskip("ray.dashboard")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # Token auth is off for this private head on 127.0.0.1; a real cluster sets it up as Ray's docs say.
    return {**env, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture
def head():
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    gcs, dashboard = _free_port(), _free_port()
    # --block: this process owns the head's processes and stops them when terminated, so the test
    # stops its own head and no other Ray on the machine (``ray stop`` would stop them all).
    # Every port of its own: Ray's fixed defaults (the dashboard agent's 52365, …) may be taken by
    # another Ray on the machine, and the head then starts without a job agent.
    ports = [f"--{name}={_free_port()}" for name in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                     "runtime-env-agent-port", "metrics-export-port",
                                                     "ray-client-server-port")]
    proc = subprocess.Popen([ray, "start", "--head", "--block", "--port", str(gcs), "--num-cpus", "2",
                             "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
                             "--dashboard-port", str(dashboard), *ports], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/api/version", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                pytest.fail("the local Ray head did not start")
            time.sleep(0.5)
    yield ray, url
    proc.terminate()
    proc.wait(timeout=60)


def test_a_render_submitted_with_ray_job_submit_writes_its_output(head, tmp_path):
    ray, url = head
    shot = tmp_path / "shot"
    shot.mkdir()
    make_video(shot / "in.mp4", n=6)
    cv2.imwrite(str(shot / "style.png"), np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    out = tmp_path / "out.mp4"
    submit = (
        [ray, "job", "submit", "--address", url,
         "--runtime-env-json", '{"working_dir": "%s", "env_vars": {"OMP_NUM_THREADS": "1"}}' % shot,
         "--", sys.executable, "-m", "videostyle", "stylize", "in.mp4", "--style", "style.png", "-o", str(out),
         "--chunk-frames", "3", "--iterations", "2,1", "--max-side", "32", "--device", "cpu",
         "--cluster", "auto", "--workers", "1", "--cpus-per-worker", "1"])
    # The head's dashboard answers before its job agent has registered (more so on a loaded machine):
    # a submission refused for that alone is made again.
    deadline = time.monotonic() + 120
    while True:
        done = subprocess.run(submit, capture_output=True, text=True, env=_env(), timeout=600)
        if "No available agent" not in done.stdout + done.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    logs = done.stdout + done.stderr
    assert "succeeded" in logs
    assert "rendering on Ray at" in logs  # on the job's cluster, not a Ray of its own or this process
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    # The job ran in an uploaded copy of the folder: the input there is untouched, nothing else written.
    assert sorted(os.listdir(shot)) == ["in.mp4", "style.png"]


def _dashboard_probe(flag: bool) -> str:
    code = ("import urllib.request; from videostyle.cluster.connect import connect, disconnect; "
            "from videostyle.config import ClusterOptions; "
            f"p = connect(ClusterOptions(cluster='local', ray_dashboard={flag})); "
            "url = p.dashboard; ok = url is not None and urllib.request.urlopen(url + '/api/version', timeout=30).status; "
            "disconnect(p); print(url, ok)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_ray_dashboard_starts_the_dashboard_of_a_local_ray_and_says_where():
    url, status = _dashboard_probe(True).split()
    assert url.startswith("http://127.0.0.1:") and status == "200"
    assert _dashboard_probe(False) == "None False"  # off by default


def test_ray_dashboard_with_a_joined_cluster_is_one_line(tmp_path, capsys):
    from videostyle.cli import main
    assert main(["stylize", "in.mp4", "--style", "s.png", "-o", str(tmp_path / "o.mp4"), "--chunk-frames", "3",
                 "--cluster", "auto", "--ray-dashboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ray-dashboard" in err
