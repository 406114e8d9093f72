"""Batch on a Ray cluster (videostyle batch --cluster; cluster/batch.py): the jobs run as Ray tasks,
several at once; a failing job is reported and the others finish; a dying worker is retried; the driver
shows jobs, frames and an ETA; without --cluster Ray is never imported.

The command-line runs start their own local Ray in a subprocess, as a user's would; the others share one
in-process test cluster (two CPUs, one pretend GPU), started at their first use and shut down at the end."""
import argparse
import io
import json
import os
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from mediagen import make_video
from videostyle import cli
from videostyle.run.batch import Job, Outcome, dependencies
from videostyle.cluster.batch import BatchProgress, absolute, clock, run_on_cluster
from videostyle.cluster.connect import connect
from videostyle.config import ClusterOptions

ray = pytest.importorskip("ray")

TINY = 'iterations = "2,1"\nmax_side = 48\ndevice = "cpu"\n'


def job(input, output):
    return f'\n[[job]]\ninput = "{input}"\nstyle = "style.png"\noutput = "{output}"\n'


def videostyle(*args, cwd):
    """The CLI in its own process (its own Ray, as a user starts it); also says whether ray was imported."""
    code = ("import sys; from videostyle.cli import main; code = main(sys.argv[1:]); "
            "print('ray imported' if 'ray' in sys.modules else 'ray not imported', file=sys.stderr); sys.exit(code)")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def shots(tmp_path):
    make_video(tmp_path / "a.mp4", n=2)
    make_video(tmp_path / "c.mp4", n=2)
    # A file that passes the checks before the run (it exists, its name is a video's) and fails when decoded.
    (tmp_path / "b.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    cv2.imwrite(str(tmp_path / "style.png"), np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.uint8))
    (tmp_path / "out").mkdir()
    return tmp_path


# --- the command line, each run with its own Ray (first: before the shared cluster below starts) ---------

@pytest.mark.slow
def test_three_jobs_one_broken_on_a_local_cluster(shots):
    # The third a dream job (no painting): the workers run the command each job names.
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4") + job("b.mp4", "out/b.mp4")
                                     + '\n[[job]]\ninput = "c.mp4"\noutput = "out/c.mp4"\ndream = true\noctaves = 2\n')
    run = videostyle("batch", "jobs.toml", "--cluster", "local", "--workers", "2", "--cpus-per-worker", "1",
                     cwd=shots)
    assert run.returncode == 1, run.stderr
    assert sorted(f for f in os.listdir(shots / "out") if not f.endswith(".videostyle")) == ["a.mp4", "c.mp4"]
    for name in ("a.mp4", "c.mp4"):
        with av.open(str(shots / "out" / name)) as c:
            assert sum(1 for _ in c.decode(video=0)) == 2
    rows = run.stdout.splitlines()
    assert len(rows) == 4 and [" ok " in rows[1], "FAILED" in rows[2], " ok " in rows[3]] == [True] * 3, run.stdout
    assert "b.mp4" in rows[2] and "not a readable video" in rows[2] and "c.mp4 × dream" in rows[3], run.stdout
    assert "videostyle: job 2 failed: not a readable video" in run.stderr
    assert "2 at once, each 1 CPU core(s)" in run.stderr
    # stderr is no terminal here: progress comes as whole lines, the last with every frame of the two jobs
    progress = [line for line in run.stderr.splitlines() if line.startswith("[batch] ")]
    assert progress and "\r" not in run.stderr, run.stderr
    assert progress[-1] == "[batch] jobs 3/3 done (1 failed), frames 4/4, ETA 0:00", run.stderr
    assert "2 of 3 jobs succeeded" in run.stderr and "internal error" not in run.stderr


def test_a_job_file_failing_the_checks_exits_2_before_ray_starts(shots):
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("c.mp4", "out/c.mp4") + "max_side = \"big\"\n")
    run = videostyle("batch", "jobs.toml", "--cluster", "local", "--workers", "2", cwd=shots)
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [run.stderr.splitlines()[0], "ray not imported"], run.stderr
    assert "jobs.toml: job 2" in run.stderr and "--max-side" in run.stderr
    assert os.listdir(shots / "out") == []


def test_without_cluster_the_batch_runs_here_and_never_imports_ray(shots):
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("missing.mp4", "out/m.mp4"))
    run = videostyle("batch", "jobs.toml", cwd=shots)
    assert run.returncode == 1 and "input not found" in run.stdout, run.stdout + run.stderr
    assert run.stderr.splitlines()[-1] == "ray not imported"
    run = videostyle("batch", "jobs.toml", "--workers", "2", cwd=shots)
    assert run.returncode == 2 and "need --cluster" in run.stderr and "ray not imported" in run.stderr


# --- parts without Ray ------------------------------------------------------------------------------------

def ns(input, output, **more):
    """A job's stylize namespace: the paths batch.reads / writes look at, and what a test's run needs."""
    paths = {"style": ["s.png"], "work_dir": None, "compare": None, "report": None, "flow_dir": None,
             "weights": "packaged"}
    return argparse.Namespace(input=input, output=output, **{**paths, **more})


def planned_jobs(tmp_path, *namespaces):
    return [(Job(a.input, tuple(a.style), a.output, {}, f"job {k}"), a) for k, a in enumerate(namespaces, 1)]


def test_a_job_reading_what_an_earlier_one_writes_depends_on_it(tmp_path):
    d = str(tmp_path)
    planned = planned_jobs(tmp_path, ns(f"{d}/a.mp4", f"{d}/out/a.mp4"),
                           ns(f"{d}/out/a.mp4", f"{d}/out/aa.mp4"),         # job 1's output
                           ns(f"{d}/b.mp4", f"{d}/frames/%04d.png"),
                           ns(f"{d}/frames/", f"{d}/out/f.mp4"),            # job 3's frames, as a folder
                           ns(f"{d}/frames/%06d.png", f"{d}/out/g.mp4"),    # … and as a pattern
                           ns(f"{d}/c.mp4", f"{d}/out/c.mp4"))
    assert dependencies(planned) == [set(), {0}, set(), {2}, {2}, set()]


def test_paths_go_to_the_workers_absolute_and_frame_folders_keep_their_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = absolute(ns("in.mp4", "frames/", report="r.json", weights="w.pt"))
    assert a.input == f"{tmp_path}/in.mp4" and a.output == f"{tmp_path}/frames/" and a.style == [f"{tmp_path}/s.png"]
    assert a.report == f"{tmp_path}/r.json" and a.weights == f"{tmp_path}/w.pt" and a.work_dir is None
    assert absolute(ns("/x/in.mp4", "o.mp4")).weights == "packaged"


def test_progress_counts_jobs_frames_and_the_time_left():
    now = [100.0]
    p = BatchProgress(3, now=lambda: now[0])
    assert p.line() == "jobs 0/3 done, frames 0/?, ETA ?"
    p.event(1, {"event": "start", "n_frames": 10})
    assert p.line() == "jobs 0/3 done, frames 0/~30, ETA ?"  # jobs 2 and 3 counted as job 1
    for _ in range(4):
        p.event(1, {"event": "frame", "resumed": False})
    p.event(2, {"event": "start", "n_frames": 20})
    p.event(2, {"event": "frame", "resumed": True})  # loaded from a work folder: not part of the rate
    now[0] = 108.0
    assert p.totals() == (5, 45, True)
    assert p.eta() == pytest.approx(40 / (4 / 8))
    p.finished(1, False)  # its six frames left will not come
    p.event(3, {"event": "start", "n_frames": 6})
    assert p.totals() == (5, 30, False)
    assert p.line() == "jobs 1/3 done (1 failed), frames 5/30, ETA 0:50"
    p.event(2, {"event": "start", "n_frames": 20})  # a retry starts over: its frames are counted again
    assert p.totals() == (4, 30, False)
    assert clock(3725) == "1:02:05" and clock(59.6) == "1:00"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_driver_shows_one_bar_on_a_terminal_and_json_lines_with_the_job_number(monkeypatch, capsys):
    a = Job("a.mp4", ("s.png",), "out/a.mp4")

    def batch(mode):
        p = cli.progress.ClusterProgress(2, mode)
        p.submitted(1, a)
        p.submitted(2, a)
        p.event(1, {"event": "start", "n_frames": 2})
        p.event(1, {"event": "frame", "resumed": False})
        p.event(1, {"event": "frame", "resumed": False})
        p.finished(1, Outcome(a, "ok", "", 1.0))
        p.finished(2, Outcome(a, "FAILED", "not a readable video", 1.0))
        p.close()

    monkeypatch.setattr(sys, "stderr", Terminal())
    batch("text")
    shown = sys.stderr.getvalue()
    assert "[2/2] a.mp4 × s.png -> out/a.mp4\n" in shown
    assert "videostyle: job 2 failed: not a readable video\n" in shown
    assert "jobs 1/2:  50%" in shown and "| 2/4 [" in shown and "jobs 2/2: 100%" in shown, shown
    batch("json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["job"], e["event"]) for e in lines] == [(1, "start"), (1, "frame"), (1, "frame")]


# --- on the shared in-process test cluster ------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """Two CPUs and one pretend GPU (torch still runs on the CPU); shut down when the module ends."""
    from ray.cluster_utils import Cluster
    # The test module's run functions go to the workers by value: the workers cannot import it.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield c
    ray.shutdown()
    c.shutdown()


def run_fake(args, on_event):
    """A job's run for the tests: posts what the worker was given, then does what ``args.then`` says."""
    import ray
    import torch
    on_event({"event": "start", "n_frames": 1})
    on_event({"event": "placed", "gpus": ray.get_gpu_ids(), "threads": torch.get_num_threads(), "pid": os.getpid(),
              "at": time.time()})
    if args.then == "die" or (args.then == "die once" and not os.path.exists(args.output + ".died")):
        with open(args.output + ".died", "a") as f:  # the pid of every try that died
            f.write(f"{os.getpid()}\n")
        os._exit(1)  # as the kernel's OOM killer or a crash in C code would end it
    if args.then == "hang":
        time.sleep(120)
    if args.then == "raise":
        raise RuntimeError("CUDA error: an illegal memory access\nwas encountered")
    met = False
    if args.then == "meet":  # wait (a while) for another job to run at the same time
        open(f"{args.input}.{os.getpid()}", "w").close()
        folder, deadline = os.path.dirname(args.input), time.monotonic() + 30
        while not met and time.monotonic() < deadline:
            met = len(os.listdir(folder)) >= 2
            time.sleep(0.05)
    on_event({"event": "frame", "resumed": False})
    on_event({"event": "ended", "at": time.time(), "met": met, "pid": os.getpid()})


def run_batch(placement, planned, **kw):
    outcomes, events, finished = [], [], []
    run_on_cluster(planned, run_fake, placement, outcomes, on_event=lambda k, e: events.append((k, e)),
                   on_finish=lambda k, o: finished.append(k), **kw)
    return outcomes, events, finished


def test_a_dying_worker_is_retried_and_reported_when_it_keeps_dying(cluster, tmp_path):
    placement = connect(ClusterOptions(cluster="local", workers=2, cpus_per_worker=1, gpus_per_worker=0))
    d = str(tmp_path)
    planned = planned_jobs(tmp_path, ns(f"{d}/a", f"{d}/a.out", then="die once"),
                           ns(f"{d}/b", f"{d}/b.out", then="die"))
    outcomes, events, finished = run_batch(placement, planned, retries=1)
    assert [o.status for o in outcomes] == ["ok", "FAILED"]
    assert outcomes[1].message.startswith("its worker died 2 times (WorkerCrashedError"), outcomes[1].message
    assert "\n" not in outcomes[1].message and sorted(finished) == [1, 2]
    # A fresh process for every try (Ray hands on a retry's events past those the first try gave, so the
    # tries' pids are read from the files the dying tries wrote, and from job 1's last event).
    died = {k: open(f"{d}/{x}.out.died").read().split() for k, x in ((1, "a"), (2, "b"))}
    ended = [e["pid"] for j, e in events if j == 1 and e["event"] == "ended"]
    assert len(died[1]) == 1 and len(ended) == 1 and str(ended[0]) not in died[1]
    pids = {1: {*died[1], str(ended[0])}, 2: set(died[2])}
    assert len(pids[1]) == len(pids[2]) == 2
    assert not pids[1] & pids[2]  # and for every job: nothing a job held outlives it


def test_two_jobs_share_the_gpu_at_once_with_half_of_it_each(cluster, tmp_path):
    placement = connect(ClusterOptions(cluster="local", workers=2, gpus_per_worker=0.5))
    assert (placement.num_cpus, placement.num_gpus) == (1, 0.5)
    (tmp_path / "met").mkdir()
    planned = planned_jobs(tmp_path, *(ns(f"{tmp_path}/met/{k}", f"{tmp_path}/{k}.out", then="meet") for k in range(2)))
    outcomes, events, _ = run_batch(placement, planned)
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert [e["gpus"] for _, e in events if e["event"] == "placed"] == [[0], [0]]
    assert [e["threads"] for _, e in events if e["event"] == "placed"] == [1, 1]  # torch on its one core
    assert all(e["met"] for _, e in events if e["event"] == "ended")  # running at the same time


def test_a_chained_job_waits_for_its_source_and_is_not_run_when_that_fails(cluster, tmp_path):
    placement = connect(ClusterOptions(cluster="local", workers=2, cpus_per_worker=1, gpus_per_worker=0))
    d = str(tmp_path)
    planned = planned_jobs(tmp_path, ns(f"{d}/a", f"{d}/a.mp4", then="raise"),
                           ns(f"{d}/a.mp4", f"{d}/aa.mp4", then="ok"),
                           ns(f"{d}/b", f"{d}/b.mp4", then="ok"), ns(f"{d}/b.mp4", f"{d}/bb.mp4", then="ok"))
    outcomes, events, finished = run_batch(placement, planned)
    assert [o.status for o in outcomes] == ["FAILED", "FAILED", "ok", "ok"]
    assert outcomes[0].message == "RuntimeError: CUDA error: an illegal memory access was encountered"  # one line
    assert outcomes[1].message == "not run: job 1, which writes what it reads, failed"
    assert not any(k == 2 for k, _ in events)
    ends = {k: e["at"] for k, e in events if e["event"] == "ended"}
    starts = {k: e["at"] for k, e in events if e["event"] == "placed"}
    assert starts[4] >= ends[3]


def test_ctrl_c_in_the_driver_cancels_the_running_jobs_and_lists_every_job(cluster, tmp_path):
    # One worker of both cores, no GPU: one job at a time, torch on two threads.
    placement = connect(ClusterOptions(cluster="local", workers=1, cpus_per_worker=2, gpus_per_worker=0))
    d = str(tmp_path)
    planned = planned_jobs(tmp_path, *(ns(f"{d}/{k}", f"{d}/{k}.out", then="hang") for k in range(3)))
    placed = []

    def interrupt(k, event):  # as the driver's signal handler does, once job 1 is really running
        if event["event"] == "placed":
            placed.append(event)
            raise KeyboardInterrupt

    outcomes = []
    with pytest.raises(KeyboardInterrupt):
        run_on_cluster(planned, run_fake, placement, outcomes, on_event=interrupt)
    assert [(o.status, o.message) for o in outcomes] == [("STOPPED", "interrupted"), ("STOPPED", "not started"),
                                                         ("STOPPED", "not started")]
    assert placed[0]["threads"] == 2 and placed[0]["gpus"] == []
    pids = [placed[0]["pid"]]
    deadline = time.monotonic() + 20
    while alive(pids[0]) and time.monotonic() < deadline:  # the worker is killed, not left running
        time.sleep(0.2)
    assert not alive(pids[0])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
