"""Batch: every job is checked before any runs (exit 2 for a bad job file); a failing job, whatever
raised, is reported and the others finish (exit 1); no two jobs write the same file."""
import gc
import os
import weakref

import cv2
import numpy as np
import pytest
import torch

import videostyle.method.multiscale
from mediagen import make_video
from videostyle.run import batch
from videostyle.run.batch import Job, jobs_from_glob, load_jobs
from videostyle.cli import build_parser, main
from videostyle.errors import ConfigError
from videostyle.method.features import build_features

TINY = 'iterations = "2,1"\nmax_side = 48\ndevice = "cpu"\n'


def job(input, output, style="style.png", **options):
    lines = [f'input = "{input}"', f'style = "{style}"', f'output = "{output}"']
    lines += [f"{k} = {v}" for k, v in options.items()]
    return "\n[[job]]\n" + "\n".join(lines) + "\n"


@pytest.fixture()
def shots(tmp_path):
    make_video(tmp_path / "a.mp4", n=1)  # one frame each: the real runs are the cost of these tests
    make_video(tmp_path / "b.mp4", n=1, w=40)  # its own width: the optimizer patches below pick it out
    make_video(tmp_path / "c.mp4", n=1)
    cv2.imwrite(str(tmp_path / "style.png"), np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.uint8))
    (tmp_path / "out").mkdir()
    return tmp_path


def outputs(folder):
    """What a batch left in ``folder``, less the work folders failed jobs keep for a rerun."""
    return sorted(f for f in os.listdir(folder) if not f.endswith(".videostyle"))


def run_batch(capsys, path, *more):
    code = main(["batch", str(path), "--quiet", *more])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_one_missing_input_two_good(shots, capsys):
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("missing.mp4", "out/missing.mp4")
                                     + job("c.mp4", "out/c.mp4", content_weight=20))
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 1
    assert outputs(shots / "out") == ["a.mp4", "c.mp4"]
    assert "missing.mp4" in err and "2 of 3 jobs succeeded" in err
    assert out.count("FAILED") == 1


@pytest.mark.slow
def test_a_broken_weights_file_fails_its_job_late_and_the_next_job_runs(shots, capsys):
    """The state dict has every layer, in the wrong shapes: torch's RuntimeError comes from
    load_state_dict, after the input was opened and the outputs were set up. The relative weights path is
    found beside the job file (the test runs from another folder)."""
    (shots / "w").mkdir()
    torch.save({k: torch.zeros(1) for k in build_features().state_dict()}, shots / "w" / "broken.pt")
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("b.mp4", "out/b.mp4", weights='"w/broken.pt"', weights_format='"caffe"')
                                     + job("c.mp4", "out/c.mp4"))
    assert os.getcwd() != str(shots)
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 1, err
    assert outputs(shots / "out") == ["a.mp4", "c.mp4"]
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "b.mp4" in failed[0] and "size mismatch" in failed[0], out
    assert "2 of 3 jobs succeeded" in err and "internal error" not in err


@pytest.mark.slow
@pytest.mark.parametrize("error, words", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore lines"), "ran out of memory"),
    (cv2.error("OpenCV(4.10) error: (-215:Assertion failed) in function 'remap'"), "error: OpenCV"),
])
def test_an_exception_inside_the_optimizer_fails_only_its_job(shots, capsys, monkeypatch, error, words):
    real = videostyle.method.multiscale.stylize_frame

    def optimizer(model, problem, init, *args, **kwargs):
        if init.shape[-1] == 40:  # b.mp4's frames only
            raise error
        return real(model, problem, init, *args, **kwargs)

    monkeypatch.setattr(videostyle.method.multiscale, "stylize_frame", optimizer)
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("b.mp4", "out/b.mp4") + job("c.mp4", "out/c.mp4"))
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 1, err
    assert outputs(shots / "out") == ["a.mp4", "c.mp4"]
    rows = out.splitlines()
    assert len(rows) == 4 and "FAILED" in rows[2] and words in rows[2], out
    assert "videostyle: job 2 failed:" in err and "2 of 3 jobs succeeded" in err


@pytest.mark.slow
def test_ctrl_c_stops_the_batch_after_printing_what_ran(shots, capsys, monkeypatch):
    real = videostyle.method.multiscale.stylize_frame

    def optimizer(model, problem, init, *args, **kwargs):
        if init.shape[-1] == 40:
            raise KeyboardInterrupt
        return real(model, problem, init, *args, **kwargs)

    monkeypatch.setattr(videostyle.method.multiscale, "stylize_frame", optimizer)
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("b.mp4", "out/b.mp4") + job("c.mp4", "out/c.mp4"))
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 130
    assert outputs(shots / "out") == ["a.mp4"]
    rows = out.splitlines()
    assert len(rows) == 3 and " ok " in rows[1] and "STOPPED" in rows[2], out
    assert "1 of 3 jobs succeeded; interrupted in job 2" in err


def test_memory_is_released_after_every_job_even_a_failing_one():
    """What a job made (a model and its tensors, in a reference cycle as torch modules with hooks are) is
    gone by the time the next job starts, also when the job failed and its traceback held it. Automatic
    collection is off here, so only run_jobs' own collection can free the cycle, and any reference a
    failure leaves behind (a kept exception, its traceback, its frames) keeps the model alive."""
    made = []   # weak references to each job's objects
    alive = []  # at the start of each job: how many of the earlier jobs' objects are alive

    def run(args):
        alive.append(sum(ref() is not None for refs in made for ref in refs))
        model = torch.nn.Linear(64, 64)
        model.owner = model  # a cycle: freed by a collection, never by reference counts alone
        frames = torch.zeros(8, 64)
        made.append((weakref.ref(model), weakref.ref(frames), weakref.ref(model.weight)))
        if args == "bad":
            model(frames).sum().backward()  # the failure's traceback holds this frame and its locals
            raise RuntimeError("Error(s) in loading state_dict for Sequential:\n\tsize mismatch for 0.weight")

    outcomes = []
    planned = [(Job("x", ("s",), f"o{k}"), a) for k, a in enumerate(["good", "bad", "good", "bad"])]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        batch.run_jobs(planned, run, outcomes)
    finally:
        if was_enabled:
            gc.enable()
    assert alive == [0, 0, 0, 0], alive
    assert [sum(ref() is not None for ref in refs) for refs in made] == [0, 0, 0, 0]  # the last job's too
    assert [o.status for o in outcomes] == ["ok", "FAILED", "ok", "FAILED"]
    assert outcomes[1].message == ("RuntimeError: Error(s) in loading state_dict for Sequential: "
                                   "size mismatch for 0.weight")  # one line


@pytest.mark.parametrize("error, message", [
    (MemoryError(), "out of memory; try a smaller --max-side"),
    (OSError(28, "No space left on device", "/x/frame.png"), "No space left on device (/x/frame.png)"),
    (ValueError(), "ValueError: "),
    (ConfigError("--passes must be ≥ 1"), "--passes must be ≥ 1"),
])
def test_any_exception_fails_only_its_job_with_a_one_line_reason(error, message):
    def run(args):
        if args == "bad":
            raise error

    outcomes = []
    planned = [(Job("x", ("s",), f"o{k}"), a) for k, a in enumerate(["good", "bad", "good"])]
    batch.run_jobs(planned, run, outcomes)
    assert [(o.status, o.message) for o in outcomes] == [("ok", ""), ("FAILED", message.strip()), ("ok", "")]


BAD_VALUES = {
    "string for a number": ("max_side", '"big"'),
    "number for a style": ("style", "3"),
    "switch for a value": ("iterations", "true"),
    "table for a value": ("content_weight", "{ a = 1 }"),
    "number for a switch": ("preserve_colors", "1"),
    "list of tables": ("style_blend", "[{ a = 1 }]"),
    "unknown key": ("max_sidee", "64"),
    "date": ("seed", "2024-01-01"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_wrong_value_type_is_one_line_naming_file_job_and_key_before_any_job_runs(shots, capsys, case):
    key, value = BAD_VALUES[case]
    second = job("c.mp4", "out/c.mp4").replace('style = "style.png"', "") + f"{key} = {value}\n"
    if key != "style":
        second += 'style = "style.png"\n'
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4") + second)
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("videostyle: error:"), err
    assert "jobs.toml: job 2" in err and (key in err or "--" + key.replace("_", "-") in err), err
    assert "internal error" not in err
    assert os.listdir(shots / "out") == []  # job 1 did not run


def test_a_bad_option_value_stops_the_batch_before_any_job(shots, capsys):
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
                                     + job("c.mp4", "out/c.mp4", iterations='"many"'))
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 2 and err.count("\n") == 1 and "job 2" in err and "--iterations" in err, err
    assert os.listdir(shots / "out") == []


def test_every_path_option_is_relative_to_the_job_file(tmp_path):
    (tmp_path / "jobs.toml").write_text('''
[defaults]
weights = "w/vgg.pt"
flow-dir = "flows"
[[job]]
input = "in.mp4"
style = ["s/a.jpg", "/abs/b.jpg"]
output = "out/x.mp4"
report = "r/x.json"
work-dir = "work/x"
compare = "cmp/x.mp4"
[[job]]
input = "in2.mp4"
style = "s/a.jpg"
output = "out/y.mp4"
weights = "packaged"
flow_dir = "~/flows"
''')
    first, second = load_jobs(str(tmp_path / "jobs.toml"))
    d = str(tmp_path)
    assert first.input == os.path.join(d, "in.mp4") and first.output == os.path.join(d, "out/x.mp4")
    assert first.styles == (os.path.join(d, "s/a.jpg"), "/abs/b.jpg")
    assert first.options == {"weights": os.path.join(d, "w/vgg.pt"), "flow_dir": os.path.join(d, "flows"),
                             "report": os.path.join(d, "r/x.json"), "work_dir": os.path.join(d, "work/x"),
                             "compare": os.path.join(d, "cmp/x.mp4")}
    assert second.options == {"weights": "packaged", "flow_dir": os.path.expanduser("~/flows")}


@pytest.mark.slow
def test_a_relative_flow_dir_is_found_beside_the_job_file(shots, capsys):
    make_video(shots / "a.mp4", n=2)  # one flow pair
    assert main(["flow", str(shots / "a.mp4"), "-o", str(shots / "flows"), "--max-side", "48"]) == 0
    (shots / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "out/a.mp4", flow_dir='"flows"'))
    assert os.getcwd() != str(shots)
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 0, err
    assert outputs(shots / "out") == ["a.mp4"]


@pytest.mark.parametrize("key", ["work_dir", "work-dir", "report", "compare", "output"])
def test_a_per_job_path_in_defaults_is_refused(shots, capsys, key):
    (shots / "jobs.toml").write_text(f'[defaults]\n{TINY}{key} = "shared"\n' + job("a.mp4", "out/a.mp4")
                                     + job("c.mp4", "out/c.mp4"))
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 2 and err.count("\n") == 1 and "[defaults] cannot hold" in err, err
    assert os.listdir(shots / "out") == [] and not os.path.exists(shots / "shared")


COLLISIONS = {
    "same output": ('output = "out/a.mp4"', 'output = "out/../out/a.mp4"'),
    "same output through a link": ('output = "out/a.mp4"', 'output = "link/a.mp4"'),
    "output is another's report": ('output = "out/a.mp4"', 'output = "out/c.mp4"\nreport = "out/a.mp4"'),
    "same compare": ('output = "out/a.mp4"\ncompare = "out/cmp.mp4"', 'output = "out/c.mp4"\ncompare = "out/cmp.mp4"'),
    "same report": ('output = "out/a.mp4"\nreport = "r.json"', 'output = "out/c.mp4"\nreport = "./r.json"'),
    "same work folder": ('output = "out/a.mp4"\nwork_dir = "w"', 'output = "out/c.mp4"\nwork_dir = "w/"'),
    "same frames": ('output = "out/f/%04d.png"', 'output = "out/f/%06d.png"'),
    "output over an earlier job's input": ('output = "out/a.mp4"', 'output = "a.mp4"'),
    "output over an earlier job's style": ('output = "out/a.mp4"', 'output = "style.png"'),
    "frames into an earlier job's input folder": ('output = "out/a.mp4"\ninput = "shots/"',
                                                  'output = "shots/%04d.png"'),
}


@pytest.mark.parametrize("case", sorted(COLLISIONS))
def test_two_jobs_writing_the_same_file_are_refused_naming_both(shots, capsys, case):
    os.symlink(shots / "out", shots / "link")
    os.mkdir(shots / "shots")
    first, second = COLLISIONS[case]
    first = first if "input" in first else first + '\ninput = "a.mp4"'
    (shots / "jobs.toml").write_text(f'[defaults]\n{TINY}\n[[job]]\nstyle = "style.png"\n{first}\n'
                                     f'\n[[job]]\ninput = "c.mp4"\nstyle = "style.png"\n{second}\n')
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 2 and err.count("\n") == 1, err
    assert "job 1" in err and "job 2" in err and "would write it" in err
    assert os.listdir(shots / "out") == []


def test_a_job_may_read_what_an_earlier_job_wrote(shots):
    first = Job(str(shots / "a.mp4"), (str(shots / "style.png"),), str(shots / "out/a.mp4"), {}, "job 1")
    second = Job(str(shots / "out/a.mp4"), (str(shots / "style.png"),), str(shots / "out/aa.mp4"), {}, "job 2")
    parser = build_parser()
    parse = lambda job, argv: parser.parse_args(["stylize", *argv])  # noqa: E731
    assert len(batch.plan([first, second], parse, {"stylize": {}})) == 2
    with pytest.raises(ConfigError, match="job 2 reads .*a.mp4 .input. and job 1 would write it"):
        batch.plan([second, first], parse, {"stylize": {}})


def test_glob_outputs_that_would_collide_are_named_apart(tmp_path):
    for name in ("shot.mov", "shot.mp4", "other.mp4"):
        (tmp_path / name).write_bytes(b"")
    out = str(tmp_path / "out")
    os.mkdir(out)
    jobs = jobs_from_glob(str(tmp_path / "*.m*"), ["st.png"], out)
    assert [os.path.basename(j.output) for j in jobs] == ["other.mp4", "shot_mov.mp4", "shot_mp4.mp4"]
    jobs = jobs_from_glob(str(tmp_path / "other.mp4"), ["a/style.jpg", "b/style.jpg", "c/plain.jpg"], out)
    assert [os.path.basename(j.output) for j in jobs] == ["other_a_style.mp4", "other_b_style.mp4", "other_plain.mp4"]
    again = jobs_from_glob(str(tmp_path / "*.m*"), ["st.png"], out)
    assert again == jobs_from_glob(str(tmp_path / "*.m*"), ["st.png"], out)  # deterministic


def test_glob_options_that_every_job_would_share_are_refused(shots, capsys):
    code = main(["batch", "--inputs", str(shots / "*.mp4"), "--style", str(shots / "style.png"),
                 "--output-dir", str(shots / "out"), "--options", f"--report {shots / 'r.json'}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "would write it" in err and err.count("\n") == 1, err
    assert os.listdir(shots / "out") == []


@pytest.mark.slow
def test_glob_inputs(shots, capsys):
    os.remove(shots / "b.mp4")
    code = main(["batch", "--inputs", str(shots / "*.mp4"), "--style", str(shots / "style.png"),
                 "--output-dir", str(shots / "out"), "--options", "--iterations 2,1 --max-side 48 --device cpu",
                 "--quiet"])
    assert code == 0
    assert outputs(shots / "out") == ["a.mp4", "c.mp4"]


def test_job_file_errors_and_argv(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[job]]\ninput = 'x.mp4'\n")
    with pytest.raises(ConfigError, match="lacks style, output"):
        load_jobs(str(bad))
    bad.write_text("[[job]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_jobs(str(bad))
    with pytest.raises(ConfigError, match="job file not found"):
        load_jobs(str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no input matches"):
        jobs_from_glob(str(tmp_path / "*.mov"), ["s.png"], str(tmp_path))
    job = Job("in.mp4", ("s.jpg",), "o.mp4", {"max_side": 64, "style_blend": [1, 2], "preserve_colors": True})
    assert job.argv() == ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--max-side", "64",
                          "--style-blend", "1,2", "--preserve-colors"]


def test_dream_jobs_run_beside_stylize_jobs(shots, capsys):
    """A job that says dream = true is a DeepDream job (no painting; the dream's own options), in a job
    file with stylize jobs and from --inputs --dream; a dream job with a style is a bad job file."""
    import json
    (shots / "jobs.toml").write_text(
        "[defaults]\n" + TINY + job("a.mp4", "out/a.mp4")
        + '\n[[job]]\ninput = "c.mp4"\noutput = "out/c_dream.mp4"\ndream = true\noctaves = 2\nreport = "out/c.json"\n')
    code, out, err = run_batch(capsys, shots / "jobs.toml")
    assert code == 0, err
    assert outputs(shots / "out") == ["a.mp4", "c.json", "c_dream.mp4"]
    report = json.loads((shots / "out" / "c.json").read_text())
    assert report["config"]["objective"] == "dream" and report["styles"] == []
    assert "c.mp4 × dream" in out
    (shots / "bad.toml").write_text("[defaults]\n" + TINY + job("b.mp4", "out/b.mp4")
                                    + job("c.mp4", "out/c2.mp4").replace("[[job]]", "[[job]]\ndream = true"))
    code, _, err = run_batch(capsys, shots / "bad.toml")
    assert code == 2 and "job 2: a dream job takes no style" in err
    (shots / "bad2.toml").write_text("[defaults]\n" + TINY
                                     + '\n[[job]]\ninput = "c.mp4"\noutput = "out/c3.mp4"\ndream = true\n'
                                       'content_weight = 3\n')
    code, _, err = run_batch(capsys, shots / "bad2.toml")
    assert code == 2 and "dream takes no --content-weight" in err
    assert outputs(shots / "out") == ["a.mp4", "c.json", "c_dream.mp4"]
    glob_out = shots / "dreams"
    glob_out.mkdir()
    code = main(["batch", "--inputs", str(shots / "[ab].mp4"), "--dream", "--output-dir", str(glob_out),
                 "--options", "--iterations 2,1 --max-side 48 --device cpu --octaves 2", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert outputs(glob_out) == ["a.mp4", "b.mp4"]
