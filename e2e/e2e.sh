#!/usr/bin/env bash
# End-to-end test of the packaged extension in a real VS Code (code-server 4.99.4 = VS Code 1.99.3),
# driven by playwright-core + Debian chromium, headless, offline. `npm run test:e2e` runs it.
#   1. npm run package (unless E2E_VSIX names a .vsix), install the .vsix into a private extensions dir;
#   2. a workspace with the repository's configs, the Fashion-MNIST subset and two test configs;
#   3. code-server in its own process group, drive.mjs drives it; screenshots and logs in $OUT.
# Needs `bash e2e/setup.sh` once (apt: chromium ripgrep libkrb5-dev; npm ci in e2e/).
set -euo pipefail
E=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$E/.." && pwd)
OUT=${OUT:-$E/out}
PORT=${PORT:-18080}
STATE="$OUT/state"
CS="$E/node_modules/.bin/code-server"
[ -x "$CS" ] || { echo "code-server is missing: run bash e2e/setup.sh first" >&2; exit 2; }
T_START=$(date +%s)
rm -rf "$OUT"
mkdir -p "$STATE/home" "$STATE/user-data/User" "$STATE/extensions" "$OUT/ws"
export HOME="$STATE/home" XDG_CONFIG_HOME="$STATE/home/.config" XDG_DATA_HOME="$STATE/home/.local/share" XDG_CACHE_HOME="$STATE/home/.cache"

# 1. Package and install.
VSIX=${E2E_VSIX:-}
if [ -z "$VSIX" ]; then
  VSIX="$OUT/mmcls.vsix"
  (cd "$ROOT" && node scripts/package-vsix.mjs --out "$VSIX" > "$OUT/package.log" 2>&1) || { cat "$OUT/package.log"; exit 1; }
  tail -1 "$OUT/package.log"
fi
"$CS" --user-data-dir "$STATE/user-data" --extensions-dir "$STATE/extensions" --install-extension "$VSIX" | tail -1

# 2. The workspace: a user's checkout with configs and data, plus the test's own configs.
# Only the configs the run uses (LeNet-5 and the shared bases): with all 538 configs, the server's
# indexing and the explorer's long tree made the train and classify steps time out now and then.
mkdir -p "$OUT/ws/configs"
cp -r "$ROOT/configs/_base_" "$ROOT/configs/lenet" "$OUT/ws/configs/"
mkdir -p "$OUT/ws/data" "$OUT/ws/configs/e2e"
cp -r "$ROOT/data/fashion-mnist-mini" "$OUT/ws/data/"
cat > "$OUT/ws/configs/e2e/tiny_lenet.py" <<'PY'
# A tiny run for the end-to-end test: LeNet-5, 96 Fashion-MNIST images, one epoch.
_base_ = '../lenet/lenet5_fashion-mnist-mini.py'

train_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(indices=96))
val_dataloader = dict(batch_size=64, num_workers=0, dataset=dict(indices=64))
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(max_epochs=1)
PY
# The first Fashion-MNIST-mini test image (an ankle boot) as a PNG, for "Classify image".
node -e '
const zlib = require("zlib"), fs = require("fs");
const px = zlib.gunzipSync(fs.readFileSync(process.argv[1])).subarray(16, 16 + 784);
const crc = (b) => { let c = ~0; for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); } return ~c >>> 0; };
const chunk = (t, d) => { const l = Buffer.alloc(4); l.writeUInt32BE(d.length); const td = Buffer.concat([Buffer.from(t), d]); const c = Buffer.alloc(4); c.writeUInt32BE(crc(td)); return Buffer.concat([l, td, c]); };
const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(28, 0); ihdr.writeUInt32BE(28, 4); ihdr[8] = 8; ihdr[9] = 0;
const raw = Buffer.concat([...Array(28).keys()].map((y) => Buffer.concat([Buffer.from([0]), px.subarray(y * 28, y * 28 + 28)])));
fs.writeFileSync(process.argv[2], Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]));
' "$ROOT/data/fashion-mnist-mini/t10k-images-idx3-ubyte.gz" "$OUT/ws/ankle_boot.png"
# The same run on webgpu (E2E_WEBGPU=1: the mmcls.device setting switches to webgpu for it).
cat > "$OUT/ws/configs/e2e/webgpu_run.py" <<'PY'
_base_ = './tiny_lenet.py'
PY
cat > "$OUT/ws/configs/e2e/broken.py" <<'PY'
_base_ = '../lenet/lenet5_fashion-mnist-mini.py'

model = dict(backbone=dict(type='LeNet55'))
PY
cat > "$STATE/user-data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "chat.commandCenter.enabled": false,
  "editor.acceptSuggestionOnEnter": "off",
  "editor.autoClosingQuotes": "never",
  "editor.autoClosingBrackets": "never",
  "security.workspace.trust.enabled": false,
  "git.openRepositoryInParentFolders": "never"
}
JSON

# 3. code-server in its own process group, always stopped on exit.
stop() {
  local pid; pid=$(cat "$STATE/cs.pid" 2>/dev/null) || return 0
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 1 75); do kill -0 -- "-$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}
trap stop EXIT
export T0_MS=$(date +%s%3N)
setsid "$CS" --auth none --bind-addr "127.0.0.1:$PORT" \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  --user-data-dir "$STATE/user-data" --extensions-dir "$STATE/extensions" \
  "$OUT/ws" > "$OUT/code-server.log" 2>&1 &
echo $! > "$STATE/cs.pid"
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$STATE/cs.pid")" 2>/dev/null || { cat "$OUT/code-server.log"; exit 1; }
  sleep 0.2
done
echo "code-server healthy after $(( $(date +%s%3N) - T0_MS )) ms"

rc=0
CS_URL="http://127.0.0.1:$PORT" WS="$OUT/ws" OUT="$OUT" SETTINGS_FILE="$STATE/user-data/User/settings.json" node "$E/drive.mjs" || rc=$?
# The extension host's log (language server and extension output) for post-mortems.
find "$STATE/user-data/logs" -name '*MMClassification*' -exec cp {} "$OUT/" \; 2>/dev/null || true
echo "e2e total: $(( $(date +%s) - T_START )) s"
exit $rc
