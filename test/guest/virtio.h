/* typevisor test guest: a minimal driver for modern virtio-pci devices (virtio 1.2 §4.1) with split virtqueues
 * (§2.7) and MSI-X (PCI Local Bus 3.0 §6.8.2). One request in flight per queue is all the tests need. */
#ifndef TVG_VIRTIO_H
#define TVG_VIRTIO_H

#include "tvg.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
/* §4.1.2.1: a modern (non-transitional) device has PCI device id 0x1040 + its virtio device type (§5). */
#define VIRTIO_PCI_DEVICE_NET 0x1041
#define VIRTIO_PCI_DEVICE_BLOCK 0x1042

/* Device status bits (§2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits (§6) */
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTQ_SIZE 8 /* what we ask for; every device here offers at least this (queue_size is a maximum) */

/* §2.7.5 descriptor, §2.7.6 available ring, §2.7.8 used ring: little-endian, the layout the spec gives */
struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[VIRTQ_SIZE];
  uint16_t used_event;
};

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
};

struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  struct virtq_used_elem ring[VIRTQ_SIZE];
  uint16_t avail_event;
};

/* One virtio-pci function: where its structures are, found through its vendor capabilities (§4.1.4). */
struct virtio_pci {
  const char *name;
  uint32_t dev, fn;
  uint64_t common;          /* §4.1.4.3 struct virtio_pci_common_cfg */
  uint64_t notify;          /* §4.1.4.4 notification area */
  uint32_t notify_off_multiplier;
  uint64_t isr;             /* §4.1.4.5 */
  uint64_t device_cfg;      /* §4.1.4.6 device-specific configuration (0 if the device has none) */
  uint32_t msix_cap;        /* config-space offset of the MSI-X capability */
  uint64_t msix_table;      /* guest-physical address of the MSI-X table */
  uint32_t msix_entries;
  uint64_t features;        /* negotiated */
};

struct virtq {
  struct virtio_pci *device;
  uint16_t index;
  uint16_t size;
  uint8_t idt_vector;       /* where its MSI-X entry sends the interrupt */
  volatile struct virtq_desc *desc;
  volatile struct virtq_avail *avail;
  volatile struct virtq_used *used;
  uint64_t notify_address;
  uint16_t last_used;       /* used ring entries consumed */
  uint32_t completions;     /* used ring entries consumed since setup */
};

/* One buffer of a descriptor chain. */
struct virtq_buffer {
  const void *addr;
  uint32_t len;
  bool device_writes;
};

/* Scans bus 0 for the device, enables memory decoding and bus mastering, and maps its capabilities. */
bool virtio_pci_find(uint16_t device_id, const char *name, struct virtio_pci *out);
/* §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features (offered & wanted; VERSION_1 required), FEATURES_OK. */
bool virtio_negotiate(struct virtio_pci *d, uint64_t wanted);
/* Enables MSI-X with every entry masked; msix_route then programs and unmasks one entry. */
void msix_enable(struct virtio_pci *d);
bool msix_route(struct virtio_pci *d, uint16_t entry, uint8_t apic_id, uint8_t idt_vector);
/* §4.1.5.1.3: sizes queue `index`, gives it MSI-X entry `msix_entry` and `ring_page` (4 KiB, page-aligned), enables it. */
bool virtq_setup(struct virtio_pci *d, struct virtq *q, uint16_t index, uint16_t msix_entry, uint8_t idt_vector, void *ring_page);
/* §3.1.1 step 8. */
void virtio_driver_ok(struct virtio_pci *d);
uint8_t virtio_status(const struct virtio_pci *d);
/* Device configuration space reads (§4.1.4.6). */
uint8_t virtio_config8(const struct virtio_pci *d, uint32_t offset);
uint64_t virtio_config64(const struct virtio_pci *d, uint32_t offset);

/* Writes a chain into descriptors first..first+count-1, makes it available and notifies the device. */
void virtq_post(struct virtq *q, uint16_t first, const struct virtq_buffer *buffers, uint16_t count);
/* Makes an already written chain (head `head`) available again and notifies the device (§2.7.13, §4.1.5.2). */
void virtq_make_available(struct virtq *q, uint16_t head);
/* Waits for the next used ring entry; false on timeout. */
bool virtq_next_used(struct virtq *q, struct virtq_used_elem *out, uint64_t timeout_us);
/* Waits until the queue's interrupt vector was taken at least `count` times; false on timeout. */
bool virtq_wait_interrupts(const struct virtq *q, uint32_t count, uint64_t timeout_us);

#endif
