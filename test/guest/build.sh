#!/bin/sh
# Builds the typevisor test guest: test/guest/build.sh OUT.elf
# A freestanding ELF64 linked at 1 MiB with a 64-bit Linux-style entry (e_entry, RSI = boot_params) and a
# 32-bit PVH entry (XEN_ELFNOTE_PHYS32_ENTRY note) for QEMU -kernel and PVH-capable loaders.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT.elf" >&2
  exit 2
fi
OUT=$1
SRC=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-gcc}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# -mgeneral-regs-only: no SSE (CR4.OSFXSR is off on the PVH path); -mno-red-zone: the exception stubs run on the
# interrupted stack; -fno-tree-loop-distribute-patterns: stop GCC turning memset/memcpy loops into calls to themselves;
# --param=min-pagesize=0: we do read fixed low physical addresses (BDA, BIOS area) on purpose.
CFLAGS="-O2 -std=gnu11 -Wall -Wextra -Werror -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie -mcmodel=small \
  -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-asynchronous-unwind-tables \
  -fno-tree-loop-distribute-patterns -fcf-protection=none --param=min-pagesize=0"

for f in main console acpi timer smp probe memtest linux64-shim pci interrupts virtio virtio-test; do
  $CC $CFLAGS -c "$SRC/$f.c" -o "$WORK/$f.o"
done
$CC $CFLAGS -c "$SRC/entry.S" -o "$WORK/entry.o"
$CC $CFLAGS -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
  -T "$SRC/guest.ld" -o "$WORK/guest.elf" "$WORK/entry.o" "$WORK/main.o" "$WORK/console.o" "$WORK/acpi.o" \
  "$WORK/timer.o" "$WORK/smp.o" "$WORK/probe.o" "$WORK/memtest.o" "$WORK/linux64-shim.o" "$WORK/pci.o" \
  "$WORK/interrupts.o" "$WORK/virtio.o" "$WORK/virtio-test.o" -lgcc
mkdir -p "$(dirname "$OUT")"
mv "$WORK/guest.elf" "$OUT"
