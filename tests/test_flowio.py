"""Middlebury .flo and PGM mask interchange, flow export/import, and the flow backends."""
import os
import struct

import cv2
import numpy as np
import pytest

from videostyle import config
from videostyle.flow import estimate as flow_mod
from videostyle.errors import ConfigError, InputError
from videostyle.flow.estimate import FLOW_METHODS, FlowEstimator, consistency_weights
from videostyle.flow.files import (FlowDirectory, export_flows, flow_name, read_flo, read_flo_size, read_mask,
                               reliable_name, write_flo, write_mask)
from videostyle.io.media import open_source

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


def test_non_finite_flo_is_refused_naming_the_file(tmp_path):
    arr = random_flow()
    arr[3, 2, 1] = np.nan
    arr[5, 4, 0] = np.inf
    path = tmp_path / "nan.flo"
    path.write_bytes(reference_flo_bytes(arr))
    with pytest.raises(InputError) as e:
        read_flo(path)
    assert str(e.value) == (f"{path} holds 2 NaN or infinite values (the first at pixel x=2, y=3); "
                            "flows must be finite")
    with pytest.raises(ValueError, match="NaN"):
        write_flo(tmp_path / "out.flo", arr)           # and none is ever written
    assert os.listdir(tmp_path) == ["nan.flo"]


def test_estimated_non_finite_flow_is_zero_with_weight_zero(tmp_path):
    """An estimator that returns NaN somewhere (OpenCV's do on degenerate input): exported and live
    flows are finite, and those pixels are marked unreliable."""
    def broken(a, b):
        flow = FlowEstimator("dis", "ultrafast")(a, b)
        flow[10:12, 20:23] = np.nan
        return flow

    frames = [np.roll(texture(), k, axis=1) for k in range(2)]
    export_flows(iter(frames), tmp_path / "flows", broken)
    for name in ("forward_1_2.flo", "backward_2_1.flo"):
        flow = read_flo(tmp_path / "flows" / name)    # would raise if not finite
        assert np.all(flow[10:12, 20:23] == 0)
    for name in ("reliable_1_2.pgm", "reliable_2_1.pgm"):
        weight = read_mask(tmp_path / "flows" / name)
        assert weight[10:12, 20:23].max() == 0 and np.median(weight) == 1

    from videostyle.run.flows import EstimatedFlows
    flows = EstimatedFlows("dis", "ultrafast", str(tmp_path / "work" / "flows"), size=(W, H))
    flows._estimate = broken                            # fault injection: the real estimator is finite here
    ts, c_ts, st, c_st = flows(1, frames[1], 0, frames[0])
    for flow, weight in ((ts, c_ts), (st, c_st)):
        assert np.isfinite(flow).all() and weight[10:12, 20:23].max() == 0 and np.median(weight) == 1
    assert os.listdir(flows._dir) == []                 # a repaired flow is not cached without its mask


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


def reference_pgm_bytes(pixels):
    """The mask writer videostyle had before it used OpenCV's, kept to prove the bytes unchanged."""
    h, w = pixels.shape
    return b"P5\n%d %d\n255\n" % (w, h) + pixels.astype(np.uint8).tobytes()


@pytest.mark.parametrize("h, w", [(5, 9), (1, 1), (31, 17)])
def test_opencv_writers_give_the_reference_bytes(tmp_path, h, w):
    """.flo and PGM files are written by OpenCV now; the bytes are exactly those of the struct-based
    writers videostyle had (and the reference's tools read)."""
    flow = random_flow(h, w, seed=h)
    write_flo(tmp_path / "f.flo", flow)
    assert (tmp_path / "f.flo").read_bytes() == reference_flo_bytes(flow)
    write_flo(tmp_path / "d.flo", flow.astype(np.float64))  # any real dtype, stored as float32
    assert (tmp_path / "d.flo").read_bytes() == reference_flo_bytes(flow)
    weight = np.random.default_rng(w).uniform(-0.2, 1.2, (h, w))
    weight[0, 0] = np.nan
    write_mask(tmp_path / "m.pgm", weight)
    expected = np.rint(np.clip(np.nan_to_num(weight, nan=0), 0, 1) * 255)
    assert (tmp_path / "m.pgm").read_bytes() == reference_pgm_bytes(expected)
    write_mask(tmp_path / "mask.png", weight)          # a PGM whatever the name says
    assert (tmp_path / "mask.png").read_bytes() == reference_pgm_bytes(expected)
    assert sorted(os.listdir(tmp_path)) == ["d.flo", "f.flo", "m.pgm", "mask.png"]  # no temporaries left


def test_writers_name_an_unwritable_place(tmp_path):
    from videostyle.errors import OutputError
    for write, value in ((write_flo, random_flow()), (write_mask, np.ones((2, 2)))):
        with pytest.raises(OutputError, match="missing/x.* No such file or directory"):
            write(tmp_path / "missing" / "x.bin", value)


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
    assert flows.resized_from is None


def test_flows_of_another_size_are_resized_with_their_vectors_scaled(tmp_path):
    """Flows made at the source size (as the reference's scripts make them) serve a smaller processing
    size: vectors scaled per axis by the size ratio, masks nearest; a folder mixing sizes is refused."""
    full, half = tmp_path / "full", tmp_path / "half"
    full.mkdir(), half.mkdir()
    shift = np.zeros((64, 96, 2), np.float32)
    shift[..., 0], shift[..., 1] = -4, 2               # 2x the processing size: (-4, 2) px is (-2, 1) there
    mask = np.ones((64, 96), np.float32)
    mask[:, :8] = 0                                     # 8 source columns unreliable: 4 at half size
    write_flo(full / "backward_2_1.flo", shift)
    write_flo(full / "forward_1_2.flo", -shift)
    write_mask(full / "reliable_2_1.pgm", mask)
    write_flo(half / "backward_2_1.flo", shift[::2, ::2] / 2)
    write_flo(half / "forward_1_2.flo", -shift[::2, ::2] / 2)

    big, small = FlowDirectory(full), FlowDirectory(half)
    big.check_size(48, 32), small.check_size(48, 32)
    assert big.resized_from == (96, 64) and small.resized_from is None
    flow, weight = big.pair(1, 0)
    assert flow.shape == (32, 48, 2) and weight.shape == (32, 48)
    assert np.array_equal(flow, small.pair(1, 0)[0])
    assert np.allclose(flow[..., 0], -2) and np.allclose(flow[..., 1], 1)
    assert weight[:, :4].max() == 0 and weight[:, 4:].min() == 1
    back, recomputed = big.pair(0, 1)                  # no mask: weights from the resized flows
    assert np.array_equal(back, small.pair(0, 1)[0])
    assert np.array_equal(recomputed, small.pair(0, 1)[1])
    up = FlowDirectory(half)
    up.check_size(96, 64)                              # enlarging works too
    assert np.allclose(up.pair(1, 0)[0], shift)

    write_flo(full / "forward_2_3.flo", np.zeros((32, 48, 2), np.float32))
    write_flo(full / "backward_3_2.flo", np.zeros((64, 96, 2), np.float32))
    with pytest.raises(InputError, match="forward_2_3.flo is 48x32 but the other flows .* are 96x64"):
        big.pair(1, 2)


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


@pytest.mark.parametrize("method", ["dis", "farneback", _needs_contrib("deepflow"), _needs_contrib("tvl1"),
                                    _needs_contrib("deepflow+dis")])
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
    assert config.FLOW_METHODS == FLOW_METHODS == ("dis", "farneback", "deepflow", "tvl1", "deepflow+dis")
    assert config.StylizeConfig(flow="tvl1").flow == "tvl1"
    with pytest.raises(ConfigError, match="flow method"):
        FlowEstimator("raft")
    with pytest.raises(ConfigError, match="preset"):
        FlowEstimator("dis", "glacial")


def _card_pair(step=12, w=96, h=54):
    """A static textured scene and, in front of it, a weakly textured card (a few smooth colour blobs)
    that moves ``step`` px right: frame a, frame b, and the card's pixels in b (2 px inside its edges)."""
    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.0).astype(np.uint8)
    card = cv2.resize(rng.uniform(0, 255, (3, 3, 3)).astype(np.uint8), (w // 4, h // 2), interpolation=cv2.INTER_CUBIC)
    frames = []
    for x in (8, 8 + step):
        f = scene.copy()
        f[h // 4:h // 4 + card.shape[0], x:x + card.shape[1]] = card
        frames.append(f)
    inner = np.zeros((h, w), bool)
    inner[h // 4 + 2:h // 4 + card.shape[0] - 2, x + 2:x + card.shape[1] - 2] = True  # x: the card in b
    return frames[0], frames[1], inner


@pytest.mark.skipif(not hasattr(cv2, "optflow"), reason="cv2.optflow (opencv-contrib) not installed")
def test_deepflow_guarded_by_dis_follows_a_fast_card_that_deepflow_alone_leaves_behind():
    a, b, card = _card_pair()
    # b → a: the card's pixels in b came from 12 px to the left.
    alone, guarded = FlowEstimator("deepflow")(b, a), FlowEstimator("deepflow+dis")(b, a)
    miss = lambda flow: float(np.median(np.abs(flow[card] - (-12.0, 0.0)).sum(-1)))
    assert miss(alone) > 6          # what the guard is for: DeepFlow's variational search stops short
    assert miss(guarded) < 1.5
    # Where DeepFlow holds (the static scene, away from the card), the guarded flow is DeepFlow's own.
    away = ~cv2.dilate(card.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert np.mean(np.all(guarded[away] == alone[away], -1)) > 0.9


def test_flow_auto_is_deepflow_guarded_by_dis_where_the_cpu_renders_and_dis_elsewhere(monkeypatch):
    from videostyle.flow.estimate import choose_flow
    from videostyle.run.render import resolved_flow
    assert choose_flow("auto", "cpu", local=True) == "deepflow+dis"
    assert choose_flow("auto", "cuda", local=True) == "dis"      # DeepFlow is CPU-only: slower than the render
    assert choose_flow("auto", "mps", local=True) == "dis"
    assert choose_flow("auto", "cpu", local=False) == "dis"      # a cluster's driver would flow for every worker
    assert choose_flow("tvl1", "cuda") == "tvl1"                   # what the user names is what runs
    # Below 50 px on a side OpenCV's DeepFlow is less exact than DIS (scripts/flow_accuracy.py).
    assert choose_flow("auto", "cpu", True, (96, 54)) == "deepflow+dis"
    assert choose_flow("auto", "cpu", True, (48, 32)) == choose_flow("auto", "cpu", True, (96, 40)) == "dis"
    assert resolved_flow(config.StylizeConfig(device="cpu"), (96, 54)).flow == "deepflow+dis"
    assert resolved_flow(config.StylizeConfig(device="cpu"), (96, 54), local=False).flow == "dis"
    assert resolved_flow(config.StylizeConfig(device="cpu", flow="farneback"), (96, 54)).flow == "farneback"
    assert config.StylizeConfig().flow == "auto"
    # A bare estimator (videostyle flow, the scripts) settles auto by each pair's size.
    small, large = texture(32, 48), texture(64, 96)
    auto = FlowEstimator("auto")
    assert np.array_equal(auto(small, np.roll(small, 1, 1)), FlowEstimator("dis")(small, np.roll(small, 1, 1)))
    assert np.array_equal(auto(large, np.roll(large, 1, 1)), FlowEstimator("deepflow+dis")(large, np.roll(large, 1, 1)))
    monkeypatch.delattr(flow_mod.cv2, "optflow", raising=False)  # a plain opencv-python: DIS, not an error
    assert choose_flow("auto", "cpu", True, (96, 54)) == "dis"


@pytest.mark.parametrize("method", ["deepflow", "tvl1", "deepflow+dis"])
def test_missing_contrib_backend_is_a_config_error(monkeypatch, method):
    monkeypatch.delattr(flow_mod.cv2, "optflow", raising=False)
    with pytest.raises(ConfigError, match="opencv-contrib-python-headless") as e:
        FlowEstimator(method)
    assert method in str(e.value) and "\n" not in str(e.value)
    FlowEstimator("farneback")                     # core backends do not need contrib


# --------------------------------------------------------------------------- through the CLI


def reference_shot(folder, n=3, w=96, h=64, step=2, ext=".ppm"):
    """The reference implementation's layout: frame_0001.ppm … with the content moving ``step`` px right
    per frame (a crop sliding left over a larger texture)."""
    big = texture(h, w + 2 * n * step, seed=5)
    folder.mkdir()
    for k in range(n):
        x = n * step - k * step
        cv2.imwrite(str(folder / f"frame_{k + 1:04d}{ext}"), big[:, x:x + w, ::-1])
    return str(folder)


def stylize(tmp_path, shot, out, *extra):
    from videostyle.cli import main
    style = tmp_path / "style.png"
    if not style.exists():
        cv2.imwrite(str(style), texture(32, 32, seed=9))
    return main(["stylize", shot, "--style", str(style), "-o", str(out) + "/", "--iterations", "2,1", "--quiet",
                 "--work-dir", str(out) + "-work", *extra])


@pytest.mark.slow
def test_reference_ppm_shot_with_its_full_size_flows(tmp_path):
    """A folder of PPM frames is accepted, and flows made at its full size serve --max-side 48 (half the
    size): the frames equal those stylized with flows made at the processing size (measured: a mean
    difference of 0.9 and 1.3 levels on frames 2 and 3, from the estimates at two sizes; zero flows
    instead give 37 and 64)."""
    from videostyle.cli import main
    shot = reference_shot(tmp_path / "shot")
    assert main(["flow", shot, "-o", str(tmp_path / "full")]) == 0
    assert read_flo_size(tmp_path / "full" / "backward_2_1.flo") == (96, 64)
    assert np.median(read_flo(tmp_path / "full" / "backward_2_1.flo")[8:-8, 8:-8, 0]) == pytest.approx(-2, abs=0.2)
    assert main(["flow", shot, "-o", str(tmp_path / "small"), "--max-side", "48"]) == 0
    assert stylize(tmp_path, shot, tmp_path / "a", "--max-side", "48", "--flow-dir", str(tmp_path / "full")) == 0
    assert stylize(tmp_path, shot, tmp_path / "b", "--max-side", "48", "--flow-dir", str(tmp_path / "small")) == 0
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == sorted(os.listdir(tmp_path / "b")) and len(names) == 3
    for name in names:
        a, b = (cv2.imread(str(tmp_path / d / name)).astype(np.float32) for d in "ab")
        assert a.shape == (32, 48, 3)
        assert np.abs(a - b).mean() < 3.0, name


@pytest.mark.slow
def test_non_finite_flow_file_stops_stylize_with_one_line(tmp_path, capsys):
    from videostyle.cli import main
    shot = reference_shot(tmp_path / "shot", n=2, w=48, h=32, ext=".png")
    flows = tmp_path / "flows"
    assert main(["flow", shot, "-o", str(flows)]) == 0
    bad = flows / "backward_2_1.flo"
    data = bytearray(bad.read_bytes())
    struct.pack_into("<f", data, 12 + 8 * (5 * 48 + 7), float("nan"))
    bad.write_bytes(bytes(data))
    capsys.readouterr()
    assert stylize(tmp_path, shot, tmp_path / "out", "--flow-dir", str(flows)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "NaN or infinite" in err, err
    assert not (tmp_path / "out").exists()


def test_a_flow_folder_without_the_long_term_offsets_is_refused_before_the_render(tmp_path, capsys):
    """Flows written for --long-term 1 do not serve a render that needs flows 2 frames apart: one line,
    naming the offset and both ways out, before any frame is stylized; a folder whose clip is too short
    to hold frames 4 apart is not asked for them."""
    from videostyle.cli import main
    shot = reference_shot(tmp_path / "shot", n=4, w=48, h=32, ext=".png")
    flows = tmp_path / "flows"
    assert main(["flow", shot, "-o", str(flows), "--long-term", "1"]) == 0
    capsys.readouterr()
    assert stylize(tmp_path, shot, tmp_path / "out", "--flow-dir", str(flows), "--long-term", "1,2,4") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 frames apart" in err and "--long-term 1" in err, err
    assert not (tmp_path / "out").exists() and not list((tmp_path / "out-work").glob("**/*.png"))
    both = tmp_path / "flows124"
    assert main(["flow", shot, "-o", str(both), "--long-term", "1,2,4"]) == 0
    assert stylize(tmp_path, shot, tmp_path / "ok", "--flow-dir", str(both), "--long-term", "1,2,4") == 0


def test_the_flows_of_a_range_keep_the_frames_numbers_and_serve_that_range(tmp_path, capsys):
    """`videostyle flow --frames 2:5`: only those frames' pairs, named by the frames' own 1-based numbers
    (3-5), so stylize --frames 2:5 --flow-dir reads them; the whole shot's numbering would have named
    them 1-3 and served the wrong frames."""
    from videostyle.cli import main
    shot = reference_shot(tmp_path / "shot", n=6, w=48, h=32, ext=".png")
    flows = tmp_path / "flows"
    assert main(["flow", shot, "-o", str(flows), "--frames", "2:5", "--long-term", "1,2"]) == 0
    names = sorted(n for n in os.listdir(flows) if n.startswith("backward"))
    assert names == ["backward_4_3.flo", "backward_5_3.flo", "backward_5_4.flo"], names
    assert stylize(tmp_path, shot, tmp_path / "out", "--flow-dir", str(flows), "--frames", "2:5",
                   "--long-term", "1,2") == 0, capsys.readouterr().err


def test_the_flow_command_does_not_load_torch(tmp_path):
    """`videostyle flow` is a tool of its own (OpenCV and FFmpeg): it starts without the network's framework."""
    import subprocess
    import sys
    from mediagen import make_video
    clip = make_video(tmp_path / "clip.mp4", n=2)
    code = ("import sys; from videostyle.cli import main; "
            f"code = main(['flow', {clip!r}, '-o', {str(tmp_path / 'flows')!r}]); "
            "sys.exit(code or (3 if 'torch' in sys.modules else 0))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "flows" / "forward_1_2.flo").is_file()
