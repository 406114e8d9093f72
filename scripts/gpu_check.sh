#!/usr/bin/env bash
# GPU check (≈ 8 minutes on one H100-class GPU): the GPU-marked tests, then the benchmark at 1280×720 on a
# few frames with the default configuration, then again with --compile. Needs the clip and painting passed as arguments (or the
# ../shared/data ones when present). Prints JSON lines; the last bench line has seconds_per_frame at 720p.
#
#   bash scripts/gpu_check.sh [CLIP] [PAINTING]
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/data/videos/cockatoo.mp4}
style=${2:-../shared/data/styles/starry_night.jpg}
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m pytest -q -m gpu
timeout 300 python3 scripts/bench.py --input "$clip" --style "$style" --max-side 1280 --frames 6 --device cuda
# The same with torch.compile: the first frame pays the compile, so compare seconds on later frames.
timeout 240 python3 scripts/bench.py --input "$clip" --style "$style" --max-side 1280 --frames 6 --device cuda --compile
