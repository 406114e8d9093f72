"""Nothing the user owns is deleted or overwritten, whatever paths they give (issue 10, items 1–3, 7, 9).

Every case snapshots the files around the run and checks that nothing that existed before changed or
disappeared, except the files the run was asked to write.
"""
import hashlib
import json
import os
import random
import re

import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle.io.atomic import finite
from videostyle.cli import main
from videostyle.errors import InputError
from videostyle.run.flows import EstimatedFlows
from videostyle.run.store import WorkStore, file_identity

FAST = ["--iterations", "2,1", "--max-side", "32", "--quiet", "--device", "cpu"]


def snapshot(root) -> dict[str, str]:
    """Every file below ``root`` with the hash of its bytes."""
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def unchanged(before: dict, after: dict, allowed=()) -> list[str]:
    """Files of ``before`` that changed or vanished (``allowed``: paths the run was asked to write)."""
    return [p for p, h in before.items() if p not in allowed and after.get(p) != h]


@pytest.fixture
def place(tmp_path):
    """A user's folder: a clip, a painting, and some files of their own."""
    clip = make_video(tmp_path / "clip.mp4", n=3, image=lambda i, w, h: texture(h, w, (4, 6), seed=i))
    style = tmp_path / "painting.png"
    cv2.imwrite(str(style), np.random.default_rng(1).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "keep.txt").write_text("also mine")
    return tmp_path, clip, str(style)


def run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_work_dir_that_is_a_user_folder_is_refused(place, capsys):
    root, clip, style = place
    before = snapshot(root)
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", str(root / "out.mp4"),
                    "--work-dir", str(root / "shots"), *FAST)
    assert code == 2 and len(err) == 1 and "not a videostyle work folder" in err[0]
    assert snapshot(root) == before


@pytest.mark.parametrize("case", ["home", "output folder", "contains style", "inside output frames"])
def test_work_dir_worst_places_are_refused(place, capsys, case):
    root, clip, style = place
    out = str(root / "frames") + "/"
    work = {"home": str(root), "output folder": str(root / "frames"), "contains style": str(root),
            "inside output frames": str(root / "frames" / "w")}[case]
    before = snapshot(root)
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", out, "--work-dir", work, *FAST)
    assert code == 2 and len(err) == 1, err
    assert snapshot(root) == before
    assert not (root / "frames").exists()


@pytest.mark.parametrize("option", ["--report", "--compare"])
def test_writing_over_the_input_or_style_is_refused(place, capsys, option):
    root, clip, style = place
    for target in (clip, style, str(root / "out.mp4")):
        before = snapshot(root)
        code, err = run(capsys, "stylize", clip, "--style", style, "-o", str(root / "out.mp4"),
                        option, target, *FAST)
        assert code == 2 and len(err) == 1, err
        assert snapshot(root) == before


def test_report_through_a_symlink_to_the_input_is_refused(place, capsys):
    root, clip, style = place
    os.symlink(clip, root / "link.json")
    before = snapshot(root)
    code, err = run(capsys, "stylize", clip, "--style", style, "-o", str(root / "out.mp4"),
                    "--report", str(root / "link.json"), *FAST)
    assert code == 2 and "would overwrite the input" in err[0]
    assert snapshot(root) == before


def test_frames_output_never_replaces_a_style_image_among_them(tmp_path, capsys):
    clip = make_video(tmp_path / "clip.mp4", n=2)
    os.mkdir(tmp_path / "out")
    style = tmp_path / "out" / "000001.png"
    cv2.imwrite(str(style), np.full((20, 20, 3), 90, np.uint8))
    before = snapshot(tmp_path)
    code, err = run(capsys, "stylize", clip, "--style", str(style), "-o", str(tmp_path / "out") + "/", *FAST)
    assert code == 2 and "would overwrite the style image" in err[0]
    assert snapshot(tmp_path) == before


def test_compare_frames_never_replace_a_style_image_or_input_frame(tmp_path, capsys):
    """``--compare folder/`` writes frames (``%06d.png``) like a folder output, so it is checked as frames:
    never over a style image of that name, never into the input's frame folder (stylize and assemble)."""
    frames = tmp_path / "plates"
    os.mkdir(frames)
    for i in (1, 2):
        cv2.imwrite(str(frames / f"{i:06d}.png"), texture(32, 48, (4, 6), seed=i))
    os.mkdir(tmp_path / "looks")
    style = tmp_path / "looks" / "000001.png"
    cv2.imwrite(str(style), np.full((20, 20, 3), 90, np.uint8))
    work = tmp_path / "work"
    assert main(["stylize", str(frames), "--style", str(style), "-o", str(tmp_path / "o.mp4"), "--keep-work",
                 "--work-dir", str(work), *FAST]) == 0
    before = snapshot(tmp_path)
    for argv, clash in (
            (["stylize", str(frames), "--style", str(style), "-o", str(tmp_path / "a.mp4"), *FAST], "looks"),
            (["stylize", str(frames), "--style", str(style), "-o", str(tmp_path / "b.mp4"), *FAST], "plates"),
            (["assemble", str(work), "-o", str(tmp_path / "c.mp4"), "--quiet"], "plates")):
        code, err = run(capsys, *argv, "--compare", str(tmp_path / clash) + os.sep, "-y")
        assert code == 2 and "--compare" in err[0], (argv, clash, err)
        assert snapshot(tmp_path) == before, (argv, clash)


def test_preview_evaluate_and_flow_outputs_are_checked(place, capsys):
    root, clip, style = place
    before = snapshot(root)
    assert run(capsys, "preview", clip, "--style", style, "-o", style, *FAST)[0] == 2
    assert run(capsys, "evaluate", clip, "--source", clip, "--json", clip)[0] == 2
    assert run(capsys, "evaluate", clip, "--source", clip, "--style", style, "--plot", style)[0] == 2
    assert snapshot(root) == before
    frames = root / "seq"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i}.png"), texture(32, 48, (4, 4), seed=i))
    (frames / "forward_1_2.flo").write_bytes(b"a user's own file by that name")
    before = snapshot(root)
    code, err = run(capsys, "flow", str(frames), "-o", str(frames))
    assert code == 2 and "would write into the input folder" in err[0]
    assert snapshot(root) == before


def test_cleanup_removes_only_what_the_store_made(tmp_path):
    root = tmp_path / "work"
    store = WorkStore.open(str(root), {"input": {}, "config": {"a": 1}})
    store.save(0, np.zeros((4, 4, 3), np.uint16), {"index": 0})
    EstimatedFlows("dis", "ultrafast", str(root / "flows"), size=(4, 4))  # the flow cache's folder
    (root / "my-notes.txt").write_text("put here by a person")
    store.remove()
    assert sorted(os.listdir(root)) == ["my-notes.txt"]
    (root / "my-notes.txt").unlink()
    WorkStore.open(str(root), {"input": {}, "config": {"a": 1}}).remove()
    assert not root.exists(), "an emptied work folder is removed"


def test_restart_after_the_input_changed_uses_fresh_flows(tmp_path, capsys):
    """--restart must not reuse the old clip's cached flows: the result equals a fresh run on the new clip."""
    style = tmp_path / "s.png"
    cv2.imwrite(str(style), np.random.default_rng(3).uniform(0, 255, (24, 24, 3)).astype(np.uint8))
    clip = tmp_path / "clip.mp4"

    def pan(offset):
        pano = texture(32, 96, (6, 12), seed=5, interpolation=cv2.INTER_LINEAR)
        return lambda i, w, h: np.ascontiguousarray(pano[:, offset * i:offset * i + w])

    argv = ["--iterations", "3,3", "--tolerance", "0", "--quiet", "--device", "cpu", "--depth", "16",
            "--keep-work"]
    make_video(clip, n=3, image=pan(1))
    assert main(["stylize", str(clip), "--style", str(style), "-o", str(tmp_path / "a") + "/", *argv]) == 0
    make_video(clip, n=3, image=pan(6))  # edited in place, same name
    assert main(["stylize", str(clip), "--style", str(style), "-o", str(tmp_path / "b") + "/",
                 "--work-dir", str(tmp_path / "a.videostyle"), "--restart", *argv]) == 0
    assert main(["stylize", str(clip), "--style", str(style), "-o", str(tmp_path / "c") + "/", *argv]) == 0
    b, c = snapshot(tmp_path / "b"), snapshot(tmp_path / "c")
    assert b and b == c, "frames after --restart differ from a fresh run on the changed clip"


def test_input_changed_in_place_is_noticed_even_with_the_same_size_and_time(tmp_path):
    a = tmp_path / "clip.bin"
    a.write_bytes(b"x" * 5000)
    st = os.stat(a)
    before = file_identity([str(a)])
    a.write_bytes(b"y" * 5000)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_identity([str(a)]) != before


def test_resume_is_refused_when_the_weights_file_changed(tmp_path, capsys):
    import torch
    from videostyle.method.features import load_state
    state, _ = load_state("packaged")
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    clip = make_video(tmp_path / "clip.mp4", n=2)
    style = tmp_path / "s.png"
    cv2.imwrite(str(style), np.full((20, 20, 3), 60, np.uint8))
    argv = ["stylize", clip, "--style", str(style), "-o", str(tmp_path / "o.mp4"), "--weights", str(weights),
            "--weights-format", "torchvision", "--keep-work", *FAST]
    assert main(argv) == 0
    state["0.weight"] = state["0.weight"] * 1.01
    torch.save(state, weights)
    os.remove(tmp_path / "o.mp4")
    code, err = run(capsys, *argv)
    assert code == 2 and "weights" in err[0]


def test_non_finite_values_never_reach_a_frame_or_json(tmp_path):
    store = WorkStore.open(str(tmp_path / "w"), {"input": {}, "config": {}})
    bad = np.zeros((4, 4, 3), np.float32)
    bad[1, 1, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        store.keep(0, bad, {})
    assert store.load(0) is None
    store.keep(1, np.ones((4, 4, 3), np.float32), {"terms": {"total": float("inf")}})
    assert store.load(1)[1] == {"terms": {"total": None}}
    assert finite({"a": [1.0, float("nan")], "b": (float("-inf"),)}) == {"a": [1.0, None], "b": [None]}


def _identities(root) -> dict[str, tuple[str, tuple[int, int]]]:
    """Every file below ``root`` (links followed for files, not for folders) with the hash of its bytes and
    the (device, inode) it is, so a name that reaches an input through a symlink or a hard link is known."""
    out = {}
    for rel, digest in snapshot(root).items():
        st = os.stat(os.path.join(root, rel))
        out[rel] = (digest, (st.st_dev, st.st_ino))
    return out


def _name(root, path: str) -> str:
    """``path`` as a snapshot names it: its folder with links resolved, its last part as given (a file
    written to that name replaces the name, never what a link there points at)."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    return os.path.relpath(os.path.join(folder, os.path.basename(path.rstrip(os.sep))), os.path.realpath(root))


def _frame_count(path: str) -> int:
    import av
    with av.open(path) as c:
        return sum(1 for _ in c.decode(video=0))


def test_random_path_combinations_never_change_a_file_they_do_not_name(tmp_path, capsys):
    """Property: for random combinations of output, work folder, report and compare paths (fresh names,
    the same path twice, nested paths, folders, symlinks, hard links), every file that existed before is
    unchanged afterwards. The one exception is a run that succeeds: it may write the outputs it was asked
    for and its own work folder, and nothing else. An input (the clip, the style image) never changes,
    whatever name reaches it. Successful runs really render, so a missing check shows as a changed file."""
    clip = make_video(tmp_path / "clip.mp4", n=2)
    cv2.imwrite(str(tmp_path / "style.png"), np.full((20, 20, 3), 60, np.uint8))
    (tmp_path / "shot").mkdir()  # a style image named like a frame of a folder output
    cv2.imwrite(str(tmp_path / "shot" / "000001.png"), np.full((20, 20, 3), 90, np.uint8))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "user.txt").write_text("keep")
    os.symlink(tmp_path / "d", tmp_path / "link")
    os.symlink(clip, tmp_path / "clip-link.mp4")
    os.link(clip, tmp_path / "clip-hard.mp4")
    os.symlink(tmp_path / "style.png", tmp_path / "style-link.png")
    os.link(tmp_path / "style.png", tmp_path / "style-hard.png")
    styles = ["style.png", "style-link.png", "shot/000001.png"]
    clashes = ["clip.mp4", "clip-link.mp4", "clip-hard.mp4", "style.png", "style-link.png", "style-hard.png",
               "shot/000001.png", "shot" + os.sep, "d", "d" + os.sep, "link", "link" + os.sep, "d/user.txt",
               "link/user.txt", "d/x.mp4", "d/r.json", "o.mp4", "r.json", "d/sub", ".", "seq" + os.sep]
    rng = random.Random(10)
    tool_files: set[str] = set()  # files a run's work folder held (a failed run may leave them for a rerun)
    results, new_frame_folders = [], 0
    # First each input under each of its names as the one clash of a run, then random combinations.
    forced = [("output", "clip.mp4"), ("compare", "clip-link.mp4"), ("output", "clip-hard.mp4"),
              ("compare", "clip-hard.mp4"), ("report", "style.png"), ("report", "style-link.png"),
              ("report", "style-hard.png")]
    for trial in range(len(forced) + 16):
        # Fresh names, of which none, one or two are swapped for a clash: some runs succeed, and each
        # refused one would change a file if its check were missing.
        fresh = {"output": rng.choice([f"o{trial}.mp4", f"seq{trial}" + os.sep, f"d/n{trial}.mp4"]),
                 "work": f"w{trial}", "report": f"r{trial}.json", "compare": f"c{trial}.mp4"}
        pick = dict(fresh)
        used = ["output"] + [k for k, chance in (("work", 0.7), ("report", 0.5), ("compare", 0.5))
                             if rng.random() < chance]
        clash = rng.choice(clashes)
        for key in rng.sample(used, min(len(used), rng.choice([0, 1, 1, 2]))):
            pick[key] = clash if rng.random() < 0.3 else rng.choice(clashes)  # sometimes one place twice
        if not pick["output"].endswith((".mp4", os.sep)):
            pick["output"] = rng.choice(["o.mp4", "seq" + os.sep, "d/x.mp4", "shot" + os.sep])
        style = rng.choice(styles)
        if trial < len(forced):
            pick, style = {**fresh, forced[trial][0]: forced[trial][1]}, "style.png"
            used = sorted(set(used) | {forced[trial][0]}, key=list(fresh).index)
        given = {k: str(tmp_path / v.rstrip(os.sep)) + (os.sep if v.endswith(os.sep) else "") for k, v in pick.items()}
        argv = ["stylize", str(rng.choice([clip, tmp_path / "clip-link.mp4", tmp_path / "clip-hard.mp4"])),
                "--style", str(tmp_path / style), "-o", given["output"]]
        for option, key in (("--work-dir", "work"), ("--report", "report"), ("--compare", "compare")):
            if key in used:
                argv += [option, given[key]]
        before, new_folder = _identities(tmp_path), not os.path.exists(given["output"])
        code = main(argv + ["-y"] + FAST)
        err = capsys.readouterr().err
        after = _identities(tmp_path)
        changed = [p for p, (digest, _) in before.items() if after.get(p, (None,))[0] != digest]
        inputs = {before[_name(tmp_path, str(clip))][1], before[_name(tmp_path, str(tmp_path / style))][1]}
        touched_inputs = [p for p in changed if before[p][1] in inputs]
        assert not touched_inputs, ("an input changed", pick, argv, code, touched_inputs, err)
        work = os.path.realpath(given["work"]) if "work" in used else None
        in_work = {p for p in set(after) - set(before) if work and (
            os.path.join(os.path.realpath(tmp_path), p) + os.sep).startswith(work + os.sep)}
        tool_files |= in_work
        if code == 0:
            allowed = {_name(tmp_path, given[k]) for k in used if k != "work"}
            for key in ("output", "compare"):
                if key in used and os.path.isdir(given[key]):  # frames %06d.png, replacing those there
                    frames = sorted(f for f in os.listdir(given[key]) if re.fullmatch(r"\d{6}\.png", f))
                    assert frames == ["000001.png", "000002.png"], (argv, frames)
                    new_frame_folders += key == "output" and new_folder  # named by a trailing separator
                    allowed |= {_name(tmp_path, os.path.join(given[key], f)) for f in frames}
                elif key in used:
                    assert _frame_count(given[key]) == 2, argv
            if "report" in used:
                assert json.load(open(given["report"]))["totals"], argv
            strays = [p for p in changed if p not in allowed and p not in tool_files]
        else:
            strays = changed
        assert code in (0, 1, 2) and not strays, (pick, argv, code, strays, err)
        results.append(code)
    assert results.count(0) >= 4 and results.count(2) >= 4 and new_frame_folders >= 2, (results, new_frame_folders)


def test_a_save_interrupted_between_image_and_record_leaves_the_frame_undone(tmp_path, monkeypatch):
    """A frame counts as done only when its record is written after its image: a failure (or a kill)
    between the two leaves a frame the next run recomputes, and no temporary file."""
    import videostyle.run.store as store_module
    store = WorkStore.open(str(tmp_path / "w"), {"input": {}, "config": {}})
    real_write = store_module.write_json

    def fail_on_record(path, data, **kw):
        if path.endswith("000007.json"):
            raise OSError(28, "No space left on device")
        return real_write(path, data, **kw)

    monkeypatch.setattr(store_module, "write_json", fail_on_record)
    with pytest.raises(Exception, match="keeps the finished frames"):
        store.keep(7, np.full((4, 4, 3), 100.0, np.float32), {"index": 7})
    frames = tmp_path / "w" / "frames" / "p00"
    assert store.load(7) is None and store.count() == 0
    assert sorted(os.listdir(frames)) == ["000007.png"], "only the image, no temporary file"
    monkeypatch.setattr(store_module, "write_json", real_write)
    store.keep(7, np.full((4, 4, 3), 100.0, np.float32), {"index": 7})
    assert store.load(7)[1] == {"index": 7}
