"""Interlaced video (1080i, HDV, DV): each frame is painted from its first field in time, not from the two
fields woven together (a moving edge would be combed, and the comb teeth painted and followed by the flow).

The clips are synthesized as a camera makes them: a disc moving 6 px a frame, the first field's lines
taken at time t and the second field's at t + 1/2, encoded by x264 in interlaced mode (top or bottom field
first). PyAV reads the woven frames independently of the code under test."""
import av
import numpy as np
import pytest

from mediagen import texture
from videostyle.cli import main
from videostyle.io.media import open_source

W, H, N = 96, 64, 6
RUN = ["--iterations", "3,2", "--quiet", "--device", "cpu"]


def picture(t: float) -> np.ndarray:
    img = np.full((H, W, 3), 40, np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    img[(xx - 20 - 6 * t) ** 2 + (yy - 32) ** 2 < 14 ** 2] = (240, 220, 60)
    return img


def make_clip(path, order: str | None, flag: str | None = "same") -> str:
    """``order`` "tff" / "bff": interlaced pictures, that field first in time; None: progressive pictures.
    ``flag``: what the stream says ("tff", "bff" or None for progressive); by default what the pictures are."""
    flag = order if flag == "same" else flag
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "10", **({"x264-params": f"interlaced=1:{flag}=1"} if flag else {})}
        for i in range(N):
            img = picture(i)
            if order:  # the second field's lines, half a frame later
                img[(1 if order == "tff" else 0)::2] = picture(i + 0.5)[(1 if order == "tff" else 0)::2]
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return str(path)


def woven(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def comb(image: np.ndarray) -> float:
    """How much each line differs from the mean of its neighbours (high where two moments are woven)."""
    f = image.astype(np.float32)
    return float(np.abs(f[1:-1] - (f[:-2] + f[2:]) / 2).mean())


def centre(image: np.ndarray) -> float:
    mask = (image[..., 0] > 150) & (image[..., 2] < 140)
    return float(np.nonzero(mask)[1].mean())


@pytest.mark.parametrize("order, label", [("tff", "top field first"), ("bff", "bottom field first")])
def test_first_field_is_painted(tmp_path, order, label):
    clip = make_clip(tmp_path / f"{order}.mov", order)
    src = open_source(clip)
    assert src.info.interlaced == label
    frames = [f.image for f in src.frames()]
    raw = woven(clip)
    assert frames[0].shape == raw[0].shape == (H, W, 3)
    for i in range(1, N):
        assert comb(raw[i]) > 3.0  # the file really is combed where the disc moves
        assert comb(frames[i]) < 0.4 * comb(raw[i])
        # The disc where it was at the frame's own time (the first field), not half a frame later.
        assert centre(frames[i]) == pytest.approx(20 + 6 * i, abs=1.0)


def test_progressive_is_untouched(tmp_path):
    clip = make_clip(tmp_path / "p.mov", None)
    src = open_source(clip)
    assert src.info.interlaced is None
    assert all(np.array_equal(a.image, b) for a, b in zip(src.frames(), woven(clip)))


def test_render_says_so_and_writes_progressive(tmp_path, capsys):
    clip = make_clip(tmp_path / "i.mov", "tff")
    style = tmp_path / "style.png"
    import cv2
    cv2.imwrite(str(style), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    out = tmp_path / "out.mp4"
    assert main(["stylize", clip, "--style", str(style), "-o", str(out), *RUN]) == 0
    assert "is interlaced (top field first): each frame is painted from its first field" in capsys.readouterr().err
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == N and not any(f.interlaced_frame for f in frames)


def test_deinterlace_off_reads_the_frames_as_stored(tmp_path, capsys):
    """--deinterlace off (progressive pictures flagged interlaced, PsF): the woven frames, untouched."""
    clip = make_clip(tmp_path / "i.mov", "tff")
    src = open_source(clip, deinterlace="off")
    assert src.info.interlaced is None
    assert all(np.array_equal(a.image, b) for a, b in zip(src.frames(), woven(clip)))
    style = tmp_path / "style.png"
    import cv2
    cv2.imwrite(str(style), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    out = tmp_path / "out.mp4"
    assert main(["stylize", clip, "--style", str(style), "-o", str(out), "--deinterlace", "off", "--keep-work",
                 "--work-dir", str(tmp_path / "w"), *RUN]) == 0
    assert "interlaced" not in capsys.readouterr().err
    # The kept work folder remembers it: assembling it again reads the input as the render did.
    assert main(["assemble", str(tmp_path / "w"), "-o", str(tmp_path / "again.mp4"), "--compare",
                 str(tmp_path / "cmp.mp4")]) == 0
    with av.open(str(tmp_path / "cmp.mp4")) as c:
        left = next(c.decode(video=0)).to_ndarray(format="rgb24")[:, :W]
    assert comb(left) > 0.5 * comb(woven(clip)[0])


def test_evaluate_reads_the_source_as_the_render_did(tmp_path):
    """evaluate --deinterlace off compares with the frames as stored, as stylize --deinterlace off painted
    them; by default with the first fields, as stylize paints by default. The "stylized" video here is the
    woven frames themselves (lossless, progressive): against the source read the same way its warping
    error is the source's own, frame by frame."""
    import json
    clip = make_clip(tmp_path / "i.mov", "tff")
    copy = str(tmp_path / "woven.mkv")
    with av.open(copy, "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "bgr0"
        for img in woven(clip):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)

    def measured(*extra):
        report = tmp_path / f"e{len(extra)}.json"
        assert main(["evaluate", copy, "--source", clip, "--offsets", "1", "--json", str(report), *extra]) == 0
        return json.loads(report.read_text())["per_frame"][1:]

    same = measured("--deinterlace", "off")
    assert all(f["warping_error_1"] == pytest.approx(f["source_warping_error_1"], rel=1e-6) for f in same)
    by_field = measured()  # the source's first fields against woven frames: never the same figure
    assert not any(f["warping_error_1"] == pytest.approx(f["source_warping_error_1"], rel=1e-2) for f in by_field)


def test_progressive_pictures_flagged_interlaced_are_read_whole(tmp_path, capsys):
    """PsF (1080PsF25 from a broadcast camera): the stream says interlaced, its pictures are progressive.
    auto finds them so (video/fields.py) and reads them whole, where one field would halve their rows;
    --deinterlace field trusts the flag."""
    import json
    clip = make_clip(tmp_path / "psf.mov", None, flag="tff")
    with av.open(clip) as c:
        assert next(c.decode(video=0)).interlaced_frame  # the flag is there
    src = open_source(clip)
    assert src.info.interlaced is None and src.info.psf
    assert all(np.array_equal(a.image, b) for a, b in zip(src.frames(), woven(clip)))
    assert open_source(clip, deinterlace="field").info.interlaced == "top field first"
    style = tmp_path / "style.png"
    import cv2
    cv2.imwrite(str(style), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    report = tmp_path / "r.json"
    assert main(["stylize", clip, "--style", str(style), "-o", str(tmp_path / "out.mp4"), "--report", str(report),
                 *RUN]) == 0
    assert "flagged interlaced, but its pictures are progressive (PsF): read whole" in capsys.readouterr().err
    assert json.loads(report.read_text())["source"]["psf"] is True


def test_a_wrong_field_order_is_found(tmp_path, capsys):
    """Bottom-field-first pictures whose stream says top first (a capture card's mistake): auto paints each
    frame from the field the motion shows first, and says the flag was wrong; field trusts the flag."""
    clip = make_clip(tmp_path / "wrong.mov", "bff", flag="tff")
    src = open_source(clip)
    assert src.info.interlaced == "bottom field first" and src.info.order_stated == "top field first"
    trusted = [f.image for f in open_source(clip, deinterlace="field").frames()]
    for i, frame in enumerate(f.image for f in src.frames()):
        if i:
            assert centre(frame) == pytest.approx(20 + 6 * i, abs=1.0)  # the frame's own time
            assert centre(trusted[i]) == pytest.approx(20 + 6 * (i + 0.5), abs=1.0)  # half a frame late
    from videostyle.io.media import input_warnings
    assert "the stream says top field first, its motion says otherwise" in input_warnings(src)[0]
