"""A compositor's round trip (issue 26), measured on a plate made from a real clip:

1. the plate: frames of the clip, linearised (sRGB curve removed), pushed up ``--exposure`` stops, a lamp
   (a moving blob of light at 20.0) added, converted to ACEScg with OpenColorIO, with a moving soft matte as
   alpha (0 outside it), premultiplied, half-float EXR numbered from 1001, 24 fps, a timecode per frame;
2. ``videostyle stylize plate.####.exr --input-colorspace ACEScg -o out/sh010.####.exr --output-colorspace ACEScg``;
3. the same plate converted to sRGB (OCIO, clipped) as 8-bit RGBA PNGs, stylized the same way;
4. one table: style and content distance of both through an sRGB view (ACEScg -> sRGB, clipped), the ratio,
   the share of covered pixels clipped at 0 or 1 (in the EXR values, and through the sRGB view), the output's
   mean over the plate's pixels above 4.0, alpha equal, numbering; and a contact sheet (PNG).

    python scripts/plate_roundtrip.py --clip ../shared/data/videos/cockatoo.mp4 --start 100 --frames 6 \\
        --max-side 256 --style ../shared/data/styles/starry_night.jpg --sheet /tmp/plate_sheet.png

Results: docs/performance.md, "Compositing round trip (issue 26)".
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction

import cv2
import numpy as np

from videostyle.cli import main as videostyle
from videostyle.io.colour import srgb_decode, srgb_encode
from videostyle.io.exr import encode_exr, read_exr
from videostyle.io.media import open_source
from videostyle.io.resize import processing_size, resize_rgb
from videostyle.run.evaluate import _Fidelity


def ocio(src: str, dst: str, rgb: np.ndarray) -> np.ndarray:
    import PyOpenColorIO as o
    out = np.ascontiguousarray(rgb, np.float32).copy()
    o.Config.CreateFromFile("ocio://studio-config-latest").getProcessor(src, dst).getDefaultCPUProcessor().applyRGB(out)
    return out


def make_plate(args, folder: str, srgb_folder: str) -> list[np.ndarray]:
    """Writes the EXR plate and its 8-bit sRGB copy; returns the plate's straight ACEScg frames."""
    source = open_source(args.clip, args.start, args.start + args.frames)
    size = processing_size(source.info.width, source.info.height, args.max_side)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    plates = []
    for i, frame in enumerate(source.frames()):
        linear = srgb_decode(resize_rgb(frame.image, size).astype(np.float64) / 255.0) * 2.0 ** args.exposure
        cx, cy = w * (0.25 + 0.02 * i), h * 0.3
        linear += 20.0 * np.exp(-(((xs - cx) / (0.04 * w)) ** 2 + ((ys - cy) / (0.04 * w)) ** 2))[..., None]
        cg = ocio("Linear Rec.709 (sRGB)", "ACEScg", linear)
        r = np.sqrt(((xs - w * (0.5 + 0.01 * i)) / (0.45 * w)) ** 2 + ((ys - h / 2) / (0.48 * h)) ** 2)
        alpha = np.clip((1.0 - r) / 0.08, 0.0, 1.0).astype(np.float32)  # a soft edge, 0 outside
        data = encode_exr(cg, alpha, fps=Fraction(24), timecode=(1, 0, 0, i, False))
        with open(os.path.join(folder, f"plate.{1001 + i}.exr"), "wb") as f:
            f.write(data)
        view = np.rint(srgb_encode(ocio("ACEScg", "Linear Rec.709 (sRGB)", cg)) * 255).astype(np.uint8)
        a8 = np.rint(alpha * 255).astype(np.uint8)
        cv2.imwrite(os.path.join(srgb_folder, f"plate.{1001 + i}.png"), np.dstack([view[..., ::-1], a8]))
        plates.append(cg)
    return plates


def srgb_view(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sRGB view ×255 float, straight ACEScg values, alpha) of an output EXR."""
    e = read_exr(path)
    return srgb_encode(ocio("ACEScg", "Linear Rec.709 (sRGB)", e.rgb)) * 255.0, e.rgb, e.alpha


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--start", type=int, default=100)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--max-side", type=int, default=256)
    p.add_argument("--exposure", type=float, default=1.0, help="stops the linearised clip is pushed up")
    p.add_argument("--sheet", help="write a contact sheet PNG here")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reuse", metavar="DIR", help="measure the plate and outputs of an earlier run's folder again")
    args = p.parse_args()

    tmp = args.reuse or tempfile.mkdtemp(prefix="plate-")
    print(f"working in {tmp}")
    plate_dir, srgb_dir = os.path.join(tmp, "plate"), os.path.join(tmp, "srgb")
    if args.reuse:
        plates = [read_exr(os.path.join(plate_dir, f"plate.{1001 + i}.exr")).rgb for i in range(args.frames)]
    else:
        os.makedirs(plate_dir), os.makedirs(srgb_dir)
        plates = make_plate(args, plate_dir, srgb_dir)
    common = ["--style", args.style, "--max-side", str(args.max_side), "--device", args.device, "--quiet"]
    seconds = {"EXR, ACEScg in and out": float("nan"), "8-bit sRGB copy": float("nan")}
    for name, argv in {} if args.reuse else {
        "EXR, ACEScg in and out": [os.path.join(plate_dir, "plate.####.exr"), "--input-colorspace", "ACEScg",
                                   "-o", os.path.join(tmp, "out", "sh010.####.exr"), "--output-colorspace", "ACEScg"],
        "8-bit sRGB copy": [os.path.join(srgb_dir, "plate.####.png"), "-o", os.path.join(tmp, "out8", "sh010.####.png")],
    }.items():
        t = time.perf_counter()
        if videostyle(["stylize", *argv, *common]) != 0:
            print(f"{name}: the run failed", file=sys.stderr)
            return 1
        seconds[name] = time.perf_counter() - t

    fidelity = _Fidelity([args.style], args.max_side, args.device, "packaged")
    rows, sheet = {"exr": [], "png": []}, []
    for i, cg in enumerate(plates):
        n = 1001 + i
        plate_view = cv2.imread(os.path.join(srgb_dir, f"plate.{n}.png"), cv2.IMREAD_UNCHANGED)
        plate_rgb, plate_alpha = plate_view[..., 2::-1].astype(np.float32), plate_view[..., 3]
        view, values, alpha = srgb_view(os.path.join(tmp, "out", f"sh010.{n}.exr"))
        png = cv2.imread(os.path.join(tmp, "out8", f"sh010.{n}.png"), cv2.IMREAD_UNCHANGED)
        png_rgb = png[..., 2::-1].astype(np.float32)
        covered = alpha > 0
        bright = (cg.max(-1) > 4.0) & covered
        # Both measured as a compositor sees the frame: where alpha is 0, the plate (the 8-bit run's
        # straight output holds it there; the EXR's premultiplied colour is 0).
        view = np.where(covered[..., None], view, plate_rgb)
        rows["exr"].append({**fidelity(view, plate_rgb),
                            "clipped_values": float((((values <= 0) | (values == 1.0)).any(-1) & covered).sum() / covered.sum()),
                            "clipped_view": float((((view <= 0) | (view >= 255)).any(-1) & covered).sum() / covered.sum()),
                            "bright_mean": float(values[bright].mean()) if bright.any() else float("nan"),
                            "alpha_equal": bool(np.array_equal(np.rint(alpha * 255), np.rint(read_exr(
                                os.path.join(plate_dir, f"plate.{n}.exr")).alpha * 255)))})
        rows["png"].append({**fidelity(png_rgb, plate_rgb),
                            "clipped_view": float((((png_rgb <= 0) | (png_rgb >= 255)).any(-1) & (plate_alpha > 0)).sum()
                                                  / max(1, (plate_alpha > 0).sum()))})
        if i in (0, len(plates) // 2, len(plates) - 1):
            sheet.append(np.concatenate([plate_rgb, view, png_rgb], 1))
    names = sorted(os.listdir(os.path.join(tmp, "out")))
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0] if m != "alpha_equal"} for k, v in rows.items()}
    print(f"plate: {args.clip} frames {args.start}-{args.start + args.frames - 1}, {plates[0].shape[1]}x{plates[0].shape[0]}, "
          f"+{args.exposure} stops, ACEScg, lamp at 20.0; style {os.path.basename(args.style)}")
    print("| run | seconds | style (sRGB view) | content | clipped: EXR values / sRGB view | mean over plate > 4.0 |")
    print("|---|---|---|---|---|---|")
    e, q = mean["exr"], mean["png"]
    print(f"| EXR, ACEScg in and out | {seconds['EXR, ACEScg in and out']:.0f} | {e['style_distance']:.4g} | {e['content_distance']:.4g} | "
          f"{100 * e['clipped_values']:.2f} % / {100 * e['clipped_view']:.2f} % | {e['bright_mean']:.2f} |")
    print(f"| 8-bit sRGB copy | {seconds['8-bit sRGB copy']:.0f} | {q['style_distance']:.4g} | {q['content_distance']:.4g} | "
          f"– / {100 * q['clipped_view']:.2f} % | (clipped at 1.0) |")
    print(f"style ratio EXR / 8-bit: {e['style_distance'] / q['style_distance']:.3f}; alpha equal in every frame: "
          f"{all(r['alpha_equal'] for r in rows['exr'])}; outputs: {names[0]} … {names[-1]} ({len(names)})")
    if args.sheet:
        cv2.imwrite(args.sheet, np.clip(np.concatenate(sheet, 0), 0, 255).astype(np.uint8)[..., ::-1])
        print(f"contact sheet (plate through the sRGB view | EXR output through it | 8-bit output): {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
