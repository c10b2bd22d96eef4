#!/usr/bin/env bash
# Writes the synthetic Gaussian scene of the render benchmark as a 3DGS PLY:
#
#   Tools/make-synthetic-scene.sh N OUT.ply [SPLAT]
#
# N Gaussians from SyntheticScene.make(count: N, seed: 1) (Sources/Splatting/
# SyntheticScene.swift), the scene `splat bench render --count N` renders; it
# runs `splat bench render --write-model OUT.ply --count N` of the built binary
# (SPLAT, else .build/release/splat, .build/debug/splat, or `splat` on PATH).
# No GPU is needed. The file is written to a temporary name and renamed.
#
# The scene (same N and seed: the same file on every run; normals go through
# libm's log/cos, so other machines may differ in the last bits; the doc
# comment of SyntheticScene is authoritative, this is a copy):
# - SH degree 3, 248 bytes per Gaussian in the PLY;
# - centres uniform in the box x in [-5, 5], y in [-3, 3], z in [2, 8];
#   SyntheticScene.defaultCamera (at the origin looking down +z, fx = fy =
#   0.8 width) sees about 42 % of them at 16:9;
# - log-scales ln(0.0115) + N(0, 0.35^2) per Gaussian plus N(0, 0.25^2) per
#   axis (mildly anisotropic); rotations unnormalised quaternions with N(0, 1)
#   components; opacities uniform in [0.05, 0.6] (stored as logits);
#   SH DC uniform in [-1.5, 1.5], the other coefficients uniform in [-0.1, 0.1];
# - at 100k Gaussians, 1280x720 from defaultCamera, classic mode (measured with
#   the Swift reference rasterizer): 42,404 visible Gaussians, 3.99 tiles per
#   visible Gaussian (median 4, max 56), mean per-axis radius 7.9 px; 47.0
#   Gaussians per pixel in the tile lists (bench render's
#   tile_gaussians_per_pixel); 9.2 blended contributors per pixel (its
#   gaussians_per_pixel); mean final transmittance 0.50.
#
# To render it: splat render OUT.ply --orbit N --out DIR (the file has no
# cameras.json, so the orbit's up is +z and it circles the box's centre);
# `splat bench render --model OUT.ply` times the first orbit frame, not
# defaultCamera's view (that is `splat bench render --count N`).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 N OUT.ply [SPLAT]" >&2
  exit 1
fi
count=$1
out=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
splat="${3:-}"
if [ -z "$splat" ]; then
  for candidate in "$root/.build/release/splat" "$root/.build/debug/splat"; do
    if [ -x "$candidate" ]; then splat=$candidate; break; fi
  done
fi
if [ -z "$splat" ]; then
  splat="$(command -v splat || true)"
fi
if [ -z "$splat" ] || [ ! -x "$splat" ]; then
  echo "$0: no splat binary: build it (swift build -c release --product splat) or pass its path as SPLAT" >&2
  exit 1
fi
exec "$splat" bench render --write-model "$out" --count "$count"
