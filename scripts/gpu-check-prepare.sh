#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a machine with an NVIDIA GPU, no network and no
# Node.js. Run here, after `npm install` (which brings the optional `webgpu` package):
#   .tmp/node-v20-linux-x64.tar.xz      this machine's node binary, compressed
#   .tmp/gpu-check/webgpu-check.js      scripts/webgpu-check.ts bundled with the runtime (esbuild)
#   .tmp/gpu-check/test-reference.js    scripts/test-reference.ts bundled (reference parity on webgpu)
#   .tmp/gpu-check/node_modules/webgpu  Dawn for linux-x64 only (the one native dependency)
#   .tmp/gpu-check/libvulkan1_*.deb     Debian's Vulkan loader, used there if ldconfig has none
# .tmp/ is ignored by git: carry `.tmp` with the working tree (about 40 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
D=.tmp/gpu-check
rm -rf "$D"
mkdir -p "$D/node_modules/webgpu/dist"

node_bin=$(readlink -f "$(command -v node)")
case "$(node -v)" in v20.*|v22.*|v24.*) ;; *) echo "gpu-check-prepare: node $(node -v) is not Node.js >= 20" >&2; exit 1 ;; esac
if [ ! -f .tmp/node-v20-linux-x64.tar.xz ] || [ "$node_bin" -nt .tmp/node-v20-linux-x64.tar.xz ]; then
  tar -C "$(dirname "$node_bin")" -cf - "$(basename "$node_bin")" | xz -T2 -6 > .tmp/node-v20-linux-x64.tar.xz.part
  mv .tmp/node-v20-linux-x64.tar.xz.part .tmp/node-v20-linux-x64.tar.xz
fi

npx esbuild scripts/webgpu-check.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:webgpu --external:sharp --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --ignore-annotations --log-level=error --outfile="$D/webgpu-check.js"

npx esbuild scripts/test-reference.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:webgpu --external:sharp --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --ignore-annotations --log-level=error --outfile="$D/test-reference.js"

cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$D/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$D/node_modules/webgpu/dist/"

if command -v apt-get >/dev/null; then
  (cd "$D" && apt-get download libvulkan1 >/dev/null 2>&1) || echo "gpu-check-prepare: apt-get download libvulkan1 failed; the GPU machine must have its own libvulkan.so.1" >&2
fi
du -sh .tmp/node-v20-linux-x64.tar.xz "$D"
