"""One shot rendered in chunks on a real Ray cluster (cluster/shot.py, cluster/worker.py), at 48×32 with a
few iterations: the same frames as the local chunked run on nodes that cannot see the driver's disk, one
worker per (pretend) GPU, a worker killed mid-task, a node lost mid-run, a killed driver, and the
one-line refusals.

The in-process tests share one Ray test cluster (ray.cluster_utils.Cluster: a head with no CPUs and two
nodes, each with one CPU and one pretend GPU), shut down at the end of the module. Its worker processes
run tests/ray_hooks.py: they fail on touching any folder of this test session, and take the faults a
test arms. The command-line
tests run videostyle in a subprocess in its own session, so every Ray process it starts can be found
and none is left behind.
"""
import contextlib
import json
import os
import socket
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import cv2
import numpy as np
import pytest
import ray
import torch

from mediagen import make_video, texture
from videostyle import stylize_video
from videostyle.cli import main
from videostyle.config import ChunkConfig, ClusterOptions, OptimConfig, StylizeConfig
from videostyle.run.store import WorkStore
from videostyle.cluster.worker import RenderWorker, WorkerSpec

W, H, N, K = 48, 32, 12, 4
PANO = texture(H, W * 2, (10, 20), seed=1)
CFG = StylizeConfig(optim=OptimConfig(iterations_first=4, iterations_later=2), device="cpu", max_side=48,
                    chunks=ChunkConfig(chunk_frames=K))
CLI_METHOD = ["--iterations", "4,2", "--max-side", "48", "--device", "cpu", "--chunk-frames", str(K)]


def pan(i, w, h):
    """Frame i: a window on a textured panorama, moved 1 px per frame (known motion)."""
    return np.ascontiguousarray(PANO[:h, 40 - i:40 - i + w])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    video = make_video(d / "pan.mp4", n=N, image=pan, rate=Fraction(24))
    yy, xx = np.mgrid[0:64, 0:64]
    img = np.stack([(np.sin(xx / 3.0) * 120 + 128), (np.sin((xx + yy) / 5.0) * 120 + 128),
                    np.full_like(xx, 60.0)], -1).astype(np.uint8)
    cv2.imwrite(str(d / "style.png"), img)
    return video, str(d / "style.png")


def _env():
    # One torch thread, as each worker has (--cpus-per-worker 1): the same arithmetic, the same frames.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    """The local chunked run (no --cluster), in a subprocess that reports whether Ray was imported."""
    video, style = clip
    d = tmp_path_factory.mktemp("reference")
    code = ("import json, sys; from videostyle.cli import main; rc = main(sys.argv[1:]); "
            "print(json.dumps({'ray_imported': 'ray' in sys.modules})); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, "stylize", video, "--style", style, "-o", str(d / "out.mp4"),
                           *CLI_METHOD, "--keep-work", "--log-format", "json"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    store = WorkStore(str(d / "out.mp4.videostyle"))
    return {n: store.load(n)[0] for n in range(N)}, events


TESTS = os.path.dirname(os.path.abspath(__file__))
FAULTS = tempfile.mkdtemp(prefix="vsfaults", dir="/tmp")  # outside pytest's folders, which workers may not touch


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two worker nodes whose worker processes cannot touch any folder of this test session (the
    driver's inputs, styles and work folders are all under pytest's base folder): tests/ray_hooks.py's
    audit hook fails them, as nodes without the driver's disk would."""
    from ray.cluster_utils import Cluster
    base = str(tmp_path_factory.getbasetemp())
    path = os.environ.get("PYTHONPATH")
    # The nodes (those added later by a test too) import ray_hooks: for the module's lifetime.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, path]))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        c.add_node(num_cpus=1, num_gpus=1)
    ray.init(address=c.address, log_to_driver=False, configure_logging=False,
             runtime_env={"worker_process_setup_hook": "ray_hooks.install",
                          "env_vars": {"VS_TEST_FORBID": base, "VS_TEST_FAULTS": FAULTS}})
    yield c
    ray.shutdown()
    c.shutdown()
    shutil.rmtree(FAULTS, ignore_errors=True)
    if path is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = path


def arm(kind: str, n: int, action: str) -> str:
    """One fault for the first worker task ``kind`` on frame ``n`` (tests/ray_hooks.py)."""
    path = os.path.join(FAULTS, f"{kind}-{n}-{action}")
    open(path, "w").close()
    return path


@pytest.fixture(scope="module")
def distributed(clip, cluster, tmp_path_factory):
    """An uninterrupted run on the test cluster, its work folder kept."""
    video, style = clip
    out = str(tmp_path_factory.mktemp("distributed") / "out.mp4")
    report = stylize_video(video, style, out, CFG, keep_work=True, cluster=ClusterOptions(cluster="auto"))
    return report, out + ".videostyle"


def frames_of(work_dir):
    store = WorkStore(work_dir)
    return {n: store.load(n)[0] for n in store.numbers()}


def test_the_local_chunked_run_never_imports_ray(reference):
    frames, events = reference
    assert len(frames) == N and events[-1] == {"ray_imported": False}


def test_the_cluster_makes_the_frames_of_the_local_chunked_run(reference, distributed):
    report, work = distributed
    assert [f["index"] for f in report["frames"]] == list(range(N))
    made = frames_of(work)
    assert sorted(made) == list(range(N))
    # Bit for bit: the workers get the frames and flows the driver decoded and computed, through Ray's
    # object store (they cannot open the driver's folders: the cluster fixture), and run the same chunked
    # tasks with one torch thread, as the reference did.
    different = [n for n in range(N) if not np.array_equal(made[n], reference[0][n])]
    assert different == []
    chunks = report["chunks"]
    assert chunks["chunks"] == [[0, 3], [4, 7], [8, 11]]
    assert [s["frames"] for s in chunks["seams"]] == [[3, 4], [7, 8]]
    assert all(s["ratio"] is not None for s in chunks["seams"]) and chunks["inside_median_ratio"] is not None
    total = sum(f["evaluations"] for f in report["frames"])
    assert chunks["evaluations"] == total and 0 < chunks["critical_path_evaluations"] < total


def test_one_worker_per_gpu_each_on_its_own_node(distributed, cluster):
    c = distributed[0]["cluster"]
    assert c["workers"] == 2 and c["num_gpus_per_worker"] == 1 and c["num_cpus_per_worker"] == 1
    nodes = {w["node"] for w in c["per_worker"]}
    gpu_nodes = {n.node_id for n in cluster.list_all_nodes() if not n.head}
    assert len(c["per_worker"]) == 2 and nodes == gpu_nodes
    assert c["retries"] == 0 and all(w["tasks"] > 0 for w in c["per_worker"])
    # Every frame's draft and finishing were made, each task once.
    assert sorted((t["task"], t["frame"]) for t in c["tasks"]) == sorted(
        (kind, n) for kind in ("draft", "finish") for n in range(N))


def test_the_workers_cannot_touch_the_drivers_folders(clip, cluster):
    """The audit hook is in the workers' processes: a task opening the input fails (so the renders on this
    cluster, which succeed, never opened the driver's input, style or work folder)."""
    video, _ = clip

    def peek(path):
        with open(path, "rb") as f:
            return f.read(4)
    with pytest.raises(ray.exceptions.RayTaskError) as caught:
        ray.get(ray.remote(num_cpus=1)(peek).remote(video))
    assert isinstance(caught.value.cause, PermissionError)


def test_seam_frames_come_out_the_same_when_recomputed(clip, distributed):
    """The frames either side of a seam made again by a worker (in this process, no Ray) from the kept
    drafts and frames, the frames decoded here and the flows the driver cached."""
    from videostyle.io.frames import read_image
    from videostyle.io.media import open_source
    from videostyle.run.drivers import chunked
    from videostyle.run.render import flow_source
    video, style = clip
    work = distributed[1]
    store = WorkStore(work)
    with contextlib.closing(open_source(video, "0:6", audio=False).frames()) as decoded:
        frames = {f.number: f.image for f in decoded}
    flows = flow_source(CFG, (W, H), work, None)
    flow = {n: flows(n, frames[n], n - 1, frames[n - 1])[:2] for n in (3, 4)}
    threads = torch.get_num_threads()
    try:
        worker = RenderWorker(WorkerSpec(CFG, (read_image(style),), tuple(chunked.plan(0, N, K))), num_cpus=1)
        assert "error" not in worker.ping()
        keyframe = worker.finish(4, frames[4], flow[4], store.load(4, chunked.DRAFT_PASS), None)
        last = worker.finish(3, frames[3], flow[3], store.load(3, chunked.DRAFT_PASS), store.load(2))
    finally:
        torch.set_num_threads(threads)
    assert keyframe[1]["keyframe"] and not last[1]["keyframe"] and keyframe[1]["evaluations"] > 0
    assert np.array_equal(keyframe[0], store.load(4)[0]) and np.array_equal(last[0], store.load(3)[0])


def test_a_users_error_at_worker_set_up_is_kept_for_ping(clip):
    """A worker that cannot be set up for a reason of the user's says so once, through ping, instead of
    failing in its constructor (which Ray would restart, failing the same way each time)."""
    from dataclasses import replace
    worker = RenderWorker(WorkerSpec(replace(CFG, weights="/nowhere/vgg.pth"), (PANO,), ()), 1)
    kind, message = worker.ping()["error"]
    assert kind == "InputError" and "/nowhere/vgg.pth" in message and "\n" not in message


# The seam test's own shot: 9 frames in chunks of 3 (seams 2|3 and 5|6), a textured panorama moved 0.7 px
# right and 0.21 px down per frame with a little noise in every frame, at 8/6 iterations. On the module's
# clip (a whole-pixel pan at 4/2 iterations) the measure sat at zero: a 2-iteration L-BFGS run either
# returns its start, the warped draft, exactly (warping error ~1e-11) or takes one large step, and which
# of the two depends on float rounding (torch's thread count flips it). Here every frame is really
# optimized, the flow is not a whole-pixel shift, and the source's own warping error is not ~0.
SEAM_N, SEAM_K = 9, 3
SEAM_CFG = StylizeConfig(optim=OptimConfig(iterations_first=8, iterations_later=6), device="cpu", max_side=48,
                         chunks=ChunkConfig(chunk_frames=SEAM_K))


def _subpixel_pan(path) -> str:
    pano = texture(H + 8, W * 3, (12, 30), seed=1).astype(np.float32)
    noise = np.random.default_rng(2).normal(0, 3, (SEAM_N, H, W, 3)).astype(np.float32)

    def frame(i, w, h):
        shift = np.float32([[1, 0, 40 - 0.7 * i], [0, 1, 2 + 0.21 * i]])
        moved = cv2.warpAffine(pano, shift, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        return np.ascontiguousarray((moved + noise[i]).clip(0, 255).astype(np.uint8))
    return make_video(path, n=SEAM_N, image=frame, rate=Fraction(24))


def test_seams_stay_far_below_those_of_chunks_whose_drafts_start_anew(clip, tmp_path, monkeypatch):
    """The local chunked run: the warping error of every pair of frames across a seam (the report's
    "chunks" "seams") is under a quarter of every seam's in the same render with each chunk's draft
    started anew at its keyframe (two textures meeting at every seam), the reference made in this test,
    so no library version sets the bound. Measured (8 runs: seeds of the noise, 1 and 2 torch threads):
    good seams 0.0002–0.0007, cold-draft seams 0.0052–0.011, ratio 8–26×."""
    video, style = _subpixel_pan(tmp_path / "pan.mp4"), clip[1]
    good = stylize_video(video, style, str(tmp_path / "a.mp4"), SEAM_CFG)["chunks"]

    from videostyle.run.drivers import chunked
    draft = chunked.draft

    def cold_keyframes(solve, cfg, store, chunks, n, read, flows):  # each chunk's draft starts anew
        return draft(solve, cfg, store, [chunked.chunk_of(chunks, n)], n, read, flows)
    monkeypatch.setattr(chunked, "draft", cold_keyframes)
    cold = stylize_video(video, style, str(tmp_path / "b.mp4"), SEAM_CFG)["chunks"]

    good_seams = [s["warping_error"] for s in good["seams"]]
    cold_seams = [s["warping_error"] for s in cold["seams"]]
    assert [s["frames"] for s in good["seams"]] == [[2, 3], [5, 6]]
    # The frames were really optimized, so the measure is not a float-rounding artefact near zero
    # (pairs inside chunks: ~0.2 of the source's own warping error; 1e-8 on the whole-pixel pan).
    assert good["inside_median_ratio"] > 0.01, good
    assert 4 * max(good_seams) < min(cold_seams), (good_seams, cold_seams)


def test_seam_metrics_compare_the_pairs_across_seams_with_those_inside_chunks():
    """report.chunk_section, shared by local and cluster chunked runs, on hand-made frame records."""
    from videostyle.run.report import chunk_section
    frames = [{"index": n, "evaluations": 22 if n == 0 else 12, "draft_evaluations": 12 if n == 0 else 2}
              for n in range(10)]
    for f in frames[1:]:
        seam = f["index"] in (4, 8)
        f.update(warping_error=3.0 if seam else 1.0, source_warping_error=0.5)
    from videostyle.run.drivers import chunked
    s = chunk_section(frames, ChunkConfig(chunk_frames=4), chunked.plan(0, 10, 4))
    assert s["chunks"] == [[0, 3], [4, 7], [8, 9]]
    assert s["seams"] == [{"frames": [3, 4], "warping_error": 3.0, "ratio": 6.0},
                          {"frames": [7, 8], "warping_error": 3.0, "ratio": 6.0}]
    assert (s["inside_median_warping_error"], s["inside_median_ratio"], s["worst_seam_over_inside"]) == (1.0, 2.0, 3.0)
    # Chunk 1 follows its draft (frame 4's done at 12 + 4 × 2) and finishes 4 frames (40).
    assert (s["evaluations"], s["critical_path_evaluations"]) == (130, 60)


def test_cluster_without_chunks_is_one_line(clip, tmp_path, capsys):
    video, style = clip
    code = main(["stylize", video, "--style", style, "-o", str(tmp_path / "out.mp4"), "--cluster", "local"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--chunk-frames" in err and len(err.splitlines()) == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("address", ["127.0.0.1:1", "no-port-here"])
def test_a_bad_cluster_address_is_one_line(clip, tmp_path, capsys, address):
    video, style = clip
    out = str(tmp_path / "out.mp4")
    code = main(["stylize", video, "--style", style, "-o", out, *CLI_METHOD, "--cluster", address])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"videostyle: error: --cluster {address}:") and len(err.splitlines()) == 1
    assert os.listdir(tmp_path) == []


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(pid))
    return found


def _end_session(sid: int) -> None:
    for pid in _session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 20
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_killed_driver_resumes_when_rerun_and_leaves_no_ray_process(clip, tmp_path):
    video, style = clip
    out = str(tmp_path / "out.mp4")
    ray_tmp = tempfile.mkdtemp(prefix="vsray", dir="/tmp")  # short: Ray's socket paths have a length limit
    argv = [sys.executable, "-m", "videostyle", "stylize", video, "--style", style, "-o", out, *CLI_METHOD,
            "--frames", "0:8", "--cluster", "local", "--workers", "1", "--cpus-per-worker", "1", "--log-format", "json",
            "--keep-work"]
    env = {**_env(), "RAY_TMPDIR": ray_tmp}
    store = WorkStore(out + ".videostyle")
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while len(store.numbers()) < 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        # Ray's agents outlive a SIGKILLed driver: everything in the child's session goes.
        _end_session(child.pid)
        child.stderr.close()
    assert _session(child.pid) == []
    kept = {n: store.load(n)[1] for n in store.numbers()}  # now that no worker can add one
    assert 2 <= len(kept) < 8

    again = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        stdout, stderr = again.communicate(timeout=300)
        deadline = time.monotonic() + 10
        while _session(again.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _session(again.pid)
    finally:
        _end_session(again.pid)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert again.returncode == 0, stderr
    assert left == []  # a finished run shuts down the Ray it started
    events = [json.loads(line) for line in stdout.splitlines()]
    frames = [e for e in events if e["event"] == "frame"]
    assert [e["index"] for e in frames] == list(range(8))
    assert {e["index"] for e in frames if e["resumed"]} == set(kept)
    assert all(store.load(n)[1] == record for n, record in kept.items())  # not made again


def test_a_frame_failing_in_a_worker_fails_the_run_in_one_line_naming_its_chunk(clip, cluster, tmp_path):
    """An error raised in a worker's task (armed by tests/ray_hooks.py: an InputError on finishing frame
    6) reaches the driver as one line naming the frame, its chunk and the worker's host."""
    from videostyle.errors import InputError
    video, style = clip
    arm("finish", 6, "fail")
    with pytest.raises(InputError) as caught:
        stylize_video(video, style, str(tmp_path / "out.mp4"), CFG, cluster=ClusterOptions(cluster="auto"))
    message = str(caught.value)
    assert message == f"frame 6 (chunk 1) on {socket.gethostname()}: fault armed by the test on finish 6", message


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_restarted_by_ray_and_the_frames_are_the_same(clip, cluster, distributed,
                                                                                  tmp_path):
    """The draft's worker kills its own process (SIGKILL) as it starts drafting frame 5 (tests/
    ray_hooks.py): Ray starts the actor again and sends it the task again, and the frames are those of
    the undisturbed run."""
    video, style = clip
    armed = arm("draft", 5, "kill")
    out = str(tmp_path / "out.mp4")
    report = stylize_video(video, style, out, CFG, keep_work=True, cluster=ClusterOptions(cluster="auto"))
    assert not os.path.exists(armed) and os.path.exists(armed + ".taken")  # it was killed there
    c = report["cluster"]
    assert c["retries"] >= 1 and c["per_worker"][0]["restarts"] == 1
    drafts_after = [t["pid"] for t in c["tasks"] if t["task"] == "draft" and t["frame"] >= 5]
    assert c["per_worker"][0]["pid"] not in drafts_after  # drafted by the restarted process
    reference = frames_of(distributed[1])
    made = frames_of(out + ".videostyle")
    assert sorted(made) == list(range(N)) and [n for n in range(N) if not np.array_equal(made[n], reference[n])] == []


def test_a_dream_renders_on_the_cluster_as_it_does_in_one_process(clip, cluster, tmp_path):
    """``dream --cluster``: the same chunked driver with the dream objective, bit for bit the local run."""
    video, _ = clip
    quick = ["--max-side", "48", "--iterations", "6,3", "--octaves", "2", "--device", "cpu", "--quiet",
             "--frames", "0:8", "--chunk-frames", "4", "--keep-work"]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # as each worker of the test cluster (1 CPU)
        assert main(["dream", video, "-o", str(tmp_path / "local.mp4"), *quick]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["dream", video, "-o", str(tmp_path / "cluster.mp4"), *quick, "--cluster", "auto"]) == 0
    local, made = frames_of(str(tmp_path / "local.mp4.videostyle")), frames_of(str(tmp_path / "cluster.mp4.videostyle"))
    assert sorted(made) == list(range(8)) and sorted(local) == list(range(8))
    assert [n for n in range(8) if not np.array_equal(made[n], local[n])] == []
    assert os.path.getsize(tmp_path / "cluster.mp4") > 0


def test_the_student_paints_on_the_workers_the_frames_it_paints_in_one_process(clip, cluster, tmp_path, capfd):
    """``--method student --cluster``: keyframes and training on the driver, the painting on the workers
    (which cannot open the driver's folders), no --chunk-frames; the frames within one 16-bit level of
    the local run's (the workers' torch runs on one thread, the driver's on its own)."""
    video, style = clip
    quick = ["--style", style, "--max-side", "48", "--iterations", "4,2", "--device", "cpu", "--quiet",
             "--method", "student", "--student-steps", "12", "--keyframe-every", "6", "--new-content", "1",
             "--keep-work", "--report", None]
    def args(name):
        return [video, "-o", str(tmp_path / f"{name}.mp4")] + [str(tmp_path / f"{name}.json") if a is None else a
                                                                 for a in quick]
    assert main(["stylize", *args("local")]) == 0
    capfd.readouterr()
    assert main(["stylize", *args("cluster"), "--cluster", "auto"]) == 0
    # Ray's own error-level lines (its C++ log, on file descriptor 2) would alarm a user for nothing:
    # the student's weights go with the tasks, not into the actors' constructors.
    assert "constructor arguments" not in capfd.readouterr().err
    local, made = frames_of(str(tmp_path / "local.mp4.videostyle")), frames_of(str(tmp_path / "cluster.mp4.videostyle"))
    assert sorted(made) == list(range(N)) and sorted(local) == list(range(N))
    worst = max(int(np.abs(made[n].astype(np.int32) - local[n].astype(np.int32)).max()) for n in range(N))
    assert worst <= 1, worst
    report = json.load(open(tmp_path / "cluster.json"))
    keys = [k["frame"] for k in report["student"]["keyframes"]]
    assert keys == [0, 6]
    painted = report["cluster"]["painted_by"]
    # Every frame painted on a worker, and both workers painted (one group of 8 frames each way).
    assert sum(w["frames"] for w in painted) == N and len(painted) == 2
    assert all(w["pid"] != os.getpid() for w in painted)
    assert os.path.getsize(tmp_path / "cluster.mp4") > 0


@pytest.mark.slow
def test_a_node_lost_mid_run_costs_only_its_unfinished_frames(clip, cluster, distributed, tmp_path):
    """Last in the module: it takes a node away from the shared test cluster (and adds a spare one
    first, where Ray starts the lost worker again)."""
    video, style = clip
    out = str(tmp_path / "out.mp4")
    store = WorkStore(out + ".videostyle")
    cluster.add_node(num_cpus=1, num_gpus=1)
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(stylize_video, video, style, out, CFG, keep_work=True,
                          cluster=ClusterOptions(cluster="auto", workers=2))
        # Once a frame is finished: both workers are busy (the draft runs ahead and the chunks'
        # finishing follows it), so the node of the finishing worker is running a task.
        node, deadline = None, time.monotonic() + 300
        while node is None and not run.done() and time.monotonic() < deadline:
            done = store.numbers()
            if done:
                node = store.load(done[0])[1]["worker"]["node"]
            else:
                time.sleep(0.005)
        assert node is not None, "the run ended before a node could be removed"
        kept = {n: store.load(n)[1] for n in store.numbers()}
        cluster.remove_node(next(n for n in cluster.list_all_nodes() if n.node_id == node))
        report = run.result(timeout=300)
    c = report["cluster"]
    assert [f["index"] for f in report["frames"]] == list(range(N))
    assert c["retries"] >= 1 and any(t["node"] != node for t in c["tasks"] if t["worker"] == 1)
    # The frames finished before the loss were not made again: their records (worker, seconds) are the
    # same files.
    assert all(store.load(n)[1] == record for n, record in kept.items())
    # Every frame was finished once in this run, and the result is the uninterrupted run's.
    assert sorted(t["frame"] for t in c["tasks"] if t["task"] == "finish") == list(range(N))
    reference = frames_of(distributed[1])
    made = frames_of(out + ".videostyle")
    assert [n for n in range(N) if not np.array_equal(made[n], reference[n])] == []


def test_a_cut_inside_a_chunk_starts_the_new_shot_cold_on_the_workers_as_in_one_process(cluster, tmp_path):
    """A hard cut (flow/cuts.py) in the middle of a chunk: the workers get no flow across it and start the
    new shot's draft cold, as the local chunked run does, frame for frame."""
    other = texture(H, W * 2, (6, 12), seed=9)
    video = make_video(tmp_path / "edit.mp4", n=N, rate=Fraction(24), image=lambda i, w, h: (
        pan(i, w, h) if i < 6 else np.ascontiguousarray(other[:h, 40 - i:40 - i + w])))
    quick = ["--style", "starry_night", *CLI_METHOD, "--quiet", "--keep-work"]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # as each worker of the test cluster (1 CPU)
        assert main(["stylize", str(video), "-o", str(tmp_path / "local.mp4"), *quick,
                     "--report", str(tmp_path / "local.json")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["stylize", str(video), "-o", str(tmp_path / "cluster.mp4"), *quick, "--cluster", "auto",
                 "--report", str(tmp_path / "cluster.json")]) == 0
    report = json.loads((tmp_path / "cluster.json").read_text())
    assert report["cuts"] == [6] and json.loads((tmp_path / "local.json").read_text())["cuts"] == [6]
    drafts = [f["draft_evaluations"] for f in report["frames"]]
    assert drafts[6] == drafts[0] > drafts[5], drafts  # the new shot's draft is a cold start
    local, made = frames_of(str(tmp_path / "local.mp4.videostyle")), frames_of(str(tmp_path / "cluster.mp4.videostyle"))
    assert [n for n in range(N) if not np.array_equal(made[n], local[n])] == []
