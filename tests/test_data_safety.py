"""No file is lost to a look-alike work folder, a hard link or another batch job, and the commonest layout
(frames and their preview movie in one folder) is not refused (issue 22, items 1–3 and 8).

Every refusal is checked the same way: exit 2, one line, and every file that existed is unchanged.
"""
import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from test_safety import snapshot
from videostyle.cli import main
from videostyle.run.store import LEDGER, MARK, WorkStore

FAST = ["--iterations", "2,1", "--max-side", "32", "--quiet", "--device", "cpu"]
TINY = 'iterations = "2,1"\nmax_side = 32\ndevice = "cpu"\n'


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def refused(capsys, root, *argv, says=""):
    """Run ``argv``; assert exit 2, one line (containing ``says``), and nothing under ``root`` changed."""
    before = snapshot(root)
    code, err = run(capsys, *argv)
    assert code == 2 and len(err) == 1, (code, err)
    assert says in err[0], err[0]
    assert snapshot(root) == before
    return err[0]


def image(path, seed=1, size=(24, 24)):
    cv2.imwrite(str(path), np.random.default_rng(seed).uniform(0, 255, (*size, 3)).astype(np.uint8))
    return path


def frames(folder, n=2, first=1, name="in.{:04d}.png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / name.format(first + i)), texture(24, 32, (3, 4), seed=i))
    return folder


@pytest.fixture
def place(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", n=2, w=32, h=24, image=lambda i, w, h: texture(h, w, (3, 4), seed=i))
    return tmp_path, clip, image(tmp_path / "painting.png")


# --- item 2: a folder is ours only by a mark the store made ------------------------------------------

def look_alike(folder):
    """A user's folder that looks like a work folder of an earlier release: manifest, frames, flows."""
    (folder / "frames").mkdir(parents=True)
    (folder / "flows").mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": 3, "config": {"mine": True}}))
    image(folder / "frames" / "shot_0001.png", seed=5)
    (folder / "flows" / "a.flo").write_bytes(b"PIEH my flow")
    return folder


@pytest.mark.parametrize("restart", [False, True])
def test_a_folder_that_only_looks_like_a_work_folder_is_never_emptied(place, capsys, restart):
    root, clip, style = place
    work = look_alike(root / "mine")
    line = refused(capsys, root, "stylize", clip, "--style", style, "-o", root / "out.mp4", "--work-dir", work,
                   *FAST, *(["--restart"] if restart else []), says="remove it by hand (rm -r")
    assert "never emptied" in line
    assert not (root / "out.mp4").exists()


def test_the_store_marks_its_folder_and_records_what_it_writes(place, capsys):
    root, clip, style = place
    work = root / "w"
    code, _ = run(capsys, "stylize", clip, "--style", style, "-o", root / "out.mp4", "--work-dir", work,
                  "--keep-work", *FAST)
    assert code == 0 and (work / MARK).is_file()
    recorded = {line.rstrip("\n") for line in open(work / LEDGER)}
    ours = {os.path.relpath(os.path.join(d, n), work) for d, _, ns in os.walk(work) for n in ns} - {MARK, LEDGER}
    assert any(p.startswith("frames/") and p.endswith(".png") for p in ours)
    assert ours <= recorded  # every file the store wrote is in the ledger


@pytest.mark.parametrize("how", ["finished", "restart"])
def test_user_files_inside_a_real_work_folder_survive_cleanup_and_restart(place, capsys, how):
    root, clip, style = place
    work = root / "w"
    out = root / "out.mp4"
    base = ["stylize", clip, "--style", style, "-o", out, "--work-dir", work, *FAST]
    assert run(capsys, *base, "--keep-work")[0] == 0
    (work / "frames" / "notes.txt").write_text("mine")
    (work / "flows").mkdir(exist_ok=True)
    (work / "flows" / "a.flo").write_bytes(b"PIEH mine")
    (work / "mine.txt").write_text("mine too")
    extra = ["-y", "--restart", "--keep-work"] if how == "restart" else ["-y"]
    code, err = run(capsys, *base, *extra)
    assert code == 0, err
    assert (work / "frames" / "notes.txt").read_text() == "mine"
    assert (work / "flows" / "a.flo").read_bytes() == b"PIEH mine"
    assert (work / "mine.txt").read_text() == "mine too"
    left = sorted(os.path.relpath(os.path.join(d, n), work) for d, _, ns in os.walk(work) for n in ns)
    if how == "finished":  # only the user's files (and the folders holding them) are left
        assert left == ["flows/a.flo", "frames/notes.txt", "mine.txt"]


# --- two runs of one output at once ------------------------------------------------------------------

HOLD = """
import sys, time
from videostyle.run.store import WorkStore
store = WorkStore.open(sys.argv[1], {"held": True})
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_of_the_same_output_is_refused_while_the_first_lives(place, capsys):
    """A farm retrying a job, or the same command typed twice: the second run would write the same frames
    and delete the work folder under the first. It is refused while the first lives, and not after."""
    root, clip, style = place
    out, work = root / "out.mp4", root / "out.mp4.videostyle"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(work)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(root)
        code, err = run(capsys, "stylize", clip, "--style", style, "-o", out, *FAST)
        assert code == 1 and len(err) == 1 and "in use by another videostyle run" in err[0], err
        assert snapshot(root) == before
        code, err = run(capsys, "assemble", work, "-o", root / "a.mp4", "--quiet")
        assert code == 1 and len(err) == 1 and "still rendering" in err[0], err
        assert snapshot(root) == before
    finally:
        holder.kill()
        holder.wait()
    # Killed, the first run holds nothing: its folder is taken over (other settings, hence --restart).
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", out, "--restart", *FAST)
    assert code == 0, err
    assert out.is_file() and not work.exists()


def test_another_thread_of_the_process_is_refused_as_another_process_is(place, capsys):
    """A server rendering jobs in threads, given one output twice. (The thread holding a folder may open it
    again: a script reopening its store.)"""
    root, clip, style = place
    out, work = root / "out.mp4", root / "out.mp4.videostyle"
    held = {}
    opener = threading.Thread(target=lambda: held.setdefault("store", WorkStore.open(str(work), {"held": True})))
    opener.start()
    opener.join()
    try:
        code, err = run(capsys, "stylize", clip, "--style", style, "-o", out, *FAST)
        assert code == 1 and len(err) == 1 and "in use by another videostyle run" in err[0], err
    finally:
        held["store"].close()
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", out, "--restart", *FAST)
    assert code == 0, err


def test_a_work_folder_that_cannot_be_locked_is_an_output_problem_not_another_run(place, capsys, monkeypatch):
    """A lock file that cannot be made (a read-only folder, a full disk) says so; it is not "in use"."""
    from videostyle.io import locks
    hold = locks.hold

    def refuse(path):  # the work folder's lock file only (the outputs' staging locks are made as usual)
        if path.endswith(".videostyle-run"):
            raise PermissionError(13, "Permission denied")
        return hold(path)
    monkeypatch.setattr(locks, "hold", refuse)
    root, clip, style = place
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", root / "out.mp4", *FAST)
    assert code == 1 and len(err) == 1 and "cannot write work folder" in err[0] and "Permission denied" in err[0], err
    assert not (root / "out.mp4").exists()


# --- item 3: hard links are the files they link ------------------------------------------------------

def test_output_that_is_a_hard_link_of_the_input_is_refused_even_with_y(place, capsys):
    root, clip, style = place
    os.link(clip, root / "same.mp4")
    refused(capsys, root, "stylize", clip, "--style", style, "-o", root / "same.mp4", "-y", *FAST,
            says="would overwrite the input")


def test_report_that_is_a_hard_link_of_the_style_is_refused(place, capsys):
    root, clip, style = place
    os.link(style, root / "report.json")
    refused(capsys, root, "stylize", clip, "--style", style, "-o", root / "out.mp4", "--report",
            root / "report.json", "-y", *FAST, says="would overwrite the style image")


def test_frame_output_whose_folder_holds_a_hard_link_of_the_style_is_refused(place, capsys):
    root, clip, style = place
    (root / "out").mkdir()
    os.link(style, root / "out" / "000001.png")  # the first frame written would replace the painting
    refused(capsys, root, "stylize", clip, "--style", style, "-o", str(root / "out") + "/", "-y", *FAST,
            says="would overwrite the style image")


def test_hard_link_of_an_input_frame_elsewhere_in_a_written_pattern_is_refused(tmp_path, capsys):
    plates = frames(tmp_path / "plates")
    (tmp_path / "out").mkdir()
    os.link(plates / "in.0001.png", tmp_path / "out" / "f.0007.png")
    refused(capsys, tmp_path, "stylize", plates / "in.%04d.png", "--style", image(tmp_path / "s.png"),
            "-o", tmp_path / "out" / "f.%04d.png", "-y", *FAST, says="would overwrite the input frame")


@pytest.mark.parametrize("command", ["dream --report", "preview -o", "evaluate --json", "evaluate --plot",
                                     "flow -o", "stylize --compare"])
def test_every_command_knows_a_hard_link_of_what_it_reads(place, capsys, command):
    root, clip, style = place
    link = root / "link"
    argv = {"dream --report": ["dream", clip, "-o", root / "o.mp4", "--report", link, "-y", *FAST],
            "preview -o": ["preview", clip, "--style", style, "-o", link, "--quiet", "--device", "cpu"],
            "evaluate --json": ["evaluate", clip, "--source", clip, "--json", link],
            "evaluate --plot": ["evaluate", clip, "--source", clip, "--plot", link],
            "flow -o": ["flow", clip, "-o", root / "fl"],
            "stylize --compare": ["stylize", clip, "--style", style, "-o", root / "o.mp4", "--compare", link, *FAST]}
    if command == "flow -o":
        (root / "fl").mkdir()
        os.link(clip, root / "fl" / "forward_1_2.flo")  # a flow file of its names that is the input
    else:
        link = link.with_suffix(".png")
        argv = [link if a == root / "link" else a for a in argv[command]]
        os.link(style if command in ("preview -o", "stylize --compare") else clip, link)
    refused(capsys, root, *(argv if command != "flow -o" else argv[command]), says="would overwrite the")


def test_work_folder_holding_a_hard_link_of_the_style_is_still_not_ours(place, capsys):
    root, clip, style = place
    (root / "w").mkdir()
    os.link(style, root / "w" / "p.png")
    refused(capsys, root, "stylize", clip, "--style", style, "-o", root / "out.mp4", "--work-dir", root / "w",
            *FAST, says="not a videostyle work folder")


# --- item 8: frames and their preview movie in one folder --------------------------------------------

@pytest.mark.parametrize("output", ["out.mp4", "sub/preview.mp4"])
def test_a_preview_beside_the_input_frames_is_allowed(tmp_path, capsys, output):
    plates = frames(tmp_path / "plates")
    (plates / "sub").mkdir()
    style = image(tmp_path / "s.png")
    before = snapshot(plates)
    code, err = run(capsys, "stylize", plates / "in.%04d.png", "--style", style, "-o", plates / output, *FAST)
    assert code == 0, err
    after = snapshot(plates)
    assert all(after[p] == h for p, h in before.items())
    made = sorted(set(after) - set(before))
    assert made == [output]
    assert not any(n.endswith(".videostyle") for n in os.listdir(plates))  # the work folder is gone


def test_a_preview_inside_a_folder_input_is_allowed(tmp_path, capsys):
    plates = frames(tmp_path / "plates")
    code, err = run(capsys, "stylize", plates, "--style", image(tmp_path / "s.png"), "-o", plates / "preview.mp4",
                    *FAST)
    assert code == 0, err
    assert (plates / "preview.mp4").is_file()


def test_a_work_folder_holding_the_input_frames_is_still_refused(tmp_path, capsys):
    plates = frames(tmp_path / "shot" / "plates")
    refused(capsys, tmp_path, "stylize", plates / "in.%04d.png", "--style", image(tmp_path / "s.png"),
            "-o", tmp_path / "out.mp4", "--work-dir", tmp_path / "shot", *FAST, says="contains the input")


# --- item 1 (and 8 in a batch): every job's paths, and each against the others, when the file is read --

def job(input, output, style="s.png", **options):
    lines = [f'input = "{input}"', f'style = "{style}"', f'output = "{output}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return "\n[[job]]\n" + "\n".join(lines) + "\n"


def batch_place(tmp_path):
    make_video(tmp_path / "a.mp4", n=1, w=32, h=24)
    image(tmp_path / "s.png")
    (tmp_path / "paintings").mkdir()
    image(tmp_path / "paintings" / "0001.png", seed=3)
    return tmp_path


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_job_writing_frames_over_an_earlier_jobs_style_is_refused(tmp_path, capsys, overwrite):
    root = batch_place(tmp_path)
    extra = {"overwrite": True} if overwrite else {}
    (root / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "one.mp4", style="paintings/0001.png")
                                    + job("a.mp4", "paintings/%04d.png", **extra))
    line = refused(capsys, root, "batch", root / "jobs.toml", "--quiet", says="job 1 reads")
    assert "job 2 would write it" in line and "0001.png" in line


@pytest.mark.parametrize("case", ["frames into input folder", "hard link in pattern", "work folder holds it",
                                  "report over style"])
def test_later_jobs_never_write_what_earlier_jobs_read(tmp_path, capsys, case):
    root = batch_place(tmp_path)
    frames(root / "plates")
    first = job("plates/in.%04d.png", "one.mp4", style="paintings/0001.png")
    if case == "frames into input folder":
        second = job("a.mp4", "plates/styled_%04d.png")
    elif case == "hard link in pattern":
        (root / "elsewhere").mkdir()
        os.link(root / "paintings" / "0001.png", root / "elsewhere" / "f_0003.png")
        second = job("a.mp4", "elsewhere/f_%04d.png", overwrite=True)
    elif case == "work folder holds it":
        second = job("a.mp4", "two.mp4", work_dir="paintings")
    else:
        second = job("a.mp4", "two.mp4", report="paintings/0001.png")
    (root / "jobs.toml").write_text("[defaults]\n" + TINY + first + second)
    # The work folder case may be refused as not ours (it holds the painting) or as holding a read:
    # either way before any job runs.
    refused(capsys, root, "batch", root / "jobs.toml", "--quiet", says="job ")


def test_a_job_clashing_with_itself_fails_the_job_file_not_its_turn(tmp_path, capsys):
    root = batch_place(tmp_path)
    (root / "jobs.toml").write_text("[defaults]\n" + TINY + job("a.mp4", "one.mp4")
                                    + job("a.mp4", "two.mp4", style="paintings/0001.png",
                                          report="paintings/0001.png"))
    refused(capsys, root, "batch", root / "jobs.toml", "--quiet", says="job 2: --report")
    assert not (root / "one.mp4").exists()


def test_batch_chain_and_previews_beside_plates_are_allowed(tmp_path, capsys):
    root = batch_place(tmp_path)
    frames(root / "plates")
    # Job 1 makes a preview beside its plates (default work folder inside the plates' folder); job 2
    # restylizes job 1's output: a chain, allowed.
    (root / "jobs.toml").write_text("[defaults]\n" + TINY + job("plates/in.%04d.png", "plates/preview.mp4")
                                    + job("plates/preview.mp4", "again.mp4"))
    code, err = run(capsys, "batch", root / "jobs.toml", "--quiet")
    assert code == 0, err
    assert (root / "plates" / "preview.mp4").is_file() and (root / "again.mp4").is_file()
