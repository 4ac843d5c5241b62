#!/usr/bin/env bash
# Sets up typevisor on a fresh Debian machine (run as root from the repository):
# Debian packages, npm packages, the native addon, the TypeScript build, the web
# UI bundle, and the guest artifacts (Debian kernels, busybox initramfs) the
# demo VM and the tests use. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages typevisor and its tests use. Engineers: add names here.
DEBIAN_PACKAGES=(
  build-essential python3 linux-libc-dev pkg-config
  qemu-system-x86 qemu-utils
  busybox-static cpio xz-utils zstd kmod
  dnsmasq-base iproute2 iptables bridge-utils
  e2fsprogs dosfstools mtools xorriso debootstrap mmdebstrap
  acpica-tools openssl iperf3 openssh-client
  chromium fonts-dejavu-core
)

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock || true)" ] || ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --foreground-scripts
fi
# better-sqlite3 and our addon are native: make sure both really load.
node -e "require('better-sqlite3')(':memory:').close()" 2>/dev/null || npm rebuild better-sqlite3
if [ ! -f native/build/Release/typevisor_native.node ] || [ native/typevisor_native.c -nt native/build/Release/typevisor_native.node ]; then
  log "building the native addon"
  npx node-gyp rebuild --directory native >/dev/null
fi

log "compiling TypeScript"
npx tsc -p tsconfig.json
node scripts/bundle-vmm.mjs

if [ -f web/vite.config.ts ] || [ -f web/vite.config.js ]; then
  log "building the web UI"
  npx vite build web --logLevel warn
fi

log "fetching guest kernels and building initramfs images"
bash scripts/fetch-kernels.sh >/dev/null
if [ -f scripts/prepare-artifacts.mjs ]; then node scripts/prepare-artifacts.mjs; fi
log "ready"
