/*
 * A PVH-entered trampoline that replays the VMM's boot hand-off under QEMU
 * TCG (no KVM needed): QEMU loads this ELF (with the boot image the
 * typevisor loader produced appended), enters it in 32-bit protected mode,
 * and the trampoline copies each staged piece to its guest-physical address
 * (low memory with GDT, page tables, zero page, command line, ACPI; the
 * kernel; the initrd), then enters the kernel the way the VMM's vCPU would:
 *   mode 0: long mode through our GDT (0x500) and page tables (CR3 = PML4), RSI = boot info
 *   mode 1: 32-bit PVH through our GDT, EBX = boot info
 * The test fills the parameter block at offset 8 before building the ELF.
 */
    .text
    .code32
    .globl _start
_start:
    jmp real_start

    .org 8
mode:       .long 0
entry:      .long 0
boot_info:  .long 0
stack:      .long 0
copy_count: .long 0
copies:     .fill 8 * 12, 1, 0      /* { u32 source, destination, length } x 8 */
gdtr:       .word 31                /* BOOT_GDT_LIMIT */
            .long 0x500             /* BOOT_GDT_START */
cr3_value:  .long 0x9000            /* PML4_START */

real_start:
    cli
    cld
    mov copy_count, %edx
    mov $copies, %ebx
1:  test %edx, %edx
    jz 2f
    mov 0(%ebx), %esi
    mov 4(%ebx), %edi
    mov 8(%ebx), %ecx
    rep movsb
    add $12, %ebx
    dec %edx
    jmp 1b
2:  lgdt gdtr
    cmpl $1, mode
    je enter_pvh

    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov cr3_value, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* EFER */
    rdmsr
    or $0x100, %eax                 /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax            /* PG | PE */
    mov %eax, %cr0
    ljmp $0x08, $enter_64

enter_pvh:
    ljmp $0x08, $1f
1:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov stack, %esp
    mov boot_info, %ebx
    mov entry, %eax
    jmp *%eax

    .code64
enter_64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    movl stack, %esp
    movl boot_info, %esi
    movl entry, %eax
    jmp *%rax
