#!/usr/bin/env bash
# Fetch Debian's kernels for guests and for the KVM lab, unpacked at stable paths.
#
#   scripts/fetch-kernels.sh [DEST]        (default: <repo>/.cache/kernels)
#
# For each flavour (cloud = linux-image-cloud-amd64, generic = linux-image-amd64):
#   DEST/<flavour>/vmlinuz     the bzImage
#   DEST/<flavour>/modules/    lib/modules/<release> from the package
#   DEST/<flavour>/version     the kernel release, e.g. 6.1.0-56-cloud-amd64
#   DEST/<flavour>/package     "<package>=<version> layout=N": the cache key; a re-run with the same key does nothing
#   DEST/<flavour>/vmlinux     the uncompressed ELF kernel (VMM ELF-loader tests; PVH boot of the lab's L1)
#   DEST/<flavour>/config      the kernel's .config
#
# The metapackage is resolved to the real linux-image-6.x-... package (and version) it depends on.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
DEST="${1:-$REPO_DIR/.cache/kernels}"
case "$DEST" in /*) ;; *) DEST="$REPO_DIR/$DEST" ;; esac

# Bump when the unpacked layout changes, so that existing caches are rebuilt.
readonly CACHE_LAYOUT=2

log() { printf 'fetch-kernels: %s\n' "$*" >&2; }
die() { printf 'fetch-kernels: error: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || die "'$tool' not found: this script needs a Debian host"
done

# Print "<metapackage> <image package> <version>" for each metapackage, from one apt-cache call (each call takes
# seconds on a busy machine). The metapackage depends on exactly one version of the real image package.
resolve_image_packages() {
  apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
    /^Package:/ { meta = $2 }
    /^Depends:/ {
      sub(/^Depends: */, "")
      count = split($0, deps, / *, */)
      for (i = 1; i <= count; i++) {
        if (deps[i] ~ /^linux-image-[0-9][^ ]* \(= [^)]+\)$/) {
          split(deps[i], parts, /[ ()=]+/)
          print meta, parts[1], parts[2]
        }
      }
    }'
}

fetch_flavour() {
  local flavour="$1" meta="$2" package="$3" version="$4"
  local out="$DEST/$flavour" key
  [[ -n "$package" && -n "$version" ]] || die "cannot resolve $meta to a linux-image package (apt-cache show $meta)"
  key="$package=$version layout=$CACHE_LAYOUT"

  if [[ -f "$out/package" && "$(cat "$out/package")" == "$key" && -f "$out/vmlinuz" && -d "$out/modules" ]]; then
    log "$flavour: $key already unpacked in $out"
    return 0
  fi

  log "$flavour: downloading $key"
  local work
  work="$(mktemp -d "$DEST/.work-$flavour.XXXXXX")"
  # apt-get download writes into the current directory; the _apt user must be able to write there.
  chmod 0777 "$work"
  (cd "$work" && apt-get download -qq "$package=$version" >&2) ||
    { rm -rf "$work"; die "apt-get download $package=$version failed"; }
  local deb
  deb="$(find "$work" -maxdepth 1 -name '*.deb' | head -n1)"
  [[ -n "$deb" ]] || { rm -rf "$work"; die "apt-get download $key produced no .deb"; }
  dpkg-deb -x "$deb" "$work/root"

  local release
  release="$(basename "$(find "$work/root/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")"
  [[ -n "$release" && -f "$work/root/boot/vmlinuz-$release" ]] || {
    rm -rf "$work"; die "$deb has no boot/vmlinuz-<release> with matching lib/modules/<release>"; }

  local staged="$work/staged"
  mkdir -p "$staged"
  mv "$work/root/boot/vmlinuz-$release" "$staged/vmlinuz"
  [[ -f "$work/root/boot/config-$release" ]] && mv "$work/root/boot/config-$release" "$staged/config"
  [[ -f "$work/root/boot/System.map-$release" ]] && mv "$work/root/boot/System.map-$release" "$staged/System.map"
  # modules.dep etc., so that modprobe works where this tree is mounted as /lib/modules/<release> (the lab's L1).
  depmod -b "$work/root" "$release" || { rm -rf "$work"; die "depmod failed for $release"; }
  mv "$work/root/lib/modules/$release" "$staged/modules"
  printf '%s\n' "$release" >"$staged/version"
  printf '%s\n' "$key" >"$staged/package"

  # Swap the finished directory in whole, so an interrupted run never leaves a half-filled cache.
  rm -rf "$out.old"
  [[ -d "$out" ]] && mv "$out" "$out.old"
  mv "$staged" "$out"
  rm -rf "$out.old" "$work"
  log "$flavour: $release -> $out"
}

mkdir -p "$DEST"
# One fetch at a time per cache: tests running in parallel may all call this.
exec 9>"$DEST/.lock"
flock 9
METAPACKAGES=(linux-image-cloud-amd64 linux-image-amd64)
resolved="$(resolve_image_packages "${METAPACKAGES[@]}")"
if [[ "$(wc -l <<<"$resolved")" -lt ${#METAPACKAGES[@]} ]]; then
  log "apt lists do not know ${METAPACKAGES[*]}: running apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed"
  resolved="$(resolve_image_packages "${METAPACKAGES[@]}")"
fi
image_package_of() { awk -v meta="$1" '$1 == meta { print $2 " " $3; exit }' <<<"$resolved"; }
# shellcheck disable=SC2046 # word splitting of "package version" is intended
fetch_flavour cloud linux-image-cloud-amd64 $(image_package_of linux-image-cloud-amd64)
# shellcheck disable=SC2046
fetch_flavour generic linux-image-amd64 $(image_package_of linux-image-amd64)

# The ELF vmlinux follows the bzImage: rebuilt when missing or older than the bzImage. The cloud one tests the
# VMM's ELF loader; the generic one boots the KVM lab's L1 through PVH, which skips the in-guest decompression
# (about 4 s under TCG).
for flavour in cloud generic; do
  if [[ ! -s "$DEST/$flavour/vmlinux" || "$DEST/$flavour/vmlinuz" -nt "$DEST/$flavour/vmlinux" ]]; then
    log "$flavour: extracting ELF vmlinux"
    "$SCRIPT_DIR/extract-vmlinux.sh" "$DEST/$flavour/vmlinuz" "$DEST/$flavour/vmlinux.tmp"
    mv "$DEST/$flavour/vmlinux.tmp" "$DEST/$flavour/vmlinux"
  fi
done

printf '%s\n' "$DEST"
