#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and no network (prepared with
# scripts/gpu-check-prepare.sh; PyTorch is expected there): prints the GPU and the WebGPU
# adapter, runs the webgpu parity checks against cpu, then measures training images/s
# (ResNet_CIFAR-18, 32x32, batch 128) and inference images/s (ResNet-50, 224x224, batch 32) on
# webgpu, the same with PyTorch (CUDA, fp32: TF32 off) in the same run, and prints the ratios.
#
# Environment (defaults in brackets): TRAIN_BATCH [128] TRAIN_SIZE [32] TRAIN_ITERS [20]
# INFER_BATCH [32] INFER_SIZE [224] INFER_ITERS [10] WARMUP [3] SKIP_PARITY [0]
# TORCH_DEVICE [cuda, else cpu when no CUDA]. A dry run on a CPU-only machine with lavapipe:
#   TRAIN_BATCH=2 TRAIN_ITERS=1 INFER_BATCH=1 INFER_ITERS=1 WARMUP=1 bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
D=$ROOT/.tmp/gpu-check
TRAIN_BATCH=${TRAIN_BATCH:-128} TRAIN_SIZE=${TRAIN_SIZE:-32} TRAIN_ITERS=${TRAIN_ITERS:-20}
INFER_BATCH=${INFER_BATCH:-32} INFER_SIZE=${INFER_SIZE:-224} INFER_ITERS=${INFER_ITERS:-10} WARMUP=${WARMUP:-3}
t_start=$(date +%s)

if [ ! -f "$D/webgpu-check.js" ]; then
  echo "gpu-check: $D/webgpu-check.js is missing: run scripts/gpu-check-prepare.sh first (on a machine with Node.js)" >&2
  exit 2
fi

# Node.js: the carried binary, else one on PATH.
if [ -f "$ROOT/.tmp/node-v20-linux-x64.tar.xz" ]; then
  mkdir -p "$D/node"
  [ -x "$D/node/node" ] || tar -xJf "$ROOT/.tmp/node-v20-linux-x64.tar.xz" -C "$D/node" || exit 2
  NODE=$D/node/node
elif command -v node >/dev/null; then
  NODE=$(command -v node)
else
  echo "gpu-check: no Node.js: .tmp/node-v20-linux-x64.tar.xz is missing (scripts/gpu-check-prepare.sh makes it)" >&2
  exit 2
fi

# Vulkan: the loader (libvulkan1) if the system has none, and the NVIDIA driver's ICD.
if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; then
  deb=$(ls "$D"/libvulkan1_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    rm -rf "$D/vk" && mkdir -p "$D/vk" && dpkg-deb -x "$deb" "$D/vk"
    export LD_LIBRARY_PATH="$D/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "vulkan loader: carried $(basename "$deb")"
  else
    echo "gpu-check: no libvulkan.so.1 on this machine and none carried" >&2
  fi
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES=$f; break; fi
  done
  if [ -z "${VK_DRIVER_FILES:-}" ] && ldconfig -p 2>/dev/null | grep 'libGLX_nvidia\.so\.0' >/dev/null; then
    # The driver's Vulkan entry points live in libGLX_nvidia; its manifest is sometimes not mounted.
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' > "$D/nvidia_icd.json"
    export VK_DRIVER_FILES=$D/nvidia_icd.json
  fi
fi
echo "vulkan driver manifest: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-(system default)}}"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
echo "node: $("$NODE" -v)"

echo "== webgpu (mmcls)"
args=(--train-batch "$TRAIN_BATCH" --train-size "$TRAIN_SIZE" --train-iters "$TRAIN_ITERS" --infer-batch "$INFER_BATCH" --infer-size "$INFER_SIZE" --infer-iters "$INFER_ITERS" --warmup "$WARMUP")
[ "${SKIP_PARITY:-0}" = 1 ] && args+=(--skip-parity)
"$NODE" "$D/webgpu-check.js" "${args[@]}" 2>&1 | grep -v 'artificially reduced' | tee "$D/webgpu.log"
webgpu_rc=${PIPESTATUS[0]}

# Reference parity (the real MMClassification measurements) on the GPU, where the data is here:
# $MMCLS_REFERENCE_DIR, else ../shared/reference/models beside the repository.
REF=${MMCLS_REFERENCE_DIR:-$ROOT/../shared/reference/models}
if [ -f "$D/test-reference.js" ] && [ -d "$REF" ]; then
  echo "== reference parity on webgpu ($REF)"
  MMCLS_REFERENCE_DIR=$REF "$NODE" "$D/test-reference.js" --device webgpu 2>&1 | grep -v 'artificially reduced' | tee "$D/reference.log"
else
  echo "== reference parity on webgpu: skipped (no reference data at $REF; set MMCLS_REFERENCE_DIR)" | tee "$D/reference.log"
fi

echo "== PyTorch"
TRAIN_BATCH=$TRAIN_BATCH TRAIN_SIZE=$TRAIN_SIZE TRAIN_ITERS=$TRAIN_ITERS INFER_BATCH=$INFER_BATCH INFER_SIZE=$INFER_SIZE \
INFER_ITERS=$INFER_ITERS WARMUP=$WARMUP python3 - <<'PY' 2>&1 | tee "$D/torch.log"
import json, os, time
E = lambda k: int(os.environ[k])
try:
    import torch, torch.nn as nn, torch.nn.functional as F
except Exception as e:
    print(f"PyTorch not available ({e}): PyTorch half skipped"); raise SystemExit(0)
dev = os.environ.get('TORCH_DEVICE') or ('cuda' if torch.cuda.is_available() else 'cpu')
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = False  # fp32 like WebGPU
torch.backends.cudnn.allow_tf32 = False
try:
    import torchvision
except Exception as e:
    print(f"torchvision not available ({e}): PyTorch half skipped"); raise SystemExit(0)
def sync():
    if dev == 'cuda': torch.cuda.synchronize()
def cifar18():
    m = torchvision.models.resnet18(num_classes=10)  # MMCls ResNet_CIFAR: 3x3 stem, no max-pool
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity(); return m
tb, ts = E('TRAIN_BATCH'), E('TRAIN_SIZE')
m = cifar18().to(dev).train(); opt = torch.optim.SGD(m.parameters(), lr=0.01)
x = torch.randn(tb, 3, ts, ts, device=dev); y = torch.randint(0, 10, (tb,), device=dev)
def step():
    opt.zero_grad(set_to_none=True); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step(); return loss.item()
for _ in range(E('WARMUP')): step()
sync(); t0 = time.perf_counter()
for _ in range(E('TRAIN_ITERS')): step()
sync(); train = tb * E('TRAIN_ITERS') / (time.perf_counter() - t0)
print(f"train ResNet_CIFAR-18 {ts}x{ts} batch {tb}: {train:.1f} images/s ({dev}, torch {torch.__version__})")
ib, isz = E('INFER_BATCH'), E('INFER_SIZE')
m = torchvision.models.resnet50().to(dev).eval(); x = torch.randn(ib, 3, isz, isz, device=dev)
with torch.no_grad():
    for _ in range(E('WARMUP')): m(x).sum().item()
    sync(); t0 = time.perf_counter()
    for _ in range(E('INFER_ITERS')): m(x).sum().item()
    sync(); infer = ib * E('INFER_ITERS') / (time.perf_counter() - t0)
print(f"infer ResNet-50 {isz}x{isz} batch {ib}: {infer:.1f} images/s ({dev})")
print("RESULT " + json.dumps({"device": dev, "torch": torch.__version__, "train_images_per_s": train, "infer_images_per_s": infer}))
PY

echo "== summary"
python3 - "$D/webgpu.log" "$D/torch.log" <<'PY'
import json, sys
def result(path):
    for line in open(path, encoding='utf8', errors='replace'):
        if line.startswith('RESULT '): return json.loads(line[7:])
    return None
w, t = result(sys.argv[1]), result(sys.argv[2])
print(f"{'':34s} {'webgpu':>12s} {'pytorch':>12s} {'webgpu/pytorch':>15s}")
for key, name in (('train_images_per_s', 'train ResNet_CIFAR-18 (img/s)'), ('infer_images_per_s', 'infer ResNet-50 (img/s)')):
    a = w and w.get(key); b = t and t.get(key)
    ratio = f"{a / b:.3f}" if a and b else '-'
    print(f"{name:34s} {a if a is None else round(a, 1)!s:>12s} {b if b is None else round(b, 1)!s:>12s} {ratio:>15s}")
print(f"webgpu parity with cpu: {w.get('parity', 'skipped') if w else 'no result'}")
if w and w.get('adapter'): print(f"adapter: {w['adapter'].get('summary')}")
if t: print(f"pytorch: {t['torch']} on {t['device']}")
PY
grep -h '^reference parity' "$D/reference.log" | sed 's/^/webgpu /' || echo "webgpu reference parity: skipped"
echo "gpu-check: $(( $(date +%s) - t_start )) s"
exit "$webgpu_rc"
