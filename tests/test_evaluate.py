"""evaluate_video on tiny synthetic clips: a textured pan (so the flow is meaningful) at 48×32."""
import math
import sys

import cv2
import numpy as np
import pytest

from mediagen import make_video, texture
from videostyle.cli import main
from videostyle.errors import ConfigError, InputError
from videostyle.method import metrics
from videostyle.run.evaluate import evaluate_video, format_table, plot
from videostyle.io.frames import write_png

W, H, N = 48, 32, 8


# Coarse texture (features ~8 px) so DIS still follows the 8-px motion of offset 4 at 48×32.
PANO = texture(H, W * 2, (4, 12), seed=3)


def pan(i, w, h):
    """Frame i: a window on a smooth random panorama, content moving 2 px right per frame. Even steps
    keep yuv420p's 2×2 chroma grid aligned; odd ones would raise the source's own floor ~20×."""
    return np.ascontiguousarray(PANO[:h, 40 - 2 * i:40 - 2 * i + w])


def write_sequence(folder, images):
    folder.mkdir()
    for i, img in enumerate(images):
        write_png(str(folder / f"{i:04d}.png"), img)
    return str(folder)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    video = make_video(d / "pan.mp4", n=N, image=pan)
    return d, video


@pytest.fixture(scope="module")
def source_frames(clip):
    """The decoded source frames (what the stylized stand-ins are derived from)."""
    from videostyle.io.media import open_source
    return [f.image for f in open_source(clip[1]).frames()]


def test_self_comparison_equals_noise_floor(clip):
    _, video = clip
    calls = []
    r = evaluate_video(video, video, on_frame=lambda i, n: calls.append((i, n)))
    assert r["frames"] == N and r["size"] == [W, H]
    assert set(r["warping_error"]) == {"1", "2", "4"}
    for d in ("1", "2", "4"):
        assert r["warping_error"][d] == r["source_warping_error"][d]
    assert r["flicker"] == r["source_flicker"] and r["flicker"] > 0  # the pan changes the mean a little
    assert calls == [(i, N) for i in range(N)]
    assert [p["index"] for p in r["per_frame"]] == list(range(N))
    assert "warping_error_4" not in r["per_frame"][3] and "warping_error_4" in r["per_frame"][4]
    assert "content_distance" not in r


def test_independent_per_frame_noise_is_far_less_stable(clip, source_frames, tmp_path):
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 40, f.shape), 0, 255).astype(np.uint8) for f in source_frames]
    r = evaluate_video(write_sequence(tmp_path / "noisy", noisy), clip[1])
    for d in ("1", "2", "4"):
        assert r["source_warping_error"][d] > 0
        assert r["warping_error"][d] >= 10 * r["source_warping_error"][d]


def test_brightness_flicker_raises_flicker_index(source_frames, clip, tmp_path):
    bumped = [np.clip(f.astype(int) + (25 if i % 2 else 0), 0, 255).astype(np.uint8)
              for i, f in enumerate(source_frames)]
    r = evaluate_video(write_sequence(tmp_path / "flicker", bumped), clip[1], offsets=(1,))
    assert r["flicker"] > max(0.05, 5 * r["source_flicker"])


def test_offsets_longer_than_the_clip_are_skipped(clip, tmp_path):
    short = make_video(tmp_path / "short.mp4", n=3, image=pan)
    r = evaluate_video(short, short, offsets=(1, 2, 4))
    assert set(r["warping_error"]) == {"1", "2"} and r["offsets"] == [1, 2]


def test_mismatched_frame_counts_are_an_input_error(clip, tmp_path):
    short = make_video(tmp_path / "short.mp4", n=5, image=pan)
    with pytest.raises(InputError, match=r"5 frames.*8|8 frames.*5") as e:
        evaluate_video(short, clip[1])
    assert "\n" not in str(e.value)


def test_bad_offsets_are_a_config_error(clip):
    with pytest.raises(ConfigError):
        evaluate_video(clip[1], clip[1], offsets=(0, 1))


def test_warping_error_is_the_papers_per_channel_mean():
    # Ruder et al.'s 1/D normalization (D = width·height·channels): a difference of 0.1 in every channel
    # of every reliable pixel is 0.01, not 0.03 (the sum over channels reported before); black against
    # white is 1, the top of the scale.
    zero_flow = np.zeros((H, W, 2), np.float32)
    c = np.ones((H, W), np.float32)
    grey = np.full((H, W, 3), 100, np.uint8)
    lighter = grey + np.uint8(round(0.1 * 255))
    assert metrics.warping_error(lighter, grey, zero_flow, c) == pytest.approx((round(0.1 * 255) / 255) ** 2, rel=1e-5)
    black, white = np.zeros((H, W, 3), np.uint8), np.full((H, W, 3), 255, np.uint8)
    assert metrics.warping_error(white, black, zero_flow, c) == pytest.approx(1.0)
    # One channel off by 0.3: a third of 0.09, and unreliable pixels (c = 0) still count for nothing.
    red = grey.copy()
    red[..., 0] += np.uint8(round(0.3 * 255))
    half = c.copy()
    half[:, W // 2:] = 0
    assert metrics.warping_error(red, grey, zero_flow, half) == pytest.approx((round(0.3 * 255) / 255) ** 2 / 3, rel=1e-5)


def test_result_and_table_state_the_normalization(clip):
    r = evaluate_video(clip[1], clip[1], offsets=(1,))
    assert "1/D" in r["warping_error_definition"] and "channels" in r["warping_error_definition"]
    assert "per channel" in format_table(r).splitlines()[0]


def test_other_size_is_resized_and_max_side_shrinks_both(clip, source_frames, tmp_path):
    big = [cv2.resize(f, (W * 2, H * 2), interpolation=cv2.INTER_CUBIC) for f in source_frames]
    seq = write_sequence(tmp_path / "big", big)
    r = evaluate_video(seq, clip[1], offsets=(1,))
    assert r["size"] == [W, H]
    # Up- then down-sampling changes little: still close to the source's own floor.
    assert r["warping_error"]["1"] < 3 * r["source_warping_error"]["1"] + 3e-4
    small = evaluate_video(seq, clip[1], offsets=(1,), max_side=24)
    assert small["size"] == [24, 16]
    assert evaluate_video(seq, clip[1], offsets=(1,), max_side=1000)["size"] == [W, H]  # never enlarged


@pytest.mark.slow
def test_fidelity_with_a_style_image(clip, source_frames, tmp_path):
    rng = np.random.default_rng(1)
    style = tmp_path / "style.png"
    write_png(str(style), rng.uniform(0, 255, (40, 40, 3)).astype(np.uint8))
    # Four frames of each keep the VGG passes cheap.
    src = write_sequence(tmp_path / "src", source_frames[:4])
    noisy = write_sequence(tmp_path / "noisy", [np.clip(f + rng.normal(0, 40, f.shape), 0, 255).astype(np.uint8)
                                                for f in source_frames[:4]])
    same = evaluate_video(src, src, style=[str(style)], offsets=(1,), device="cpu")
    assert same["content_distance"] == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(same["style_distance"]) and same["style_distance"] > 0
    other = evaluate_video(noisy, src, style=[str(style)], offsets=(1,), device="cpu")
    for key in ("content_distance", "style_distance"):
        assert math.isfinite(other[key]) and other[key] > 0
        assert all(math.isfinite(p[key]) for p in other["per_frame"])
    assert other["content_distance"] > same["content_distance"]
    assert "content distance" in format_table(other)


def test_format_table_lists_each_metric(clip):
    r = evaluate_video(clip[1], clip[1], offsets=(1, 4))
    text = format_table(r)
    lines = text.splitlines()
    assert any("offset 1" in line for line in lines) and any("offset 4" in line for line in lines)
    assert any(line.startswith("flicker") for line in lines)
    assert "stylized" in lines[1] and "source" in lines[1]


def test_plot_writes_a_png(clip, tmp_path):
    pytest.importorskip("matplotlib")
    r = evaluate_video(clip[1], clip[1], offsets=(1, 2))
    out = tmp_path / "curves.png"
    plot(r, str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_takes_svg_and_pdf_and_refuses_other_names_before_measuring(clip, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    r = evaluate_video(clip[1], clip[1], offsets=(1,))
    for name, magic in (("c.svg", b"<?xml"), ("c.pdf", b"%PDF")):
        plot(r, str(tmp_path / name))
        assert (tmp_path / name).read_bytes().startswith(magic), name
    code = main(["evaluate", clip[1], "--source", clip[1], "--plot", str(tmp_path / "c.txt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and ".png, .svg or .pdf" in err[0], err
    assert not (tmp_path / "c.txt").exists()


def test_plot_without_matplotlib_says_how_to_install(clip, monkeypatch, tmp_path):
    r = {"frames": 1, "size": [W, H], "per_frame": []}
    # A None entry in sys.modules makes the import fail as if matplotlib were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"videostyle\[plot\]"):
        plot(r, str(tmp_path / "x.png"))
