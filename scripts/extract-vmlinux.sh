#!/usr/bin/env bash
# Extract the uncompressed ELF vmlinux from an x86 bzImage.
#
#   scripts/extract-vmlinux.sh BZIMAGE OUT
#
# The Linux x86 boot protocol (Documentation/arch/x86/boot.rst, protocol >= 2.08) says where the compressed
# kernel is: setup_sects (offset 0x1f1) gives the size of the real-mode part, and payload_offset (0x248) /
# payload_length (0x24c) locate the payload within the protected-mode part. The payload's magic tells the
# compressor (xz, zstd, gzip, lz4...); its last 4 bytes are the uncompressed size that the kernel build appends
# (scripts/Makefile.lib size_append), which the decompressors would reject as trailing garbage.
set -euo pipefail

die() { printf 'extract-vmlinux: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: extract-vmlinux.sh BZIMAGE OUT"
image="$1"
out="$2"
[[ -f "$image" ]] || die "no such file: $image"

# Boot protocol setup-header fields (offsets from the start of the image).
readonly OFFSET_SETUP_SECTS=0x1f1   # u8: number of 512-byte setup sectors (0 means 4)
readonly OFFSET_HEADER_MAGIC=0x202  # 4 bytes: "HdrS"
readonly OFFSET_VERSION=0x206       # u16: boot protocol version
readonly OFFSET_PAYLOAD_OFFSET=0x248 # u32: payload offset from the start of the protected-mode code
readonly OFFSET_PAYLOAD_LENGTH=0x24c # u32: payload length in bytes
readonly SECTOR_SIZE=512

read_uint() { # FILE OFFSET BYTES -> unsigned little-endian integer
  od -An -t "u$3" -j "$(($2))" -N "$3" --endian=little "$1" | tr -d ' '
}

[[ "$(dd if="$image" bs=1 skip=$((OFFSET_HEADER_MAGIC)) count=4 status=none)" == "HdrS" ]] ||
  die "$image is not a bzImage (no 'HdrS' boot protocol header at 0x202)"
version="$(read_uint "$image" $OFFSET_VERSION 2)"
((version >= 0x208)) || die "$image uses boot protocol $(printf '%#x' "$version"); payload fields need >= 0x208"

setup_sects="$(read_uint "$image" $OFFSET_SETUP_SECTS 1)"
((setup_sects == 0)) && setup_sects=4
payload_offset="$(read_uint "$image" $OFFSET_PAYLOAD_OFFSET 4)"
payload_length="$(read_uint "$image" $OFFSET_PAYLOAD_LENGTH 4)"
start=$(((setup_sects + 1) * SECTOR_SIZE + payload_offset))
image_size="$(stat -c %s "$image")"
((payload_length > 4 && start + payload_length <= image_size)) ||
  die "$image: payload [$start, +$payload_length) lies outside the $image_size-byte image"

magic="$(od -An -t x1 -j "$start" -N 6 "$image" | tr -d ' \n')"
case "$magic" in
  fd377a585a00*) decompress=(xz -dc --single-stream) ;;
  28b52ffd*) decompress=(zstd -dcq) ;;
  1f8b*) decompress=(gzip -dc) ;;
  02214c18*) decompress=(lz4 -dc) ;;
  *) die "$image: unknown payload compression (magic $magic at offset $start)" ;;
esac
command -v "${decompress[0]}" >/dev/null || die "${decompress[0]} is needed to decompress $image"

dd if="$image" iflag=skip_bytes,count_bytes skip="$start" count="$((payload_length - 4))" bs=1M status=none |
  "${decompress[@]}" >"$out" ||
  die "$image: ${decompress[0]} failed on the payload at offset $start"
[[ "$(od -An -t x1 -N 4 "$out" | tr -d ' \n')" == "7f454c46" ]] || { rm -f "$out"; die "$image: payload is not an ELF file"; }
printf 'extract-vmlinux: %s (%s payload at %d) -> %s\n' "$image" "${decompress[0]}" "$start" "$out" >&2
