/* Modern virtio-pci transport (virtio 1.2 §4.1), split virtqueues (§2.7) and MSI-X (PCI Local Bus 3.0 §6.8.2)
 * for the test guest. Every register access has the width the spec gives the field: the VMM under test may (and
 * typevisor does) ignore accesses of other widths. */
#include "virtio.h"

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_BUS_MASTER 0x4
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* struct virtio_pci_cap (§4.1.4) */
#define VIRTIO_CAP_CFG_TYPE 3
#define VIRTIO_CAP_BAR 4
#define VIRTIO_CAP_OFFSET 8
#define VIRTIO_CAP_LENGTH 12
#define VIRTIO_CAP_NOTIFY_OFF_MULTIPLIER 16 /* struct virtio_pci_notify_cap (§4.1.4.4) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define PCI_BAR_COUNT 6

/* struct virtio_pci_common_cfg (§4.1.4.3) */
#define COMMON_DEVICE_FEATURE_SELECT 0x00 /* le32 */
#define COMMON_DEVICE_FEATURE 0x04        /* le32 */
#define COMMON_DRIVER_FEATURE_SELECT 0x08 /* le32 */
#define COMMON_DRIVER_FEATURE 0x0c        /* le32 */
#define COMMON_CONFIG_MSIX_VECTOR 0x10    /* le16 */
#define COMMON_NUM_QUEUES 0x12            /* le16 */
#define COMMON_DEVICE_STATUS 0x14         /* u8 */
#define COMMON_QUEUE_SELECT 0x16          /* le16 */
#define COMMON_QUEUE_SIZE 0x18            /* le16 */
#define COMMON_QUEUE_MSIX_VECTOR 0x1a     /* le16 */
#define COMMON_QUEUE_ENABLE 0x1c          /* le16 */
#define COMMON_QUEUE_NOTIFY_OFF 0x1e      /* le16 */
#define COMMON_QUEUE_DESC 0x20            /* le64, written as two le32 halves (§4.1.3.1) */
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* MSI-X capability and table (PCI 3.0 §6.8.2) */
#define MSIX_MESSAGE_CONTROL 2
#define MSIX_TABLE_OFFSET_BIR 4
#define MSIX_CONTROL_TABLE_SIZE 0x7ff
#define MSIX_CONTROL_FUNCTION_MASK (1u << 14)
#define MSIX_CONTROL_ENABLE (1u << 15)
#define MSIX_BIR_MASK 0x7u
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDRESS_LOW 0
#define MSIX_ENTRY_ADDRESS_HIGH 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_VECTOR_CONTROL 12
#define MSIX_VECTOR_MASKED 1u
/* MSI address: 0xFEE in bits 31:20, destination APIC id in bits 19:12, physical mode, no redirection hint;
 * data: vector in bits 7:0, fixed delivery, edge (Intel SDM vol. 3 §10.11.1, §10.11.2). */
#define MSI_ADDRESS_BASE 0xfee00000u
#define MSI_ADDRESS_DEST_SHIFT 12

/* Split ring placement inside the queue's 4 KiB page: each part at its required alignment (§2.7: descriptor
 * table 16, available ring 2, used ring 4). */
#define RING_AVAIL_OFFSET 0x400
#define RING_USED_OFFSET 0x800
#define RESET_TIMEOUT_US 1000000

static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
/* x86 keeps stores in order and loads in order (TSO): only the compiler must not reorder ring accesses. */
static inline void ring_barrier(void) { __asm__ volatile("" ::: "memory"); }

static void report_error(const char *device, const char *what) {
  line_begin("error ");
  put_str(device);
  put_char(' ');
  put_str(what);
  line_end();
}

struct locate_query {
  uint16_t device_id;
  uint32_t dev, fn;
};

static bool matches(uint32_t dev, uint32_t fn, uint32_t id, void *ctx) {
  struct locate_query *q = ctx;
  if ((id & 0xffff) != VIRTIO_PCI_VENDOR_ID || (id >> 16) != q->device_id) return false;
  q->dev = dev;
  q->fn = fn;
  return true;
}

static bool locate(uint16_t device_id, uint32_t *dev_out, uint32_t *fn_out) {
  struct locate_query q = { .device_id = device_id };
  if (!pci_for_each_function(matches, &q)) return false;
  *dev_out = q.dev;
  *fn_out = q.fn;
  return true;
}

bool virtio_pci_find(uint16_t device_id, const char *name, struct virtio_pci *d) {
  memset(d, 0, sizeof *d);
  d->name = name;
  if (!locate(device_id, &d->dev, &d->fn)) {
    report_error(name, "not found on bus 0");
    return false;
  }
  uint32_t dev = d->dev, fn = d->fn;
  pci_write16(dev, fn, PCI_COMMAND, (uint16_t)(pci_read16(dev, fn, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER));

  /* §4.1.4: the driver uses the first capability of each type it understands; others may follow. */
  for (uint32_t cap = pci_next_capability(dev, fn, 0), n = 0; cap && n < 48; cap = pci_next_capability(dev, fn, cap), n++) {
    uint8_t id = pci_read8(dev, fn, cap);
    if (id == PCI_CAP_ID_MSIX && !d->msix_cap) {
      d->msix_cap = cap;
      continue;
    }
    if (id != PCI_CAP_ID_VENDOR) continue;
    uint8_t type = pci_read8(dev, fn, cap + VIRTIO_CAP_CFG_TYPE);
    uint8_t bar = pci_read8(dev, fn, cap + VIRTIO_CAP_BAR);
    if (bar >= PCI_BAR_COUNT) continue; /* reserved BAR values: ignore the capability (§4.1.4) */
    uint64_t base = pci_bar_address(dev, fn, bar);
    if (!base) continue;
    uint64_t at = base + pci_read32(dev, fn, cap + VIRTIO_CAP_OFFSET);
    if (type == VIRTIO_PCI_CAP_COMMON_CFG && !d->common) d->common = at;
    else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !d->notify) {
      d->notify = at;
      d->notify_off_multiplier = pci_read32(dev, fn, cap + VIRTIO_CAP_NOTIFY_OFF_MULTIPLIER);
    } else if (type == VIRTIO_PCI_CAP_ISR_CFG && !d->isr) d->isr = at;
    else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !d->device_cfg) d->device_cfg = at;
  }
  if (d->msix_cap) {
    uint32_t control = pci_read16(dev, fn, d->msix_cap + MSIX_MESSAGE_CONTROL);
    uint32_t table = pci_read32(dev, fn, d->msix_cap + MSIX_TABLE_OFFSET_BIR);
    d->msix_entries = (control & MSIX_CONTROL_TABLE_SIZE) + 1;
    uint64_t base = pci_bar_address(dev, fn, table & MSIX_BIR_MASK);
    d->msix_table = base ? base + (table & ~MSIX_BIR_MASK) : 0;
  }

  line_begin(name);
  put_str(" pci 00:");
  put_hex_digits(dev, 2);
  put_char('.');
  put_hex_digits(fn, 1);
  put_str(" common ");
  put_hex(d->common);
  put_str(" notify ");
  put_hex(d->notify);
  put_str(" x");
  put_dec(d->notify_off_multiplier);
  put_str(" isr ");
  put_hex(d->isr);
  put_str(" device ");
  put_hex(d->device_cfg);
  put_str(" msix-table ");
  put_hex(d->msix_table);
  put_str(" entries ");
  put_dec(d->msix_entries);
  line_end();
  if (!d->common || !d->notify || !d->isr) {
    report_error(name, "lacks a common, notify or ISR capability");
    return false;
  }
  if (!d->msix_table) {
    report_error(name, "has no MSI-X table");
    return false;
  }
  return true;
}

uint8_t virtio_status(const struct virtio_pci *d) { return mmio_read8(d->common + COMMON_DEVICE_STATUS); }

static void set_status(struct virtio_pci *d, uint8_t bits) {
  mmio_write8(d->common + COMMON_DEVICE_STATUS, (uint8_t)(virtio_status(d) | bits));
}

bool virtio_negotiate(struct virtio_pci *d, uint64_t wanted) {
  /* §4.1.4.3.2: after writing 0 the driver waits until device_status reads 0 (the reset finished). */
  mmio_write8(d->common + COMMON_DEVICE_STATUS, 0);
  uint64_t deadline = timer_now_us() + RESET_TIMEOUT_US;
  while (virtio_status(d) != 0) {
    if (timer_now_us() > deadline) {
      report_error(d->name, "reset did not complete");
      return false;
    }
    cpu_relax();
  }
  set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  set_status(d, VIRTIO_STATUS_DRIVER);
  uint64_t offered = 0;
  for (uint32_t word = 0; word < 2; word++) {
    mmio_write32(d->common + COMMON_DEVICE_FEATURE_SELECT, word);
    offered |= (uint64_t)mmio_read32(d->common + COMMON_DEVICE_FEATURE) << (32 * word);
  }
  d->features = offered & wanted;
  line_begin(d->name);
  put_str(" features offered ");
  put_hex(offered);
  put_str(" accepted ");
  put_hex(d->features);
  line_end();
  if (!(d->features & VIRTIO_F_VERSION_1)) {
    report_error(d->name, "does not offer VIRTIO_F_VERSION_1");
    set_status(d, VIRTIO_STATUS_FAILED);
    return false;
  }
  for (uint32_t word = 0; word < 2; word++) {
    mmio_write32(d->common + COMMON_DRIVER_FEATURE_SELECT, word);
    mmio_write32(d->common + COMMON_DRIVER_FEATURE, (uint32_t)(d->features >> (32 * word)));
  }
  set_status(d, VIRTIO_STATUS_FEATURES_OK);
  /* §3.1.1 step 6: the device clears FEATURES_OK if it does not accept this subset. */
  if (!(virtio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
    report_error(d->name, "refused FEATURES_OK");
    set_status(d, VIRTIO_STATUS_FAILED);
    return false;
  }
  /* No configuration-change interrupts: the tests do not need them. */
  mmio_write16(d->common + COMMON_CONFIG_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR);
  return true;
}

static void write_msix_control(struct virtio_pci *d, uint16_t set, uint16_t clear) {
  uint32_t at = d->msix_cap + MSIX_MESSAGE_CONTROL;
  pci_write16(d->dev, d->fn, at, (uint16_t)((pci_read16(d->dev, d->fn, at) | set) & ~clear));
}

void msix_enable(struct virtio_pci *d) {
  /* §6.8.2.3: program the table under the function mask, then lift it; entries come out of reset masked. */
  write_msix_control(d, MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK, 0);
  for (uint32_t e = 0; e < d->msix_entries; e++)
    mmio_write32(d->msix_table + e * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CONTROL, MSIX_VECTOR_MASKED);
  write_msix_control(d, 0, MSIX_CONTROL_FUNCTION_MASK);
}

bool msix_route(struct virtio_pci *d, uint16_t entry, uint8_t apic_id, uint8_t idt_vector) {
  if (entry >= d->msix_entries) {
    report_error(d->name, "has too few MSI-X entries");
    return false;
  }
  uint64_t e = d->msix_table + (uint64_t)entry * MSIX_ENTRY_SIZE;
  mmio_write32(e + MSIX_ENTRY_ADDRESS_LOW, MSI_ADDRESS_BASE | ((uint32_t)apic_id << MSI_ADDRESS_DEST_SHIFT));
  mmio_write32(e + MSIX_ENTRY_ADDRESS_HIGH, 0);
  mmio_write32(e + MSIX_ENTRY_DATA, idt_vector);
  mmio_write32(e + MSIX_ENTRY_VECTOR_CONTROL, 0);
  return true;
}

bool virtq_setup(struct virtio_pci *d, struct virtq *q, uint16_t index, uint16_t msix_entry, uint8_t idt_vector, void *ring_page) {
  uint64_t c = d->common;
  memset(q, 0, sizeof *q);
  memset(ring_page, 0, 4096);
  if (index >= mmio_read16(c + COMMON_NUM_QUEUES)) {
    report_error(d->name, "has too few queues");
    return false;
  }
  mmio_write16(c + COMMON_QUEUE_SELECT, index);
  uint16_t max = mmio_read16(c + COMMON_QUEUE_SIZE);
  if (max < VIRTQ_SIZE) {
    report_error(d->name, "queue smaller than 8 entries");
    return false;
  }
  mmio_write16(c + COMMON_QUEUE_SIZE, VIRTQ_SIZE);
  /* §4.1.5.1.2: the vector must be set before the queue is enabled; reading back NO_VECTOR means refused. */
  mmio_write16(c + COMMON_QUEUE_MSIX_VECTOR, msix_entry);
  if (mmio_read16(c + COMMON_QUEUE_MSIX_VECTOR) != msix_entry) {
    report_error(d->name, "refused the queue's MSI-X vector");
    return false;
  }
  uint64_t base = (uint64_t)(uintptr_t)ring_page;
  uint64_t parts[3] = {base, base + RING_AVAIL_OFFSET, base + RING_USED_OFFSET};
  const uint32_t fields[3] = {COMMON_QUEUE_DESC, COMMON_QUEUE_DRIVER, COMMON_QUEUE_DEVICE};
  for (int i = 0; i < 3; i++) {
    mmio_write32(c + fields[i], (uint32_t)parts[i]);
    mmio_write32(c + fields[i] + 4, (uint32_t)(parts[i] >> 32));
  }
  uint16_t notify_off = mmio_read16(c + COMMON_QUEUE_NOTIFY_OFF);
  mmio_write16(c + COMMON_QUEUE_ENABLE, 1);
  q->device = d;
  q->index = index;
  q->size = VIRTQ_SIZE;
  q->idt_vector = idt_vector;
  q->desc = (volatile struct virtq_desc *)(uintptr_t)parts[0];
  q->avail = (volatile struct virtq_avail *)(uintptr_t)parts[1];
  q->used = (volatile struct virtq_used *)(uintptr_t)parts[2];
  /* §4.1.4.4: cap.offset + queue_notify_off * notify_off_multiplier */
  q->notify_address = d->notify + (uint64_t)notify_off * d->notify_off_multiplier;
  return true;
}

void virtio_driver_ok(struct virtio_pci *d) { set_status(d, VIRTIO_STATUS_DRIVER_OK); }

uint8_t virtio_config8(const struct virtio_pci *d, uint32_t offset) { return mmio_read8(d->device_cfg + offset); }
uint64_t virtio_config64(const struct virtio_pci *d, uint32_t offset) {
  /* §4.1.3.1: 64-bit fields are read as two 32-bit halves */
  return (uint64_t)mmio_read32(d->device_cfg + offset) | ((uint64_t)mmio_read32(d->device_cfg + offset + 4) << 32);
}

void virtq_make_available(struct virtq *q, uint16_t head) {
  uint16_t idx = q->avail->idx;
  q->avail->ring[idx % q->size] = head;
  ring_barrier(); /* §2.7.13.2: the ring entry before the index that publishes it */
  q->avail->idx = (uint16_t)(idx + 1);
  ring_barrier();
  /* §4.1.5.2: the driver writes the queue index to the queue's notification address (16 bits). */
  mmio_write16(q->notify_address, q->index);
}

void virtq_post(struct virtq *q, uint16_t first, const struct virtq_buffer *buffers, uint16_t count) {
  for (uint16_t i = 0; i < count; i++) {
    uint16_t at = (uint16_t)((first + i) % q->size);
    q->desc[at].addr = (uint64_t)(uintptr_t)buffers[i].addr;
    q->desc[at].len = buffers[i].len;
    q->desc[at].flags = (uint16_t)((buffers[i].device_writes ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < count ? VIRTQ_DESC_F_NEXT : 0));
    q->desc[at].next = (uint16_t)((at + 1) % q->size);
  }
  ring_barrier();
  virtq_make_available(q, first);
}

bool virtq_next_used(struct virtq *q, struct virtq_used_elem *out, uint64_t timeout_us) {
  uint64_t deadline = timer_now_us() + timeout_us;
  while (q->used->idx == q->last_used) {
    if (timer_now_us() > deadline) return false;
    cpu_relax();
  }
  ring_barrier(); /* the entry is read after the index that published it */
  uint16_t slot = q->last_used % q->size;
  out->id = q->used->ring[slot].id;
  out->len = q->used->ring[slot].len;
  q->last_used++;
  q->completions++;
  return true;
}

bool virtq_wait_interrupts(const struct virtq *q, uint32_t count, uint64_t timeout_us) {
  uint64_t deadline = timer_now_us() + timeout_us;
  while (interrupt_count(q->idt_vector) < count) {
    if (timer_now_us() > deadline) return false;
    cpu_relax();
  }
  return true;
}
