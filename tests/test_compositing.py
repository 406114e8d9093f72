"""Compositing-grade frames (issue 26), through the real CLI on tiny plates: scene-linear EXR with its
highlights, colour spaces through OpenColorIO (the built-in ACES config and a config of the test's own),
alpha carried to PNG / EXR / ProRes 4444, deep inputs read deep, stepped ranges, DPX, timecodes.

Outputs are read back with independent readers: the OpenEXR library, PyAV (FFmpeg), OpenColorIO."""
import json
import os
from fractions import Fraction

import av
import cv2
import numpy as np
import OpenEXR
import pytest

from mediagen import texture
from videostyle.cli import main
from videostyle.io.colour import view_forward, view_inverse
from videostyle.io.exr import encode_exr

W, H = 48, 32
RUN = ["--iterations", "3,2", "--quiet", "--device", "cpu"]


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def read_exr(path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(RGB as stored, A as stored or None, header) with the OpenEXR library."""
    with OpenEXR.File(str(path), separate_channels=True) as f:
        header = f.header()
        tc = header.get("timeCode")
        attrs = {"fps": header.get("framesPerSecond"),
                 "timecode": None if tc is None else (tc.hours, tc.minutes, tc.seconds, tc.frame)}
        ch = {k: np.array(v.pixels, np.float32) for k, v in f.channels().items()}
    return np.stack([ch["R"], ch["G"], ch["B"]], -1), ch.get("A"), attrs


def hole(i: int) -> np.ndarray:
    """Alpha of frame i: opaque, a transparent hole moving 3 px a frame, a half-covered edge beside it."""
    a = np.full((H, W), 255, np.uint8)
    a[18:28, 4 + 3 * i:14 + 3 * i] = 0
    a[18:28, 30:34] = 128
    return a


def scene(i: int) -> np.ndarray:
    """A scene-linear frame: a soft ramp, a sky at 4.0 and a lamp at 20.0, the whole moving 1 px a frame."""
    base = texture(H, W, (4, 6), seed=3).astype(np.float32) / 255.0
    rgb = np.roll(base ** 2.2 * 0.6, i, axis=1)
    rgb[:5] = 4.0
    rgb[6:12, 34:42] = 20.0
    return rgb


@pytest.fixture()
def style(tmp_path):
    path = str(tmp_path / "style.png")
    cv2.imwrite(path, texture(32, 32, (4, 4), seed=7)[..., ::-1])
    return path


@pytest.fixture()
def plate(tmp_path):
    """An ACEScg EXR plate from 1001, half float, premultiplied alpha, 24 fps, a timecode per frame."""
    folder = tmp_path / "plate"
    folder.mkdir()
    for i in range(3):
        alpha = hole(i).astype(np.float32) / 255.0
        data = encode_exr(scene(i), alpha, fps=Fraction(24), timecode=(1, 0, 0, 10 + i, False))
        (folder / f"plate.{1001 + i}.exr").write_bytes(data)
    return str(folder / "plate.####.exr")


def test_the_view_round_trips_scene_light():
    x = np.concatenate([np.linspace(0.0, 64.0, 20001), np.geomspace(1e-6, 64.0, 2001)])
    for view in ("shoulder", "reinhard"):
        back = view_inverse(view, view_forward(view, x))
        assert np.all(np.abs(back - x) <= 1e-3 * np.maximum(x, 1e-3)), view
        d = view_forward(view, x)
        assert d.max() < 1.0 and np.all(np.diff(d[:20001]) > 0), view  # never reaches white: invertible
    # Below the shoulder the picture is the sRGB conversion's: the style lands as on an 8-bit copy.
    lo = np.linspace(0, 0.5, 101)
    assert np.allclose(view_forward("shoulder", lo), view_forward("clip", lo))


def test_an_acescg_plate_comes_back_in_acescg_with_its_highlights_alpha_and_numbers(tmp_path, capsys, plate, style):
    import PyOpenColorIO as ocio

    work, out = tmp_path / "work", tmp_path / "out"
    code, err = cli(capsys, "stylize", plate, "--style", style, "-o", str(out / "sh010.####.exr"), *RUN,
                    "--input-colorspace", "ACEScg", "--output-colorspace", "ACEScg", "--keep-work",
                    "--work-dir", str(work))
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["sh010.1001.exr", "sh010.1002.exr", "sh010.1003.exr"]
    # The same finished frames encoded again in linear Rec.709: converting those to ACEScg with OCIO
    # gives the ACEScg output, so it is in ACEScg (a file left in Rec.709 would be off by the primaries).
    code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / "rec709" / "sh010.####.exr"),
                    "--output-colorspace", "lin_srgb")
    assert code == 0, err
    to_cg = ocio.Config.CreateFromFile("ocio://studio-config-latest").getProcessor(
        "Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()
    for i in range(3):
        rgb, alpha, attrs = read_exr(out / f"sh010.{1001 + i}.exr")
        rec, _, _ = read_exr(tmp_path / "rec709" / f"sh010.{1001 + i}.exr")
        cg = np.ascontiguousarray(rec).copy()
        to_cg.applyRGB(cg)
        assert np.allclose(cg, rgb, rtol=4e-3, atol=2e-3)
        assert not np.allclose(rec, rgb, rtol=0.02, atol=0.02)  # the two spaces differ on this plate
        # Alpha exactly as the plate's; colour premultiplied, so 0 where alpha is 0.
        assert np.array_equal(alpha, _as_half(hole(i)))
        assert np.abs(rgb[alpha == 0]).max() == 0.0
        # The highlights come back as light, where the strokes put them.
        straight = rgb / np.where(alpha > 0, alpha, 1.0)[..., None]
        bright, covered = scene(i).max(-1) > 4.0, alpha > 0
        assert straight[bright & covered].mean() > 1.5
        assert (straight[(scene(i).max(-1) > 1.0) & covered].max(-1) > 1.0).mean() > 0.9
        clipped = ((straight == 0) | (straight == 1)).any(-1) & covered
        assert clipped.mean() < 0.01
        fps = attrs["fps"]
        assert fps is not None and (fps if isinstance(fps, Fraction) else Fraction(*np.asarray(fps).tolist())) == 24
        assert attrs["timecode"] == (1, 0, 0, 10 + i)


def _as_half(alpha8: np.ndarray) -> np.ndarray:
    return (alpha8.astype(np.float32) / 255.0).astype(np.float16).astype(np.float32)


def test_alpha_is_carried_exactly_to_png_exr_and_prores_4444(tmp_path, capsys, style):
    folder = tmp_path / "rgba"
    folder.mkdir()
    for i in range(3):
        rgb = np.roll(texture(H, W, (4, 6), seed=3), i, axis=1)
        cv2.imwrite(str(folder / f"f.{i + 1:04d}.png"), np.dstack([rgb[..., ::-1], hole(i)]))
    work = tmp_path / "work"
    code, err = cli(capsys, "stylize", str(folder / "f.####.png"), "--style", style, "-o",
                    str(tmp_path / "png" / "o.####.png"), *RUN, "--keep-work", "--work-dir", str(work))
    assert code == 0, err
    assert "alpha" not in err  # nothing dropped
    for out in ("exr/o.####.exr", "o.mov"):
        code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / out), *(
            ["--codec", "prores_ks"] if out.endswith(".mov") else []))
        assert code == 0, err
    with av.open(str(tmp_path / "o.mov")) as c:
        movie = [f.reformat(format="rgba64le").to_ndarray() for f in c.decode(video=0)]
    assert len(movie) == 3
    for i in range(3):
        src = cv2.imread(str(folder / f"f.{i + 1:04d}.png"), cv2.IMREAD_UNCHANGED)
        png = cv2.imread(str(tmp_path / "png" / f"o.{i + 1:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert png.shape == (H, W, 4) and np.array_equal(png[..., 3], hole(i))
        # Straight alpha: where it is 0 the colour is the input's, untouched; elsewhere it is painted.
        gone = hole(i) == 0
        assert np.array_equal(png[gone][:, :3], src[gone][:, :3])
        assert np.abs(png[~gone][:, :3].astype(int) - src[~gone][:, :3]).mean() > 1
        rgb, alpha, _ = read_exr(tmp_path / "exr" / f"o.{i + 1:04d}.exr")
        assert np.array_equal(np.rint(alpha * 255), hole(i))
        assert np.abs(rgb[gone]).max() == 0.0  # premultiplied
        assert np.array_equal(np.rint(movie[i][..., 3] / 257.0), hole(i))


def test_alpha_that_an_output_cannot_hold_is_said_once(tmp_path, capsys, style):
    folder = tmp_path / "rgba"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"f.{i + 1:04d}.png"), np.dstack([texture(H, W, (4, 6), seed=i)[..., ::-1], hole(i)]))
    code, err = cli(capsys, "stylize", str(folder), "--style", style, "-o", str(tmp_path / "o.mp4"), *RUN)
    assert code == 0, err
    lines = [l for l in err.splitlines() if "alpha" in l]
    assert len(lines) == 1 and "o.mp4 cannot hold it" in lines[0]


def test_transparent_pixels_take_no_warm_start_and_no_temporal_pull():
    from videostyle.io.media import Frame
    from videostyle.io.plates import PlateData
    from videostyle.run.drivers.core import prepare

    def flows(n, a, m, b):
        one = np.ones((H, W), np.float32)
        return np.zeros((H, W, 2), np.float32), one, np.zeros((H, W, 2), np.float32), one

    alpha = np.ones((H, W), np.float32)
    alpha[5:9, 5:9] = 0.0
    frames = [Frame(n, None, np.zeros((H, W, 3), np.uint8), PlateData(alpha if n == 1 else None)) for n in (0, 1)]
    second = list(prepare(frames, flows))[1]
    assert second.weight[5:9, 5:9].max() == 0.0 and second.weight.sum() == H * W - 16


def test_a_deep_input_reaches_the_content_target_deep(tmp_path, capsys, style):
    """A 16-bit ramp over 4 eight-bit levels, fitted by content alone: the output keeps the ramp's
    levels, where the same ramp read at 8 bits gives 4."""
    ramp = np.linspace(100 * 257, 104 * 257, W)[None, :, None] * np.ones((H, 1, 3))
    levels = {}
    for depth in (16, 8):
        image = np.rint(ramp).astype(np.uint16) if depth == 16 else np.rint(ramp / 257).astype(np.uint8)
        src = tmp_path / f"ramp{depth}.png"
        cv2.imwrite(str(src), image)
        out = tmp_path / f"out{depth}"
        code, err = cli(capsys, "stylize", str(src), "--style", style, "-o", str(out / "r.####.png"), "--depth", "16",
                        "--style-weight", "0", "--tv-weight", "0", *RUN)
        assert code == 0, err
        got = cv2.imread(str(out / "r.0001.png"), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint16
        levels[depth] = len(np.unique(got[H // 2, :, 1]))
    assert levels[8] <= 5 and levels[16] >= 2 * levels[8], levels


def test_a_stepped_range_selects_and_numbers_its_frames(tmp_path, capsys, style):
    folder = tmp_path / "shot"
    folder.mkdir()
    for n in range(1001, 1011):
        cv2.imwrite(str(folder / f"shot.{n}.png"), np.roll(texture(H, W, (4, 6), seed=3), n, axis=1)[..., ::-1])
    report = tmp_path / "run.json"
    code, err = cli(capsys, "stylize", str(folder / "shot.####.png"), "--style", style, "--frames", "1001-1010x2",
                    "-o", str(tmp_path / "out" / "o.####.png"), "--report", str(report), *RUN)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == [f"o.{n}.png" for n in (1001, 1003, 1005, 1007, 1009)]
    frames = json.loads(report.read_text())["frames"]
    assert [f["index"] for f in frames] == [0, 2, 4, 6, 8]  # positions; each follows the one selected before
    # A kept work folder of it encodes again, the same frames under the same numbers.
    work = tmp_path / "work"
    code, err = cli(capsys, "stylize", str(folder / "shot.####.png"), "--style", style, "--frames", "1001-1010x2",
                    "-o", str(tmp_path / "kept" / "o.####.png"), "--keep-work", "--work-dir", str(work), *RUN)
    assert code == 0, err
    code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / "again" / "o.####.png"))
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "again")) == sorted(os.listdir(tmp_path / "out"))
    for name in os.listdir(tmp_path / "again"):
        assert np.array_equal(cv2.imread(str(tmp_path / "again" / name)), cv2.imread(str(tmp_path / "kept" / name)))
    code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / "again.mp4"))
    assert code == 2 and "stepped" in err and not os.path.exists(tmp_path / "again.mp4")
    code, err = cli(capsys, "stylize", str(folder / "shot.####.png"), "--style", style, "--frames", "1001,1005-1006",
                    "-o", str(tmp_path / "o.mp4"), *RUN)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "skips frames" in err
    assert not os.path.exists(tmp_path / "o.mp4")


@pytest.mark.parametrize("flag", ["--input-colorspace", "--output-colorspace", "--style-colorspace"])
def test_an_unknown_colour_space_is_one_line_and_exit_2(tmp_path, capsys, plate, style, flag):
    out = tmp_path / "out"
    code, err = cli(capsys, "stylize", plate, "--style", style, "-o", str(out / "o.####.exr"), flag, "ACEScgg", *RUN)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "ACEScgg" in err and "'ACEScg'" in err  # the nearest name
    assert sorted(os.listdir(tmp_path)) == ["plate", "style.png"]  # nothing written


OWN_CONFIG = """ocio_profile_version: 2
roles:
  default: linear
  scene_linear: linear
file_rules:
  - !<Rule> {name: Default, colorspace: default}
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: linear}
colorspaces:
  - !<ColorSpace>
    name: linear
    encoding: scene-linear
  - !<ColorSpace>
    name: halved
    encoding: scene-linear
    to_scene_reference: !<MatrixTransform> {matrix: [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1]}
"""


def test_a_config_of_ones_own_is_followed_by_flag_and_by_OCIO(tmp_path, capsys, plate, style, monkeypatch):
    """The test's own config: 'halved' holds half the light of 'linear'. Output in 'halved' is half the
    output in 'linear', by --ocio-config and by $OCIO: no hard-coded matrix can give that."""
    config = tmp_path / "own.ocio"
    config.write_text(OWN_CONFIG)
    work = tmp_path / "work"
    code, err = cli(capsys, "stylize", plate, "--style", style, "-o", str(tmp_path / "lin" / "o.####.exr"), *RUN,
                    "--ocio-config", str(config), "--input-colorspace", "linear", "--output-colorspace", "linear",
                    "--keep-work", "--work-dir", str(work))
    assert code == 0, err
    code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / "flag" / "o.####.exr"),
                    "--ocio-config", str(config), "--output-colorspace", "halved")
    assert code == 0, err
    monkeypatch.setenv("OCIO", str(config))
    code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / "env" / "o.####.exr"),
                    "--output-colorspace", "halved")
    assert code == 0, err
    for n in (1001, 1003):
        lin, _, _ = read_exr(tmp_path / "lin" / f"o.{n}.exr")
        assert lin.max() > 2.0
        for how in ("flag", "env"):
            halved, _, _ = read_exr(tmp_path / how / f"o.{n}.exr")
            assert np.allclose(halved, lin / 2, rtol=2e-3, atol=1e-4), how


def test_dpx_frames_at_10_and_16_bits_read_back_within_a_level(tmp_path, capsys, style):
    folder = tmp_path / "shot"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i + 1:04d}.png"), np.roll(texture(H, W, (4, 6), seed=3), i, axis=1)[..., ::-1])
    work = tmp_path / "work"
    code, err = cli(capsys, "stylize", str(folder), "--style", style, "-o", str(tmp_path / "png" / "o.####.png"),
                    "--depth", "16", *RUN, "--keep-work", "--work-dir", str(work))
    assert code == 0, err
    for bits in (10, 16):
        code, err = cli(capsys, "assemble", str(work), "-o", str(tmp_path / f"dpx{bits}" / "o.####.dpx"),
                        "--depth", str(bits))
        assert code == 0, err
        for n in (1, 2):
            want = cv2.imread(str(tmp_path / "png" / f"o.{n:04d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(float)
            with av.open(str(tmp_path / f"dpx{bits}" / f"o.{n:04d}.dpx")) as c:
                got = next(c.decode(video=0))
            assert got.format.name.startswith("gbrp10" if bits == 10 else "rgb48")
            back = got.reformat(format="rgb48le").to_ndarray().astype(float)
            level = 65535 / 1023 if bits == 10 else 1.0
            assert np.abs(back - want).max() <= level + 1, bits


def test_a_movs_timecode_reaches_the_output_from_the_first_selected_frame(tmp_path, capsys, style):
    src = tmp_path / "tc.mov"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.metadata["timecode"] = "01:00:00:00"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.roll(texture(H, W, (4, 6), seed=3), i, axis=1), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out = tmp_path / "o.mov"
    code, err = cli(capsys, "stylize", str(src), "--style", style, "--frames", "2:5", "-o", str(out), *RUN)
    assert code == 0, err
    from videostyle.io.video import probe_video
    assert probe_video(str(out)).timecode == "01:00:00:02"


def test_a_stepped_range_of_a_video_keeps_the_selected_frames(tmp_path, capsys, style):
    from mediagen import make_video
    src = tmp_path / "clip.mp4"
    make_video(src, 6)
    out = tmp_path / "out"
    code, err = cli(capsys, "stylize", str(src), "--style", style, "--frames", "0-4x2", "-o", str(out / "%06d.png"),
                    *RUN)
    assert code == 0, err
    # A video's frames are named position + 1, as a video's frames always are.
    assert sorted(os.listdir(out)) == ["000001.png", "000003.png", "000005.png"]


def test_dpx_keeps_alpha_at_16_bits_and_says_it_drops_it_at_10(tmp_path, capsys, style):
    folder = tmp_path / "rgba"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"f.{i + 1:04d}.png"), np.dstack([texture(H, W, (4, 6), seed=i)[..., ::-1], hole(i)]))
    code, err = cli(capsys, "stylize", str(folder), "--style", style, "-o", str(tmp_path / "d16" / "o.####.dpx"),
                    "--depth", "16", *RUN)
    assert code == 0 and "alpha" not in err, err
    with av.open(str(tmp_path / "d16" / "o.0002.dpx")) as c:
        got = next(c.decode(video=0)).reformat(format="rgba64le").to_ndarray()
    assert np.array_equal(got[..., 3], hole(1).astype(np.uint16) * 257)
    code, err = cli(capsys, "stylize", str(folder), "--style", style, "-o", str(tmp_path / "d10" / "o.####.dpx"), *RUN)
    assert code == 0, err
    assert len([l for l in err.splitlines() if "alpha" in l and "dropped" in l]) == 1


def test_the_style_image_is_read_in_its_own_colour_space(tmp_path):
    import PyOpenColorIO as ocio
    from videostyle.io.colour import ColourOptions, srgb_encode
    from videostyle.io.plates import read_style

    path = str(tmp_path / "painting.png")
    painting = texture(32, 32, (4, 4), seed=7)
    cv2.imwrite(path, painting[..., ::-1])
    assert np.array_equal(read_style(path, ColourOptions()), painting)  # sRGB: read as it is
    got = read_style(path, ColourOptions(style="Gamma 2.2 Encoded AdobeRGB"))
    linear = painting.astype(np.float32) / 255.0
    ocio.Config.CreateFromFile("ocio://studio-config-latest").getProcessor(
        "Gamma 2.2 Encoded AdobeRGB", "Linear Rec.709 (sRGB)").getDefaultCPUProcessor().applyRGB(linear)
    assert np.allclose(got, srgb_encode(linear) * 255.0, atol=0.05)
    assert np.abs(got - painting).mean() > 2  # Adobe RGB is not sRGB


def test_a_prores_4444_inputs_alpha_is_read_and_carried(tmp_path, capsys, style):
    src = tmp_path / "in.mov"
    with av.open(str(src), "w") as c:
        s = c.add_stream("prores_ks", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuva444p10le"
        s.codec_context.options = {"profile": "4444", "alpha_bits": "16"}
        for i in range(3):
            rgba = np.dstack([np.roll(texture(H, W, (4, 6), seed=3), i, axis=1), hole(i)])
            for p in s.encode(av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva444p10le")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with av.open(str(src)) as c:  # what FFmpeg itself reads back (at 16 bits, the stream being deep),
        # rounded to the 8-bit PNG: the reference for "unchanged"
        alphas = [np.rint(f.to_ndarray(format="rgba64le")[..., 3] / 257.0).astype(np.uint8) for f in c.decode(video=0)]
    code, err = cli(capsys, "stylize", str(src), "--style", style, "-o", str(tmp_path / "out" / "%06d.png"), *RUN)
    assert code == 0 and "alpha" not in err, err
    for i in range(3):
        png = cv2.imread(str(tmp_path / "out" / f"{i + 1:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert png.shape == (H, W, 4) and np.array_equal(png[..., 3], alphas[i])
    code, err = cli(capsys, "stylize", str(src), "--style", style, "-o", str(tmp_path / "o.mp4"), *RUN)
    assert code == 0 and len([l for l in err.splitlines() if "alpha" in l and "dropped" in l]) == 1, err
