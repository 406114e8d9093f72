"""Middlebury .flo and PGM mask interchange, flow export/import, and the flow backends."""
import os
import struct

import cv2
import numpy as np
import pytest

from videostyle import config
from videostyle import flow as flow_mod
from videostyle.errors import ConfigError, InputError
from videostyle.flow import FLOW_METHODS, FlowEstimator, consistency_weights
from videostyle.flowio import (FlowDirectory, export_flows, flow_name, read_flo, read_flo_size, read_mask,
                               reliable_name, write_flo, write_mask)
from videostyle.media import open_source

H, W = 48, 64


def texture(h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def random_flow(h=7, w=5, seed=1):
    # Odd, non-square size so a swapped width/height or a transposed layout cannot pass.
    return (np.random.default_rng(seed).normal(0, 20, (h, w, 2))).astype(np.float32)


def reference_flo_bytes(arr):
    h, w = arr.shape[:2]
    return struct.pack("<f", 202021.25) + struct.pack("<ii", w, h) + arr.astype("<f4").tobytes()


# --------------------------------------------------------------------------- .flo


def test_flo_bytes_match_independent_writers_and_round_trip(tmp_path):
    arr = random_flow()
    ours = tmp_path / "ours.flo"
    write_flo(ours, arr)
    data = ours.read_bytes()
    assert data[:4] == b"PIEH"
    assert data == reference_flo_bytes(arr)
    if hasattr(cv2, "writeOpticalFlow"):
        theirs = str(tmp_path / "opencv.flo")
        assert cv2.writeOpticalFlow(theirs, arr)
        assert data == open(theirs, "rb").read()
    back = read_flo(ours)
    assert back.dtype == np.float32 and back.shape == (7, 5, 2)
    assert np.array_equal(back, arr)
    assert read_flo_size(ours) == (5, 7)
    if hasattr(cv2, "readOpticalFlow"):
        assert np.array_equal(cv2.readOpticalFlow(str(ours)), arr)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temporaries left


def test_flo_write_is_atomic_replace(tmp_path):
    path = tmp_path / "f.flo"
    write_flo(path, np.zeros((2, 3, 2), np.float32))
    write_flo(path, np.ones((4, 4, 2), np.float32))
    assert np.array_equal(read_flo(path), np.ones((4, 4, 2), np.float32))
    with pytest.raises(ValueError):
        write_flo(path, np.zeros((4, 4, 3), np.float32))


@pytest.mark.parametrize("mangle, words", [
    (lambda d: b"XXXX" + d[4:], "not a .flo"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d[:8], "not a .flo"),
    (lambda d: d + b"\0\0\0\0", "corrupt"),
    (lambda d: d[:4] + struct.pack("<ii", -3, 7) + d[12:], "impossible size"),
    (lambda d: d[:4] + struct.pack("<ii", 10 ** 6, 7) + d[12:], "impossible size"),
    (lambda d: d[:4] + struct.pack("<ii", 99999, 99999) + d[12:], "truncated"),
])
def test_bad_flo_raises_input_error_naming_the_file(tmp_path, mangle, words):
    path = tmp_path / "bad.flo"
    path.write_bytes(mangle(reference_flo_bytes(random_flow())))
    with pytest.raises(InputError, match=words) as e:
        read_flo(path)
    assert str(path) in str(e.value)


def test_missing_flo_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_flo(tmp_path / "nope.flo")


# --------------------------------------------------------------------------- masks


def test_mask_round_trip(tmp_path):
    weight = np.random.default_rng(2).uniform(0, 1, (5, 9)).astype(np.float32)
    weight[0, 0], weight[0, 1] = -0.5, 1.5  # out of range: clipped
    path = tmp_path / "m.pgm"
    write_mask(path, weight)
    assert path.read_bytes().startswith(b"P5\n9 5\n255\n")
    stored = np.rint(np.clip(weight, 0, 1) * 255)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), stored.astype(np.uint8))
    back = read_mask(path)
    assert back.dtype == np.float32 and back.shape == (5, 9)
    assert np.array_equal(back, (stored / 255).astype(np.float32))
    assert np.abs(back - np.clip(weight, 0, 1)).max() <= 0.5 / 255 + 1e-6


def test_mask_reader_takes_comments_and_16_bit(tmp_path):
    path = tmp_path / "c.pgm"
    path.write_bytes(b"P5\n# made elsewhere\n2 1\n65535\n" + np.array([0, 65535], ">u2").tobytes())
    assert np.array_equal(read_mask(path), np.array([[0, 1]], np.float32))


@pytest.mark.parametrize("data", [b"P6\n2 1\n255\nabcdef", b"P5\n2 1\n255\na", b"P5\n2\n", b""])
def test_bad_mask_raises_input_error(tmp_path, data):
    path = tmp_path / "bad.pgm"
    path.write_bytes(data)
    with pytest.raises(InputError) as e:
        read_mask(path)
    assert str(path) in str(e.value)


def test_occluded_pixels_are_zero_and_background_255_in_the_mask(tmp_path):
    """A square moves 6 px right over a static background (flows made by hand). The strip it uncovers
    at t has no source at t−1: 0 in reliable_{t}_{t−1}; the far background is 255."""
    h, w, x0, size, d = 48, 64, 20, 16, 6
    back = np.zeros((h, w, 2), np.float32)
    back[16:32, x0 + d:x0 + d + size, 0] = -d      # square at t came from 6 px left
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[16:32, x0:x0 + size, 0] = d                # square at t−1 moves right
    path = tmp_path / reliable_name(2, 1)
    write_mask(path, consistency_weights(back, fwd))
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint8 and raw.shape == (h, w)
    assert raw[18:30, x0 + 1:x0 + d - 1].max() == 0
    assert raw[0:8, :].min() == 255 and raw[40:, :].min() == 255 and raw[:, 50:].min() == 255
    assert np.array_equal(read_mask(path), raw.astype(np.float32) / 255)


# --------------------------------------------------------------------------- names, export, folder


def test_names_are_one_based_reference_names():
    assert flow_name("forward", 1, 2) == "forward_1_2.flo"
    assert flow_name("backward", 3, 1) == "backward_3_1.flo"
    assert reliable_name(3, 1) == "reliable_3_1.pgm"
    with pytest.raises(ValueError):
        flow_name("forward", 2, 1)
    with pytest.raises(ValueError):
        flow_name("sideways", 1, 2)


def panned_sequence(folder, n=4, step=1):
    """PNG frames in which the content moves ``step`` px right per frame (a crop sliding left)."""
    big = texture(H, W + 16)
    folder.mkdir()
    for k in range(n):
        frame = big[:, 8 - k * step:8 - k * step + W]
        cv2.imwrite(str(folder / f"{k + 1:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def test_export_flows_writes_reference_names_and_folder_reads_back(tmp_path):
    source = open_source(str(panned_sequence(tmp_path / "frames")))
    out = tmp_path / "flow"
    pairs = []
    n = export_flows(source, out, FlowEstimator("dis", "medium"), offsets=(1, 2),
                     on_pair=lambda i, j: pairs.append((i, j)))
    assert n == 5
    assert pairs == [(1, 2), (2, 3), (1, 3), (3, 4), (2, 4)]
    expected = set()
    for i, j in pairs:
        expected |= {f"forward_{i}_{j}.flo", f"backward_{j}_{i}.flo", f"reliable_{j}_{i}.pgm", f"reliable_{i}_{j}.pgm"}
    assert set(os.listdir(out)) == expected

    flows = FlowDirectory(out)
    flows.check_size(W, H)
    # Frame 2 (0-based) shows frame 1's content moved 1 px right: its pixel p came from p − 1.
    back, weight = flows.pair(2, 1)
    assert back.shape == (H, W, 2) and back.dtype == np.float32
    assert weight.shape == (H, W) and weight.dtype == np.float32
    assert np.median(back[8:-8, 8:-8, 0]) == pytest.approx(-1, abs=0.2)
    assert np.median(back[8:-8, 8:-8, 1]) == pytest.approx(0, abs=0.2)
    assert np.median(weight[8:-8, 8:-8]) == 1
    assert weight[:, 0].max() == 0                 # its source column left the frame
    back2, _ = flows.pair(3, 1)                    # offset 2
    assert np.median(back2[8:-8, 8:-8, 0]) == pytest.approx(-2, abs=0.2)
    fwd, _ = flows.pair(1, 3)                      # forward 2 → 4
    assert np.median(fwd[8:-8, 8:-8, 0]) == pytest.approx(2, abs=0.2)

    # Without the mask the weights are recomputed from both flows (equal up to 8-bit quantization).
    os.remove(out / "reliable_3_2.pgm")
    _, recomputed = flows.pair(2, 1)
    assert np.abs(recomputed - weight).max() <= 0.5 / 255 + 1e-6

    os.remove(out / "forward_2_3.flo")
    with pytest.raises(InputError, match="forward_2_3.flo"):
        flows.pair(2, 1)
    with pytest.raises(InputError, match="backward_4_1.flo"):
        flows.pair(3, 0)
    with pytest.raises(InputError, match="32x24"):
        FlowDirectory(out).check_size(32, 24)


def test_export_resizes_and_accepts_plain_arrays(tmp_path):
    frames = [np.roll(texture(), k, axis=1) for k in range(3)]
    n = export_flows(iter(frames), tmp_path, FlowEstimator("dis", "ultrafast"),
                     resize=lambda im: cv2.resize(im, (W // 2, H // 2), interpolation=cv2.INTER_AREA))
    assert n == 2
    FlowDirectory(tmp_path).check_size(W // 2, H // 2)
    assert read_flo(tmp_path / "backward_3_2.flo").shape == (H // 2, W // 2, 2)
    with pytest.raises(ConfigError):
        export_flows(iter(frames), tmp_path, FlowEstimator(), offsets=(0,))


def test_flow_folder_must_exist(tmp_path):
    with pytest.raises(InputError, match="not found"):
        FlowDirectory(tmp_path / "missing")


# --------------------------------------------------------------------------- backends


def _needs_contrib(name):
    return pytest.param(name, marks=pytest.mark.skipif(not hasattr(cv2, "optflow"),
                                                       reason="cv2.optflow (opencv-contrib) not installed"))


@pytest.mark.parametrize("method", ["dis", "farneback", _needs_contrib("deepflow"), _needs_contrib("tvl1")])
def test_backend_recovers_a_known_pan(method):
    a = texture()                                  # 64×48 keeps DeepFlow / TV-L1 to tens of ms
    b = np.roll(a, 2, axis=1)                      # content moves 2 px right from a to b
    est = FlowEstimator(method)
    back = est(b, a)                               # b → a: each pixel of b came from 2 px left
    fwd = est(a, b)
    assert back.shape == (H, W, 2) and back.dtype == np.float32
    assert np.median(back[8:-8, 8:-8, 0]) == pytest.approx(-2, abs=0.3)
    assert np.median(back[8:-8, 8:-8, 1]) == pytest.approx(0, abs=0.3)
    assert np.median(fwd[8:-8, 8:-8, 0]) == pytest.approx(2, abs=0.3)


def test_flow_methods_agree_with_config_and_unknowns_are_config_errors():
    assert config.FLOW_METHODS == FLOW_METHODS == ("dis", "farneback", "deepflow", "tvl1")
    assert config.StylizeConfig(flow="tvl1").flow == "tvl1"
    with pytest.raises(ConfigError, match="flow method"):
        FlowEstimator("raft")
    with pytest.raises(ConfigError, match="preset"):
        FlowEstimator("dis", "glacial")


@pytest.mark.parametrize("method", ["deepflow", "tvl1"])
def test_missing_contrib_backend_is_a_config_error(monkeypatch, method):
    monkeypatch.delattr(flow_mod.cv2, "optflow", raising=False)
    with pytest.raises(ConfigError, match="opencv-contrib-python-headless") as e:
        FlowEstimator(method)
    assert method in str(e.value) and "\n" not in str(e.value)
    FlowEstimator("farneback")                     # core backends do not need contrib
