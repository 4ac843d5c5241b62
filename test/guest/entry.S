/*
 * typevisor test guest: entry points, GDT, exception stubs and the AP trampoline.
 *
 * Two ways in, one 64-bit C entry (tvg_main):
 *  - tvg_start64 (ELF e_entry): the VMM's Linux-style 64-bit entry. Long mode, paging on with 0..4 GiB
 *    identity-mapped, interrupts off, RSI = struct boot_params (Linux boot protocol, "64-bit BOOT PROTOCOL").
 *  - tvg_start_pvh (XEN_ELFNOTE_PHYS32_ENTRY note): the PVH entry QEMU's -kernel and our VMM's PVH path use.
 *    32-bit protected mode, paging off, EBX = struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
 *    It builds its own identity page tables (2 MiB pages, 0..4 GiB) and enters long mode.
 *
 * Selectors of our own GDT (loaded on both paths, so the AP trampoline can rely on it):
 *   0x08 64-bit code, 0x10 flat data, 0x18 32-bit code.
 */

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100
#define PTE_PRESENT_WRITE 0x3
#define PDE_LARGE_PAGE 0x80

/* Where the AP trampoline is copied (must match AP_TRAMPOLINE_BASE in guest.c): a page below 1 MiB that
 * neither layout.ts (GDT 0x500, PVH start_info 0x6000, zero page 0x7000, stack 0x8000, page tables 0x9000..)
 * nor QEMU's PVH boot uses. The SIPI vector is its page number. */
#define AP_TRAMPOLINE_BASE 0x3000
#define TRAMPOLINE_ADDR(label) AP_TRAMPOLINE_BASE + label - tvg_ap_trampoline_start

/* ---- PVH ELF note: the 32-bit entry. An 8-byte descriptor, like rust-hypervisor-firmware: QEMU reads a
 * size_t there. (Linux emits 4 bytes; loaders must accept both.) */
	.pushsection .note.Xen, "a", @note
	.balign 4
	.long 4              /* namesz: "Xen\0" */
	.long 8              /* descsz */
	.long 18             /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad tvg_start_pvh
	.balign 4
	.popsection

	.section .text.entry, "ax"

/* ---- 64-bit entry (boot_params in RSI) ---------------------------------------------------------- */
	.code64
	.globl tvg_start64
tvg_start64:
	cli
	cld
	/* zero .bss (our stack lives there); RSI survives rep stosb */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $tvg_stack_top, %esp
	call load_gdt64
	mov %rsi, %rdi          /* arg 0: boot_params */
	xor %esi, %esi          /* arg 1: 0 = Linux boot_params */
	call tvg_main
	jmp tvg_halt_forever

/* Loads our GDT and reloads every segment register; callable from 64-bit code with a stack. */
load_gdt64:
	lgdt tvg_gdt_desc
	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	popq %rax               /* return address */
	pushq $SEL_CODE64
	pushq %rax
	lretq                   /* far return reloads CS */

/* ---- 32-bit PVH entry (hvm_start_info in EBX) --------------------------------------------------- */
	.code32
	.globl tvg_start_pvh
tvg_start_pvh:
	cli
	cld
	lgdt tvg_gdt_desc
	ljmp $SEL_CODE32, $1f
1:	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $tvg_stack_top, %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> PD0..3; each PD maps 512 x 2 MiB: identity 0..4 GiB */
	mov $pvh_pdpt + PTE_PRESENT_WRITE, %eax
	mov %eax, pvh_pml4
	mov $pvh_pdpt, %edi
	mov $pvh_pd + PTE_PRESENT_WRITE, %eax
	mov $4, %ecx
2:	mov %eax, (%edi)
	add $4096, %eax
	add $8, %edi
	loop 2b
	mov $pvh_pd, %edi
	mov $PTE_PRESENT_WRITE + PDE_LARGE_PAGE, %eax   /* low dword of entry i: i * 2 MiB | flags */
	xor %edx, %edx                                  /* high dword: bits 32+ of the address */
	mov $2048, %ecx
3:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 3b

	mov $pvh_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $4f
	.code64
4:	mov %ebx, %edi          /* arg 0: hvm_start_info (zero-extended) */
	mov $1, %esi            /* arg 1: 1 = PVH start_info */
	call tvg_main
	/* fall through */
	.globl tvg_halt_forever
tvg_halt_forever:
	cli
5:	hlt
	jmp 5b

/* ---- Exception stubs: 32 x 16 bytes; tvg_exception(vector, frame) reports and halts ------------- */
	.balign 16
	.globl tvg_exception_stubs
tvg_exception_stubs:
	.set vector, 0
	.rept 32
	.balign 16
	pushq $vector
	jmp exception_common
	.set vector, vector + 1
	.endr
exception_common:
	mov (%rsp), %rdi        /* vector */
	lea 8(%rsp), %rsi       /* error code (if the vector has one), then RIP, CS, RFLAGS */
	and $-16, %rsp
	call tvg_exception
	jmp tvg_halt_forever

/* ---- External interrupt stubs: 16 x 16 bytes for vectors 0x40..0x4f (IRQ_FIRST_VECTOR in tvg.h) -----
 * tvg_interrupt(vector) counts and EOIs; the stub keeps every caller-saved register (the interrupted code is C)
 * and returns with iretq. The CPU aligned RSP to 16 before pushing the frame (SDM vol. 3 §6.14.2), but our
 * pushes leave it misaligned for the call, so RBP keeps the old RSP around an explicit alignment. */
#define IRQ_FIRST_VECTOR 0x40
#define IRQ_VECTOR_COUNT 16
	.balign 16
	.globl tvg_interrupt_stubs
tvg_interrupt_stubs:
	.set vector, IRQ_FIRST_VECTOR
	.rept IRQ_VECTOR_COUNT
	.balign 16
	pushq $vector
	jmp interrupt_common
	.set vector, vector + 1
	.endr
interrupt_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	push %rbp
	mov 80(%rsp), %rdi      /* the vector pushed by the stub, above the 10 saved registers */
	mov %rsp, %rbp
	and $-16, %rsp
	cld
	call tvg_interrupt
	mov %rbp, %rsp
	pop %rbp
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $8, %rsp            /* drop the vector */
	iretq

/* ---- AP start: INIT-SIPI-SIPI lands here (copied to AP_TRAMPOLINE_BASE) in real mode ------------ */
	.code16
	.globl tvg_ap_trampoline_start, tvg_ap_trampoline_end, tvg_ap_cr3
tvg_ap_trampoline_start:
	cli
	cld
	mov %cs, %ax            /* CS = SIPI vector << 8, so DS-relative offsets are trampoline offsets */
	mov %ax, %ds
	lgdtl ap_gdt_desc - tvg_ap_trampoline_start
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $TRAMPOLINE_ADDR(ap_protected)
	.code32
ap_protected:
	mov $SEL_DATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov TRAMPOLINE_ADDR(tvg_ap_cr3), %eax   /* the BSP's page tables */
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PG, %eax
	mov %eax, %cr0
	ljmp $SEL_CODE64, $TRAMPOLINE_ADDR(ap_long)
	.code64
ap_long:
	movabs $tvg_ap_main64, %rax
	jmp *%rax
	.balign 8
ap_gdt_desc:
	.word tvg_gdt_end - tvg_gdt - 1
	.long tvg_gdt
	.balign 8
tvg_ap_cr3:
	.long 0
tvg_ap_trampoline_end:

/* Each AP: count itself online, then park with interrupts off. No stack needed. */
	.code64
tvg_ap_main64:
	mov $1, %eax
	lock xaddl %eax, tvg_aps_online
1:	cli
	hlt
	jmp 1b

/* ---- Data ---------------------------------------------------------------------------------------- */
	.data
	.balign 16
tvg_gdt:
	.quad 0
	.quad 0x00af9a000000ffff   /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff   /* 0x10: flat 4 GiB data */
	.quad 0x00cf9a000000ffff   /* 0x18: flat 4 GiB 32-bit code */
tvg_gdt_end:
	.balign 8
tvg_gdt_desc:
	.word tvg_gdt_end - tvg_gdt - 1
	.quad tvg_gdt

	.bss
	.balign 4096
pvh_pml4:
	.skip 4096
pvh_pdpt:
	.skip 4096
pvh_pd:
	.skip 4 * 4096
	.balign 16
	.skip 16384
tvg_stack_top:
	.balign 4
	.globl tvg_aps_online
tvg_aps_online:
	.long 0

	.section .note.GNU-stack, "", @progbits
