"""Every audio track of the input reaches a video output, in order: a camera or broadcast file carries
several (four or eight mono tracks, a mix and its stems), and dropping all but the first loses an
editor's sound without a word.

The input is a MOV with three mono PCM tracks, each a different tone; the outputs are read back with
PyAV and each track's tone is found by its spectrum's peak."""
from fractions import Fraction

import av
import numpy as np
import pytest

from mediagen import pattern_image, texture
from videostyle.cli import main

W, H, N, RATE, SR = 48, 32, 6, 12, 48000
TONES = (300.0, 500.0, 700.0)
RUN = ["--iterations", "3,2", "--quiet", "--device", "cpu"]


def make_clip(path) -> str:
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=RATE)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        tracks = []
        for _ in TONES:
            a = c.add_stream("pcm_s16le", rate=SR)
            a.codec_context.layout = "mono"
            tracks.append(a)
        for i in range(N):
            for p in v.encode(av.VideoFrame.from_ndarray(pattern_image(i, W, H), format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        total = int(N / RATE * SR)
        t = np.arange(total) / SR
        for a, tone in zip(tracks, TONES):
            wave = (0.3 * 32767 * np.sin(2 * np.pi * tone * t)).astype(np.int16)
            for k in range(0, total, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[None, k:k + 1024]), format="s16", layout="mono")
                af.sample_rate, af.pts, af.time_base = SR, k, Fraction(1, SR)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return str(path)


def tones(path) -> list[float]:
    """The dominant frequency of each audio track, in the file's order."""
    found = []
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
    for index in range(len(streams)):
        with av.open(str(path)) as c:
            # Mono: one row whether the samples are planar (AAC decodes to fltp) or packed (s16).
            chunks = [f.to_ndarray().astype(np.float64)[0] for f in c.decode(c.streams.audio[index])]
        signal = np.concatenate(chunks)
        spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
        found.append(float(np.fft.rfftfreq(len(signal), 1 / SR)[spectrum.argmax()]))
    return found


@pytest.fixture()
def style(tmp_path):
    import cv2
    path = tmp_path / "style.png"
    cv2.imwrite(str(path), texture(40, 40, (6, 6), seed=2, interpolation=cv2.INTER_NEAREST))
    return str(path)


@pytest.mark.parametrize("name, mode", [("out.mov", "3 tracks: copy"), ("out.mp4", "3 tracks: copy"), ("out.webm", "3 tracks: opus")])
def test_every_track_is_carried(tmp_path, style, name, mode):
    clip = make_clip(tmp_path / "in.mov")
    assert tones(clip) == pytest.approx(TONES, abs=15)
    report = tmp_path / "r.json"
    assert main(["stylize", clip, "--style", style, "-o", str(tmp_path / name), "--report", str(report), *RUN]) == 0
    import json
    assert json.loads(report.read_text())["audio"] == mode
    assert tones(tmp_path / name) == pytest.approx(TONES, abs=15)
