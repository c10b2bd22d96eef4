#!/usr/bin/env bash
# Packs splat for a GPU machine and runs the benchmarks there.
#
#   Tools/gpu-bench.sh pack        here: release build with the static Swift
#                                  stdlib, stripped and compressed, plus the
#                                  Vulkan loader, into .gpu/ (git-ignored)
#   Tools/gpu-bench.sh run OUT     there: unpack, then `splat info --devices`
#                                  and every benchmark, one JSON file each in OUT
#
# The GPU machine needs no Swift toolchain and no Vulkan loader (one is
# carried); it needs a Vulkan driver (ICD). With the device tool:
#   run(command: "bash Tools/gpu-bench.sh run $OUT", carry: [".gpu"])
set -euo pipefail
cd "$(dirname "$0")/.."
pack=.gpu

case "${1:-}" in
pack)
  swift build -c release --static-swift-stdlib --product splat
  rm -rf "$pack" && mkdir -p "$pack/lib"
  cp .build/release/splat "$pack/splat"
  strip "$pack/splat"
  xz -T0 -6 -f "$pack/splat"
  # libvulkan is opened at run time (dlopen), so ldd does not list it.
  cp -L "$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')" "$pack/lib/libvulkan.so.1"
  # NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0, which needs glvnd's
  # dispatch libraries (libEGL among them: without it the driver offers no
  # vkCreateInstance); GPU images without a GL stack lack them.
  for lib in libGLdispatch.so.0 libGLX.so.0 libEGL.so.1; do
    path="$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')"
    if [ -n "$path" ]; then cp -L "$path" "$pack/lib/"; else echo "warning: $lib not found (apt-get install libglvnd0)" >&2; fi
  done
  # Every other non-glibc library the binary links.
  ldd .build/release/splat | awk '/=>/ {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*) ;;
      *) cp -L "$lib" "$pack/lib/" ;;
    esac
  done
  du -sh "$pack"; ls -la "$pack" "$pack/lib"
  ;;
run)
  out="${2:?usage: Tools/gpu-bench.sh run OUT_DIR}"
  mkdir -p "$out"
  if [ ! -x "$pack/splat" ]; then
    if command -v xz >/dev/null; then xz -dkf "$pack/splat.xz"
    else python3 -c "import lzma,sys; open('$pack/splat','wb').write(lzma.open('$pack/splat.xz').read())"; fi
    chmod +x "$pack/splat"
  fi
  export LD_LIBRARY_PATH="$PWD/$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SPLAT_VULKAN_LIBRARY="$PWD/$pack/lib/libvulkan.so.1"
  # Find the NVIDIA driver's manifest where the loader would not look.
  if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
    for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
    done
  fi
  splat="$pack/splat"
  "$splat" info --devices | tee "$out/devices.txt"
  "$splat" info --devices --json > "$out/devices.json"
  # ONLY=PATTERN runs just the benchmarks whose name contains PATTERN.
  bench() {
    local name=$1; shift
    case "$name" in *"${ONLY:-}"*) ;; *) return 0 ;; esac
    echo "== $name: splat bench $*" >&2
    if "$splat" bench "$@" --json > "$out/$name.json"; then cat "$out/$name.json"; else echo "FAILED: $name" >&2; fi
  }
  # QUICK=1 checks the script itself on small sizes (e.g. on lavapipe).
  M=1048576; n16=$((16 * M)); n4=$((4 * M))
  if [ -n "${QUICK:-}" ]; then n16=$((M / 16)); n4=$((M / 64)); fi
  bench sort-16M-32bit sort --count $n16 --bits 32
  bench sort-16M-48bit sort --count $n16 --bits 48
  bench sort-4M-48bit sort --count $n4 --bits 48
  bench sort-16M-32bit-serial sort --count $n16 --bits 32 --ranking serial --runs 3
  bench scan-16M scan --count $n16
  # Rasterizer: 1M synthetic Gaussians at 1920x1080 (the issue's GPU target),
  # and the 100k scene at 1280x720 (the lavapipe target's scene).
  nr1=1000000; nr2=100000
  if [ -n "${QUICK:-}" ]; then nr1=20000; nr2=5000; fi
  bench render-1M-1080p render --count $nr1 --width 1920 --height 1080 --repeat 20
  bench render-100k-720p render --count $nr2 --width 1280 --height 720 --repeat 20
  nr3=10000000; [ -n "${QUICK:-}" ] && nr3=50000
  bench render-10M-1080p render --count $nr3 --width 1920 --height 1080 --repeat 5 --skip-baseline
  # Payload channels against the RGB frame of the same scene (ratio): dense
  # C = 64 (target <= 8x) and K = 4 sparse pairs of L = 64 (target <= 2x).
  bench render-100k-720p-c64 render --count $nr2 --width 1280 --height 720 --repeat 20 --channels 64
  bench render-100k-720p-sparse4of64 render --count $nr2 --width 1280 --height 720 --repeat 20 --sparse 4/64
  # Language features (LangSplatV2's shape: 3 levels, L 64, K 4, D 512): a
  # random field on the 100k scene at 1280x720, the RGB frame vs the feature
  # map (target <= 2x) vs one query (target <= 1.5x); then training the
  # synthetic language scene (test cosine every 25 iterations with seconds).
  bench render-100k-720p-language render --kind language --count $nr2 --width 1280 --height 720 --repeat 20
  li=300; [ -n "${QUICK:-}" ] && li=30
  case "train-language-scene" in *"${ONLY:-}"*)
    if [ -d Scenes/language/features ]; then
      echo "== train-language-scene: splat train Scenes/language --method language --iterations $li --eval-every 25" >&2
      "$splat" train Scenes/language --method language --init Scenes/language/model --features Scenes/language/features \
        --iterations $li --eval-every 25 --out "$out/language" 2> "$out/train-language-scene.log" || echo "FAILED: train-language-scene" >&2
      cat "$out/language/metrics.json" 2>/dev/null || true
      bench render-language-scene-720p render --model "$out/language" --width 1280 --height 720 --repeat 20
      rm -rf "$out/language"
    fi ;;
  esac
  # 2D image Gaussians (GaussianImage's setting): 70k Gaussians at 768x512,
  # rendering FPS against the Swift twin and fitting iterations/s.
  ng=70000; [ -n "${QUICK:-}" ] && ng=2000
  bench image-70k-768x512 image --gaussians $ng --width 768 --height 512 --repeat 20 --steps 50
  # Hash-grid NeRF network: encoding + MLPs forward and backward on 2^18 samples.
  nb=262144; [ -n "${QUICK:-}" ] && nb=4096
  bench nerf-network nerf --batch $nb --runs 10
  # Training: the project's toy scene, and the beer scene at full resolution
  # (the issue's GPU target) when it is there (BEER=path, else ../shared or shared/).
  ti=300; [ -n "${QUICK:-}" ] && ti=20
  bench train-toy train --scene Scenes/toy --iterations $ti
  beer="${BEER:-}"
  for candidate in ../shared/scenes/beer shared/scenes/beer; do
    if [ -z "$beer" ] && [ -d "$candidate" ]; then beer=$candidate; fi
  done
  if [ -n "$beer" ]; then
    bench train-beer-full train --scene "$beer" --iterations $ti
    bench train-beer-4 train --scene "$beer" --downscale 4 --iterations $ti
    # The default recipe (resolution schedule, MCMC budget) at full
    # resolution, 30000 iterations: test PSNR every 1000 (metrics.json
    # history: rising or flat after 2000?) and the wall time (target 90 s).
    bi=30000; [ -n "${QUICK:-}" ] && bi=500
    case "train-beer-recipe" in *"${ONLY:-}"*)
      echo "== train-beer-recipe: splat train $beer --eval --iterations $bi" >&2
      /usr/bin/time -v "$splat" train "$beer" --eval --iterations $bi --out "$out/beer-recipe" 2> "$out/train-beer-recipe.log" \
        || echo "FAILED: train-beer-recipe" >&2
      cat "$out/beer-recipe/metrics.json" 2>/dev/null || true
      rm -rf "$out/beer-recipe/checkpoint" "$out/beer-recipe/point_cloud.ply" ;;
    esac
  fi
  # 4D Gaussians on D-NeRF's jumpingjacks (JJ=path, else ../shared or
  # shared/): one 5-minute run at full resolution (800x800, black), test
  # PSNR every 1000 iterations with the seconds it was reached (metrics.json
  # history: read off 1, 2 and 5 minutes), then rendering FPS of the model
  # at 800x800 and time 0.5.
  jj="${JJ:-}"
  for candidate in ../shared/scenes/dnerf/jumpingjacks shared/scenes/dnerf/jumpingjacks .gpu/jumpingjacks; do
    if [ -z "$jj" ] && [ -d "$candidate" ]; then jj=$candidate; fi
  done
  if [ -n "$jj" ]; then
    js=300; [ -n "${QUICK:-}" ] && js=20
    case "train-jumpingjacks-4d" in *"${ONLY:-}"*)
      echo "== train-jumpingjacks-4d: splat train $jj --background black --max-seconds $js --iterations 30000" >&2
      /usr/bin/time -v "$splat" train "$jj" --background black --max-seconds $js --iterations 30000 --eval-every 1000 \
        --out "$out/jj-4d" 2> "$out/train-jumpingjacks-4d.log" || echo "FAILED: train-jumpingjacks-4d" >&2
      cat "$out/jj-4d/metrics.json" 2>/dev/null || true
      bench render-jumpingjacks-4d-800 render --model "$out/jj-4d" --time 0.5 --width 800 --height 800 --repeat 20 --skip-baseline
      rm -rf "$out/jj-4d/checkpoint" "$out/jj-4d/point_cloud.ply" ;;
    esac
  fi
  # NeRF on the fox (FOX=path, else ../shared or shared/; copy it into .gpu/ to
  # carry it): test PSNR after 5, 15 and 60 s of training at full resolution
  # (the issue's GPU target), then rendering rays/s of a 1280x720 frame of the
  # 60 s model against the Swift twin.
  fox="${FOX:-}"
  for candidate in ../shared/scenes/fox shared/scenes/fox .gpu/fox; do
    if [ -z "$fox" ] && [ -d "$candidate" ]; then fox=$candidate; fi
  done
  if [ -n "$fox" ]; then
    # FOX_DOWNSCALE=2: the fields issue's setting (the fox at --downscale 2).
    fd="${FOX_DOWNSCALE:-1}"
    for s in 5 15 60; do
      case "nerf-fox-${s}s" in *"${ONLY:-}"*) ;; *) continue ;; esac
      [ -n "${QUICK:-}" ] && [ "$s" != 5 ] && continue
      echo "== nerf-fox-${s}s: splat train $fox --method nerf --eval --downscale $fd --max-seconds $s" >&2
      "$splat" train "$fox" --method nerf --eval --downscale "$fd" --max-seconds "$s" --out "$out/fox-nerf-${s}s" 2> "$out/nerf-fox-${s}s.log" || echo "FAILED: nerf-fox-${s}s" >&2
      cat "$out/fox-nerf-${s}s/metrics.json" 2>/dev/null || true
      if [ "$s" = 60 ] || [ -n "${QUICK:-}" ]; then
        bench nerf-render nerf --batch 16384 --runs 5 --render-model "$out/fox-nerf-${s}s" --width 1280 --height 720
      fi
      # The models (50-150 MB) stay there.
      rm -f "$out/fox-nerf-${s}s/model.nerf" "$out/fox-nerf-${s}s/checkpoint/model.nerf"
    done
  fi
  # NeuS on DTU scan 24 (DTU=path, else ../shared, shared/ or .gpu/dtu_scan24):
  # time to a clean mesh: training bounded at 60, 120 and 300 s (masked test
  # PSNR in metrics.json), each meshed at 512^3 (vertex count; the mesh is
  # kept for a picture).
  dtu="${DTU:-}"
  for candidate in ../shared/scenes/dtu_scan24 shared/scenes/dtu_scan24 .gpu/dtu_scan24; do
    if [ -z "$dtu" ] && [ -d "$candidate" ]; then dtu=$candidate; fi
  done
  if [ -n "$dtu" ]; then
    for s in 60 120 300; do
      case "neus-dtu-${s}s" in *"${ONLY:-}"*) ;; *) continue ;; esac
      [ -n "${QUICK:-}" ] && [ "$s" != 60 ] && continue
      echo "== neus-dtu-${s}s: splat train $dtu --method neus --eval --max-seconds $s" >&2
      "$splat" train "$dtu" --method neus --eval --max-seconds "$s" --out "$out/neus-dtu-${s}s" 2> "$out/neus-dtu-${s}s.log" || echo "FAILED: neus-dtu-${s}s" >&2
      cat "$out/neus-dtu-${s}s/metrics.json" 2>/dev/null || true
      "$splat" mesh "$out/neus-dtu-${s}s" --resolution 512 --out "$out/neus-dtu-${s}s/mesh.ply" 2>> "$out/neus-dtu-${s}s.log" || echo "FAILED: mesh neus-dtu-${s}s" >&2
      tail -1 "$out/neus-dtu-${s}s.log"
      rm -f "$out/neus-dtu-${s}s/model.nerf" "$out/neus-dtu-${s}s/checkpoint/model.nerf"
    done
  fi
  ;;
*)
  sed -n '2,14p' "$0"; exit 2 ;;
esac
