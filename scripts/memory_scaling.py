"""Peak memory of one frame's optimization against its pixel count, each size in a fresh process
(CUDA: torch.cuda.max_memory_allocated; CPU: the process's peak RSS). Prints one JSON line per size and
a last line with the fitted bytes per pixel and the memory module's estimate for comparison.

    python scripts/memory_scaling.py --sizes 128,256,384 [--device cpu]
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, numpy as np, torch
from videostyle.config import StylizeConfig
from videostyle.method.device import to_tensor
from videostyle.method.optimize import FrameProblem, stylize_frame
from videostyle.method.stylizer import Stylizer
side, device = int(sys.argv[1]), sys.argv[2]
w, h = side, side * 9 // 16
rng = np.random.default_rng(0)
st = Stylizer.create(StylizeConfig(device=device), [rng.uniform(0, 255, (side, side, 3)).astype(np.uint8)])
content = to_tensor(rng.uniform(0, 255, (h, w, 3)).astype(np.uint8), st.device)
objective = st.objective(content)  # the content + Gram objective, targets computed before the measure
base = torch.cuda.max_memory_allocated() if device.startswith("cuda") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
stylize_frame(st.model, FrameProblem(objective), content, st.config.loss, st.config.optim, 30)
peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"width": w, "height": h, "pixels": w * h, "peak_mb": peak / 2**20, "before_mb": base / 2**20}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="128,256,384")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    rows = []
    for side in (int(s) for s in a.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(side), a.device], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    (p0, m0), (p1, m1) = (rows[0]["pixels"], rows[0]["peak_mb"]), (rows[-1]["pixels"], rows[-1]["peak_mb"])
    slope = (m1 - m0) * 2 ** 20 / (p1 - p0)
    from videostyle.run.memory import VALUES_PER_PIXEL
    print(json.dumps({"measured_bytes_per_pixel": round(slope), "estimate_bytes_per_pixel": VALUES_PER_PIXEL * 4,
                      "fixed_mb": round(m0 - slope * p0 / 2 ** 20, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
