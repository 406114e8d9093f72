"""Render apart from assembly: ``videostyle assemble`` encodes a kept work folder into any output, and
what it writes equals what stylize wrote; a work folder serves any --frames range (absolute numbers)."""
import os

import av
import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle.cli import main
from videostyle.io.frames import from_uint16, to_uint8
from videostyle.run.store import WorkStore

PANO = texture(32, 96, (6, 16), seed=4, interpolation=cv2.INTER_LINEAR)
FAST = ["--iterations", "6,3", "--tolerance", "0", "--quiet", "--device", "cpu"]


def pan(i, w, h):
    return np.ascontiguousarray(PANO[:h, 40 - 2 * i:40 - 2 * i + w])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("assemble")
    clip = make_video(d / "clip.mp4", n=5, image=pan, audio="aac")
    style = str(d / "style.png")
    cv2.imwrite(style, np.random.default_rng(2).uniform(0, 255, (40, 40, 3)).astype(np.uint8))
    assert main(["stylize", clip, "--style", style, "-o", str(d / "out.mp4"), "--keep-work", *FAST]) == 0
    assert main(["stylize", clip, "--style", style, "-o", str(d / "seq") + "/", "--depth", "16",
                 "--work-dir", str(d / "seq.work"), *FAST]) == 0
    return d, clip, style


def decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], [s.type for s in c.streams]


def frames16(folder):
    return {n: cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED) for n in sorted(os.listdir(folder))}


def test_assemble_writes_what_stylize_wrote(rendered, tmp_path):
    d, _, _ = rendered
    work = str(d / "out.mp4.videostyle")
    assert main(["assemble", work, "-o", str(tmp_path / "again.mp4"), "--quiet"]) == 0
    (a, streams), (b, _) = decoded(d / "out.mp4"), decoded(tmp_path / "again.mp4")
    assert len(a) == 5 and len(b) == 5 and "audio" in streams
    # Not bit for bit: libx264 does not always make the same bitstream from the same frames (seen here
    # in 2 to 5 of 80 encodes of these 48x32 frames while torch worked in another thread; the two
    # streams decode 1-3 levels apart on average). What must hold: each frame assembled is as close to
    # the kept lossless frame as the one stylize encoded (the codec's own error, 3.5-6.5 levels here).
    store = WorkStore(work)
    kept = [to_uint8(from_uint16(store.load(n)[0])).astype(np.int32) for n in store.numbers()]
    assert len(kept) == 5
    for x, y, k in zip(a, b, kept):
        by_stylize, by_assemble = np.abs(x - k).mean(), np.abs(y - k).mean()
        assert by_assemble <= 1.25 * by_stylize + 1.0, (by_assemble, by_stylize)
    assert main(["assemble", work, "-o", str(tmp_path / "png") + "/", "--depth", "16", "--quiet"]) == 0
    seq, again = frames16(d / "seq"), frames16(tmp_path / "png")
    assert list(seq) == list(again) and all(np.array_equal(seq[n], again[n]) for n in seq)
    assert next(iter(again.values())).dtype == np.uint16


def test_assemble_refuses_what_it_cannot_do(rendered, tmp_path, capsys):
    d, clip, _ = rendered
    work = str(d / "out.mp4.videostyle")
    assert main(["assemble", work, "-o", str(d / "out.mp4"), "--quiet"]) == 1  # exists, no -y
    assert main(["assemble", work, "-o", os.path.join(work, "x.mp4"), "--quiet"]) == 2
    assert main(["assemble", str(tmp_path), "-o", str(tmp_path / "x.mp4"), "--quiet"]) == 1  # not a work folder
    partial = tmp_path / "partial"
    os.makedirs(partial / "frames" / "p00")
    for name in os.listdir(work):
        if name.endswith(".json"):
            (partial / name).write_bytes((d / "out.mp4.videostyle" / name).read_bytes())
    for n in (0, 1, 3):
        for ext in (".png", ".json"):
            src = os.path.join(work, "frames", "p00", f"{n:06d}{ext}")
            (partial / "frames" / "p00" / f"{n:06d}{ext}").write_bytes(open(src, "rb").read())
    capsys.readouterr()
    assert main(["assemble", str(partial), "-o", str(tmp_path / "y.mp4"), "--quiet"]) == 1
    assert "frame 2 is not finished" in capsys.readouterr().err
    assert not (tmp_path / "y.mp4").exists()


def test_a_work_folder_serves_any_frame_range(rendered, tmp_path):
    """Frames are stored by absolute number: rendering 1:5 after 0:3 in the same work folder reuses 1 and
    2 and computes 3 and 4 from them exactly as the uninterrupted 0:5 render did, frame 4 pulled toward
    frame 0 too (--long-term 1,2,4), which lies before the range: the work folder's frame 0 leads in."""
    d, clip, style = rendered
    work = str(tmp_path / "w")
    argv = ["stylize", clip, "--style", style, "--work-dir", work, "--keep-work", "--depth", "16", *FAST]
    assert main([*argv, "-o", str(tmp_path / "a") + "/", "--frames", "0:3"]) == 0
    assert main([*argv, "-o", str(tmp_path / "b") + "/", "--frames", "1:5", "--report", str(tmp_path / "r.json")]) == 0
    import json
    resumed = [f["index"] for f in json.load(open(tmp_path / "r.json"))["frames"] if f["resumed"]]
    assert resumed == [1, 2]
    full, part = frames16(d / "seq"), frames16(tmp_path / "b")
    assert len(part) == 4
    assert all(np.array_equal(a, b) for a, b in zip(list(full.values())[1:], part.values()))


def test_a_range_continues_the_one_before_it(rendered, tmp_path, capsys):
    """0:3, then 3:5 in the same work folder: frame 3 is warm-started from the kept frame 2 and pulled
    toward 2 and 1 as in one render, frame 4 toward 3, 2 and 0; without the lead-in frame 3 would be a
    cold start (a jump at the seam) and both would differ."""
    d, clip, style = rendered
    argv = ["stylize", clip, "--style", style, "--work-dir", str(tmp_path / "w"), "--keep-work", "--depth", "16", *FAST]
    assert main([*argv, "-o", str(tmp_path / "a") + "/", "--frames", "0:3"]) == 0
    capsys.readouterr()
    loud = [a for a in argv if a != "--quiet"]
    assert main([*loud, "-o", str(tmp_path / "b") + "/", "--frames", "3:5"]) == 0
    assert "continues from finished frames 0, 1, 2" in capsys.readouterr().err
    full, part = list(frames16(d / "seq").values()), list(frames16(tmp_path / "b").values())
    assert len(part) == 2 and np.array_equal(full[3], part[0]) and np.array_equal(full[4], part[1])
    assert len(os.listdir(tmp_path / "b")) == 2  # the lead-in frames are not written


def test_a_flow_dir_without_the_pairs_into_the_range_still_serves_it(rendered, tmp_path):
    """--flow-dir files for 0:3 and 3:5 but none between them (two ranges estimated apart): the lead-in
    frames have no flow into the range, so the range starts as it would have without them, no error."""
    d, clip, style = rendered
    flows = tmp_path / "fl"
    assert main(["flow", clip, "-o", str(flows)]) == 0
    for name in os.listdir(flows):  # 1-based: drop the pairs joining frames 1-3 to 4-5 (those 4 apart stay:
        a, b = (int(x) for x in os.path.splitext(name)[0].split("_")[1:3])  # the folder's offsets check)
        if min(a, b) <= 3 < max(a, b) and abs(a - b) < 4:
            os.remove(flows / name)
    argv = ["stylize", clip, "--style", style, "--work-dir", str(tmp_path / "w"), "--keep-work",
            "--flow-dir", str(flows), *FAST]
    assert main([*argv, "-o", str(tmp_path / "a") + "/", "--frames", "0:3"]) == 0
    assert main([*argv, "-o", str(tmp_path / "b") + "/", "--frames", "3:5"]) == 0
    assert len(os.listdir(tmp_path / "b")) == 2
