"""Nothing the user owns is deleted or overwritten, whatever paths they give (issue 10, items 1–3, 7, 9).

Every case snapshots the files around the run and checks that nothing that existed before changed or
disappeared, except the files the run was asked to write.
"""
import hashlib
import json
import os
import random

import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle.atomic import finite
from videostyle.cli import main
from videostyle.errors import InputError
from videostyle.store import WorkStore, file_identity

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
    os.makedirs(root / "flows" / "dis")
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
    from videostyle.features import load_state
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


def test_random_path_combinations_never_change_a_file_they_do_not_name(tmp_path, capsys):
    """Property: for random combinations of output, work folder, report and compare paths (the same path
    twice, nested paths, symlinks), every file that existed before is unchanged afterwards, except the
    outputs the run was asked to write when it succeeded."""
    clip = make_video(tmp_path / "clip.mp4", n=2)
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), np.full((20, 20, 3), 60, np.uint8))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "user.txt").write_text("keep")
    os.symlink(tmp_path / "d", tmp_path / "link")
    os.symlink(clip, tmp_path / "clip-link.mp4")
    places = ["clip.mp4", "clip-link.mp4", "style.png", "d", "d/", "link", "d/user.txt", "d/x.mp4", "d/r.json",
              "o.mp4", "o2.mp4", "r.json", "d/sub", ".", "seq/"]
    rng = random.Random(10)
    for trial in range(14):
        pick = {k: rng.choice(places) for k in ("output", "work", "report", "compare")}
        if not pick["output"].endswith((".mp4", "/")):
            pick["output"] = rng.choice(["o.mp4", "seq/", "d/x.mp4"])
        argv = ["stylize", str(clip), "--style", str(style), "-o", str(tmp_path / pick["output"])]
        if rng.random() < 0.7:
            argv += ["--work-dir", str(tmp_path / pick["work"])]
        if rng.random() < 0.5:
            argv += ["--report", str(tmp_path / pick["report"])]
        if rng.random() < 0.5:
            argv += ["--compare", str(tmp_path / pick["compare"])]
        before = snapshot(tmp_path)
        code = main(argv + ["-y"] + FAST)
        capsys.readouterr()
        after = snapshot(tmp_path)
        if code == 0:
            named = {os.path.relpath(os.path.realpath(a), os.path.realpath(tmp_path))
                     for a in argv[5:] if os.path.isfile(a)}
            changed = [p for p in unchanged(before, after) if p not in named and not p.startswith("seq/")]
        else:
            changed = unchanged(before, after)
        assert code in (0, 1, 2) and not changed, (pick, argv, code, changed)
        json.dumps(pick)


def test_a_save_interrupted_between_image_and_record_leaves_the_frame_undone(tmp_path, monkeypatch):
    """A frame counts as done only when its record is written after its image: a failure (or a kill)
    between the two leaves a frame the next run recomputes, and no temporary file."""
    import videostyle.store as store_module
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
