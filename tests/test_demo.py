"""The first run: bundled assets, `videostyle demo`, `videostyle styles`, `python -m videostyle`."""
import json
import os
import subprocess
import sys
import tomllib

import pytest

from videostyle.io import bundled
from videostyle.cli import main
from videostyle.io.media import open_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A short run of the real demo: 3 frames at 64×36, a couple of iterations.
QUICK = ["--max-side", "64", "--frames", "0:3", "--iterations", "3,2", "--quiet"]


def test_bundled_assets_are_small_documented_and_readable():
    folder = bundled.assets_dir()
    files = [f for f in os.listdir(folder) if f.endswith((".mp4", ".jpg"))]
    assert sum(os.path.getsize(os.path.join(folder, f)) for f in files) <= 1_000_000
    readme = open(os.path.join(ROOT, "assets", "README.md")).read()
    for f in files:
        assert f"`{f}`" in readme                       # each file has its source and licence there
    assert set(bundled.paintings()) == {"starry_night", "great_wave"}
    info = open_source(bundled.clip_path()).info
    assert info.n_frames == 36 and (info.width, info.height) == (320, 180) and info.has_audio


def test_resolve_style_takes_a_bundled_name_and_leaves_paths_alone(tmp_path, monkeypatch):
    starry = bundled.paintings()["starry_night"]
    assert bundled.resolve_style("starry_night") == starry
    assert bundled.resolve_style("Starry_Night.jpg") == starry
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"x")
    assert bundled.resolve_style(str(mine)) == str(mine)
    assert bundled.resolve_style(os.path.join("paintings", "starry_night")) == os.path.join("paintings", "starry_night")
    assert bundled.resolve_style("no_such_painting") == "no_such_painting"    # left for the reader's error
    # A file of the user's with a painting's name, in the working folder, wins over the bundled one.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "great_wave").write_bytes(b"x")
    assert bundled.resolve_style("great_wave") == "great_wave"


def test_styles_lists_the_bundled_paintings(capsys):
    assert main(["styles"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [name for name, _ in rows] == ["great_wave", "starry_night"]
    assert all(os.path.isfile(path) for _, path in rows)


@pytest.mark.slow
def test_demo_writes_every_output_and_refuses_to_overwrite_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--style", "great_wave"] + QUICK) == 0
    printed = capsys.readouterr().out
    names = ["stylized.mp4", "side_by_side.mp4", "contact_sheet.png", "report.json"]
    pytest.importorskip("matplotlib")
    names.append("report.png")
    for name in names:
        assert os.path.getsize(out / name) > 0 and str(out / name) in printed
    assert "videostyle stylize" in printed                  # the next command to try
    video = open_source(str(out / "stylized.mp4")).info
    assert video.n_frames == 3 and video.has_audio and (video.width, video.height) == (64, 36)
    side = open_source(str(out / "side_by_side.mp4")).info
    assert side.n_frames == 3 and side.width > video.width
    report = json.load(open(out / "report.json"))
    assert report["totals"]["frames"] == 3 and report["styles"] == [bundled.paintings()["great_wave"]]
    before = {name: (out / name).read_bytes() for name in names}

    # A second run is refused before any work, one line, nothing changed; -y replaces.
    assert main(["demo", "-o", str(out)] + QUICK) == 1
    err = capsys.readouterr().err.strip()
    assert "already exists" in err and "-y" in err and len(err.splitlines()) == 1
    assert {name: (out / name).read_bytes() for name in names} == before
    assert main(["demo", "-o", str(out), "-y"] + QUICK) == 0


def test_python_m_videostyle_runs_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "videostyle", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("videostyle ")
    done = subprocess.run([sys.executable, "-m", "videostyle", "styles"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "starry_night" in done.stdout


def test_every_package_and_asset_is_in_the_wheel_list():
    # pyproject lists packages explicitly (assets/ is mapped to videostyle.assets), so a new subpackage
    # left out of the list would be missing from wheels while editable installs still work.
    project = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["tool"]["setuptools"]
    found = {os.path.relpath(d, ROOT).replace(os.sep, ".")
             for d, _, files in os.walk(os.path.join(ROOT, "videostyle")) if "__init__.py" in files}
    assert found | {"videostyle.assets"} == set(project["packages"])
    assert project["package-dir"]["videostyle.assets"] == "assets"
    globs = project["package-data"]["videostyle.assets"]
    for f in os.listdir(os.path.join(ROOT, "assets")):
        if not f.endswith(".py"):
            assert f in globs or "*" + os.path.splitext(f)[1] in globs, f
