#!/usr/bin/env bash
# Install what the offline VS Code end-to-end suite needs (Debian 12, Node 20, npm >= 10, as root,
# with only the npm registry and Debian's apt repositories reachable): code-server 4.99.4 (VS Code
# 1.99.3), @vscode/vsce, playwright-core and Debian's headless chromium. Kept in e2e/ with its own
# lockfile so that a plain `npm ci` of the project never builds code-server.
set -euo pipefail
R=$(cd "$(dirname "$0")" && pwd)
cd "$R"

# 1. Debian packages.
#    libkrb5-dev : headers for the native module `kerberos` (a hard dependency of code-server's VS Code)
#    ripgrep     : replaces the ripgrep binary that @vscode/ripgrep would download from GitHub
#    chromium    : the browser playwright-core drives (no browser download)
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s libkrb5-dev ripgrep chromium >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q libkrb5-dev ripgrep chromium
fi

# 2. @vscode/ripgrep's postinstall skips GitHub when it finds
#    "$TMPDIR/vscode-ripgrep-cache-<pkg version>/ripgrep-<rg version>-<target>.tar.gz": hand it Debian's rg.
RG_TMP="$R/.rg-tmp"
mkdir -p "$RG_TMP/vscode-ripgrep-cache-1.15.11"
tar czf "$RG_TMP/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C /usr/bin rg

# 3. code-server + vsce + playwright-core + node-gyp, pinned by package-lock.json.
#    npm_config_unsafe_perm: code-server's postinstall refuses to run as root without it.
#    node-gyp as a devDependency: node-pty's postinstall runs `npx node-gyp` and must not download it.
#    argon2 / kerberos fail to fetch prebuilt binaries (expected noise) and compile against /usr/include/node.
npm_config_unsafe_perm=true npm_config_nodedir=/usr TMPDIR="$RG_TMP" npm ci --no-audit --no-fund
test -x node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg
HOME="$RG_TMP" XDG_CONFIG_HOME="$RG_TMP/.config" XDG_DATA_HOME="$RG_TMP/.local" node_modules/.bin/code-server --version | tail -1
echo "e2e setup OK"
