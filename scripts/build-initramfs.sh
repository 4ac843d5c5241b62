#!/usr/bin/env bash
# Build a small busybox initramfs (cpio newc, gzip) for test guests and for the KVM lab's L1.
#
#   scripts/build-initramfs.sh --out FILE --init-snippet FILE_OR_STRING
#                              [--modules-from DIR --modules "a b c"] [--add SRC:DEST ...]
#
#   --out FILE             the .cpio.gz to write (written to a temporary file, then renamed)
#   --init-snippet X       shell code run by /init after the mounts and module loads; X is a file if one
#                          exists at that path, else the code itself. When it returns, /init powers off.
#   --modules-from DIR     a lib/modules/<release> directory (e.g. .cache/kernels/generic/modules)
#   --modules "a b c"      modules to load at boot; their dependencies are added and loaded first
#   --add SRC:DEST         copy the file or directory SRC to DEST inside the initramfs (repeatable)
#
# The busybox is Debian's busybox-static. Debian's kernel .deb has no modules.dep, so dependencies come from
# each module's own `depends=` field (modinfo), and compressed modules (.ko.xz/.ko.zst/.ko.gz) are decompressed
# here, because busybox insmod takes plain ELF modules.
set -euo pipefail

die() { printf 'build-initramfs: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

out="" snippet="" modules_from="" module_list=""
adds=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --init-snippet) snippet="${2?--init-snippet needs a file or a string}"; shift 2 ;;
    --modules-from) modules_from="${2:?--modules-from needs a directory}"; shift 2 ;;
    --modules) module_list="${2?--modules needs a list}"; shift 2 ;;
    --add) adds+=("${2:?--add needs SRC:DEST}"); shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$out" ]] || die "--out FILE is required"
[[ -n "$module_list" && -z "$modules_from" ]] && die "--modules needs --modules-from DIR"
[[ -z "$modules_from" || -d "$modules_from" ]] || die "--modules-from: no such directory: $modules_from"

BUSYBOX="${BUSYBOX:-/bin/busybox}"
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found: install Debian's busybox-static (scripts/setup.sh does)"
file_type="$(od -An -t x1 -N 4 "$BUSYBOX" | tr -d ' \n')"
[[ "$file_type" == "7f454c46" ]] || die "$BUSYBOX is not an ELF binary"
command -v cpio >/dev/null || die "cpio is required"

staging="$(mktemp -d "${TMPDIR:-/tmp}/initramfs.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc,lib/modules,mnt,root}
chmod 1777 "$staging/tmp"

# busybox and its applet links. `busybox --list-full` includes bin/busybox itself: linking it onto itself
# would replace the binary with a self-referencing symlink (ELOOP at init).
cp "$BUSYBOX" "$staging/bin/busybox"
# One process makes all ~400 links (a fork per link costs seconds on a busy machine).
"$BUSYBOX" --list-full | STAGING="$staging" perl -ne '
  chomp;
  next if $_ eq "" || m{(^|/)busybox$} || -e "$ENV{STAGING}/$_";
  symlink("/bin/busybox", "$ENV{STAGING}/$_") or die "build-initramfs: error: cannot link $_: $!\n";'


# The kernel opens /dev/console for init before any devtmpfs is mounted.
mknod -m 600 "$staging/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$staging/dev/null" c 1 3 2>/dev/null || true

# --- modules: resolve names to files, add dependencies, order dependencies first ---------------------------
declare -A module_path=() module_state=()
load_order=()

if [[ -n "$modules_from" ]]; then
  while IFS= read -r -d '' file; do
    base="${file##*/}"
    base="${base%%.ko*}"
    module_path["${base//-/_}"]="$file"
  done < <(find "$modules_from" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0)
fi

is_builtin() {
  local name="$1" builtin="$modules_from/modules.builtin"
  [[ -f "$builtin" ]] || return 1
  sed 's#.*/##; s#\.ko$##; s#-#_#g' "$builtin" | grep -qx "$name"
}

# Copy (decompressing) module NAME into the staging tree as lib/modules/NAME.ko.
stage_module() {
  local name="$1" src="${module_path[$1]}" dest="$staging/lib/modules/$1.ko"
  case "$src" in
    *.ko.xz) xz -dc "$src" >"$dest" ;;
    *.ko.zst) zstd -dcq "$src" >"$dest" ;;
    *.ko.gz) gzip -dc "$src" >"$dest" ;;
    *) cp "$src" "$dest" ;;
  esac
}

# Depth-first: a module is appended after everything it depends on. `visiting` catches dependency cycles.
add_module() {
  local name="${1//-/_}"
  case "${module_state[$name]:-}" in
    done) return 0 ;;
    visiting) die "module dependency cycle through $name" ;;
  esac
  if [[ -z "${module_path[$name]:-}" ]]; then
    if is_builtin "$name"; then module_state["$name"]=done; return 0; fi
    die "module '$name' not found under $modules_from (and not built in)"
  fi
  module_state["$name"]=visiting
  stage_module "$name"
  local deps dep
  deps="$(modinfo -F depends "$staging/lib/modules/$name.ko" 2>/dev/null)" ||
    die "cannot read the modinfo of $name (${module_path[$name]})"
  for dep in ${deps//,/ }; do add_module "$dep"; done
  module_state["$name"]=done
  load_order+=("$name")
}

for module in $module_list; do add_module "$module"; done
printf '%s\n' "${load_order[@]}" | sed '/^$/d' >"$staging/etc/initramfs-modules"

# --- extra files ---------------------------------------------------------------------------------------------
for spec in "${adds[@]}"; do
  [[ "$spec" == *:* ]] || die "--add '$spec' is not SRC:DEST"
  src="${spec%:*}" dest="${spec##*:}"
  [[ -e "$src" ]] || die "--add: no such file or directory: $src"
  [[ "$dest" == /* ]] || die "--add: DEST must be absolute inside the initramfs: $dest"
  mkdir -p "$staging$(dirname "$dest")"
  if [[ -d "$src" ]]; then cp -aL "$src" "$staging$dest"; else cp -L "$src" "$staging$dest"; fi
done

# --- /init --------------------------------------------------------------------------------------------------
if [[ -f "$snippet" ]]; then cp "$snippet" "$staging/init-snippet.sh"; else printf '%s\n' "$snippet" >"$staging/init-snippet.sh"; fi

cat >"$staging/init" <<'INIT'
#!/bin/sh
# /init, generated by scripts/build-initramfs.sh: mounts, module loads, then the snippet, then power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs tmpfs /dev
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
INITRAMFS_MODULE_FAILURES=""
while read -r module; do
  [ -n "$module" ] || continue
  if ! insmod "/lib/modules/$module.ko"; then
    echo "initramfs: error: insmod $module failed"
    INITRAMFS_MODULE_FAILURES="$INITRAMFS_MODULE_FAILURES $module"
  fi
done < /etc/initramfs-modules
export INITRAMFS_MODULE_FAILURES
. /init-snippet.sh
sync
poweroff -f
INIT
chmod 0755 "$staging/init" "$staging/init-snippet.sh"

# --- archive ------------------------------------------------------------------------------------------------
mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
(cd "$staging" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -6 -n >"$tmp_out"
mv "$tmp_out" "$out"
printf 'build-initramfs: %s (%s modules: %s)\n' "$out" "${#load_order[@]}" "${load_order[*]}" >&2
