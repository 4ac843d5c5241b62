/* tvg.test=virtio: drives a virtio-blk and a virtio-net device found by PCI enumeration, with MSI-X interrupts
 * counted per queue.
 *  - virtio-blk (virtio 1.2 §5.2): reads sector 0 (the host put a marker there), writes a pattern derived from
 *    that marker to sectors 8..15, flushes, reads them back and compares.
 *  - virtio-net (§5.1): sends an ARP request (RFC 826) for PEER_IP from GUEST_IP and waits for the reply.
 * Each request waits for its used-ring entry and then for its interrupt, so a lost MSI-X message is an error. */
#include "virtio.h"

#define BLK_IDT_VECTOR (IRQ_FIRST_VECTOR + 0)
#define NET_RX_IDT_VECTOR (IRQ_FIRST_VECTOR + 1)
#define NET_TX_IDT_VECTOR (IRQ_FIRST_VECTOR + 2)
#define REQUEST_TIMEOUT_US 5000000 /* generous: nested KVM under an emulated L1 is slow */
#define PAGE 4096

/* ---- virtio-blk (§5.2) ---- */
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define BLK_CONFIG_CAPACITY 0 /* le64, in 512-byte sectors (§5.2.4) */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_S_OK 0
#define SECTOR_SIZE 512
#define TEST_FIRST_SECTOR 8
#define TEST_SECTORS 8
#define MARKER_BYTES 32

/* §5.2.6 struct virtio_blk_req: this header (device-readable), the data, then one status byte (device-writable) */
struct virtio_blk_req_header {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

/* ---- virtio-net (§5.1) ---- */
#define VIRTIO_NET_F_MAC (1ull << 5)
#define NET_CONFIG_MAC 0 /* u8[6] (§5.1.4) */
#define NET_RX_QUEUE 0
#define NET_TX_QUEUE 1
/* struct virtio_net_hdr: 12 bytes, num_buffers included, whenever VERSION_1 is negotiated (§5.1.6). */
#define NET_HEADER_SIZE 12
#define NET_RX_BUFFERS 4
/* Without MRG_RXBUF or GUEST_TSO* each buffer must hold a whole 1514-byte frame plus the header (§5.1.6.3.1). */
#define NET_RX_BUFFER_SIZE 2048
#define ETH_HEADER 14
#define ETH_TYPE_ARP 0x0806
#define ETH_TYPE_IPV4 0x0800
#define ARP_PACKET 28
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define ARP_HW_ETHERNET 1
#define ARP_ATTEMPTS 10
#define ARP_WAIT_US 1000000
/* 10.0.2.15 asks for 10.0.2.2 (QEMU's user-mode network answers for that address; the KVM lab gives it to the tap). */
static const uint8_t GUEST_IP[4] = {10, 0, 2, 15};
static const uint8_t PEER_IP[4] = {10, 0, 2, 2};

static uint8_t ring_pages[3][PAGE] __attribute__((aligned(PAGE)));
static struct virtio_blk_req_header blk_header;
static volatile uint8_t blk_status;
static uint8_t sector0[SECTOR_SIZE];
static uint8_t write_buffer[TEST_SECTORS * SECTOR_SIZE];
static uint8_t read_buffer[TEST_SECTORS * SECTOR_SIZE];
static uint8_t rx_buffers[NET_RX_BUFFERS][NET_RX_BUFFER_SIZE];
static uint8_t tx_buffer[NET_HEADER_SIZE + ETH_HEADER + ARP_PACKET];

static void report_error(const char *what) {
  line_begin("error ");
  put_str(what);
  line_end();
}

static void report_queue(const char *device, const char *queue, const struct virtq *q) {
  line_begin(device);
  put_char(' ');
  put_str(queue);
  put_str(" completions ");
  put_dec(q->completions);
  put_str(" interrupts ");
  put_dec(interrupt_count(q->idt_vector));
  line_end();
}

static void put_mac(const uint8_t *mac) {
  for (int i = 0; i < 6; i++) {
    if (i) put_char(':');
    put_hex_digits(mac[i], 2);
  }
}

/* Completes one request: its used entry, then its interrupt (the queue's vector count reaches its completions). */
static bool complete(struct virtq *q, const char *what, struct virtq_used_elem *used) {
  if (!virtq_next_used(q, used, REQUEST_TIMEOUT_US)) {
    line_begin("error no used entry for ");
    put_str(what);
    line_end();
    return false;
  }
  if (!virtq_wait_interrupts(q, q->completions, REQUEST_TIMEOUT_US)) {
    line_begin("error no interrupt for ");
    put_str(what);
    line_end();
    return false;
  }
  return true;
}

static bool blk_request(struct virtq *q, uint32_t type, uint64_t sector, void *data, uint32_t length, const char *what) {
  blk_header = (struct virtio_blk_req_header){.type = type, .sector = sector};
  blk_status = 0xff;
  struct virtq_buffer chain[3];
  uint16_t n = 0;
  chain[n++] = (struct virtq_buffer){&blk_header, sizeof blk_header, false};
  if (length) chain[n++] = (struct virtq_buffer){data, length, type == VIRTIO_BLK_T_IN};
  chain[n++] = (struct virtq_buffer){(const void *)&blk_status, 1, true};
  virtq_post(q, 0, chain, n);
  struct virtq_used_elem used;
  if (!complete(q, what, &used)) return false;
  if (used.id != 0 || blk_status != VIRTIO_BLK_S_OK) {
    line_begin("error virtio-blk ");
    put_str(what);
    put_str(" status ");
    put_dec(blk_status);
    line_end();
    return false;
  }
  return true;
}

/* The pattern written to sector `sector`: the host's marker mixed with the position, so the host can recompute it. */
static uint8_t pattern_byte(uint64_t sector, uint32_t i) { return (uint8_t)(sector0[i % MARKER_BYTES] ^ (uint8_t)(sector * 31 + i)); }

static void test_blk(uint8_t apic_id) {
  struct virtio_pci d;
  struct virtq q;
  if (!virtio_pci_find(VIRTIO_PCI_DEVICE_BLOCK, "virtio-blk", &d)) return;
  if (!virtio_negotiate(&d, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_FLUSH)) return;
  msix_enable(&d);
  if (!msix_route(&d, 0, apic_id, BLK_IDT_VECTOR)) return;
  if (!virtq_setup(&d, &q, 0, 0, BLK_IDT_VECTOR, ring_pages[0])) return;
  virtio_driver_ok(&d);
  uint64_t capacity = virtio_config64(&d, BLK_CONFIG_CAPACITY);
  line_begin("virtio-blk capacity ");
  put_dec(capacity);
  line_end();
  if (capacity < TEST_FIRST_SECTOR + TEST_SECTORS) return report_error("virtio-blk disk too small");

  if (!blk_request(&q, VIRTIO_BLK_T_IN, 0, sector0, SECTOR_SIZE, "read of sector 0")) return;
  line_begin("virtio-blk sector0 ");
  for (int i = 0; i < MARKER_BYTES; i++) put_hex_digits(sector0[i], 2);
  line_end();

  for (uint32_t s = 0; s < TEST_SECTORS; s++)
    for (uint32_t i = 0; i < SECTOR_SIZE; i++) write_buffer[s * SECTOR_SIZE + i] = pattern_byte(TEST_FIRST_SECTOR + s, i);
  if (!blk_request(&q, VIRTIO_BLK_T_OUT, TEST_FIRST_SECTOR, write_buffer, sizeof write_buffer, "write")) return;
  if (d.features & VIRTIO_BLK_F_FLUSH && !blk_request(&q, VIRTIO_BLK_T_FLUSH, 0, 0, 0, "flush")) return;
  memset(read_buffer, 0, sizeof read_buffer);
  if (!blk_request(&q, VIRTIO_BLK_T_IN, TEST_FIRST_SECTOR, read_buffer, sizeof read_buffer, "read back")) return;
  uint32_t mismatches = 0;
  for (uint32_t i = 0; i < sizeof read_buffer; i++) mismatches += read_buffer[i] != write_buffer[i];
  line_begin("virtio-blk wrote sectors ");
  put_dec(TEST_FIRST_SECTOR);
  put_char('-');
  put_dec(TEST_FIRST_SECTOR + TEST_SECTORS - 1);
  put_str(" read back ");
  put_dec(sizeof read_buffer - mismatches);
  put_str(" of ");
  put_dec(sizeof read_buffer);
  put_str(" bytes equal");
  line_end();
  report_queue("virtio-blk", "requestq", &q);
  line_begin("virtio-blk status ");
  put_hex(virtio_status(&d));
  line_end();
}

static void put_be16(uint8_t *at, uint16_t v) {
  at[0] = (uint8_t)(v >> 8);
  at[1] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *at) { return (uint16_t)(at[0] << 8 | at[1]); }

/* An ARP request (RFC 826) for PEER_IP, broadcast, behind an all-zero virtio_net_hdr (no offloads). */
static void build_arp_request(const uint8_t *mac) {
  memset(tx_buffer, 0, sizeof tx_buffer);
  uint8_t *eth = tx_buffer + NET_HEADER_SIZE;
  memset(eth, 0xff, 6);
  memcpy(eth + 6, mac, 6);
  put_be16(eth + 12, ETH_TYPE_ARP);
  uint8_t *arp = eth + ETH_HEADER;
  put_be16(arp + 0, ARP_HW_ETHERNET);
  put_be16(arp + 2, ETH_TYPE_IPV4);
  arp[4] = 6; /* hardware address length */
  arp[5] = 4; /* protocol address length */
  put_be16(arp + 6, ARP_REQUEST);
  memcpy(arp + 8, mac, 6);
  memcpy(arp + 14, GUEST_IP, 4);
  memcpy(arp + 24, PEER_IP, 4); /* target hardware address (18..23) stays zero */
}

/* True for an ARP reply from PEER_IP to GUEST_IP; copies the peer's MAC. */
static bool is_arp_reply(const uint8_t *eth, uint32_t length, uint8_t *peer_mac) {
  if (length < ETH_HEADER + ARP_PACKET || get_be16(eth + 12) != ETH_TYPE_ARP) return false;
  const uint8_t *arp = eth + ETH_HEADER;
  if (get_be16(arp + 6) != ARP_REPLY || memcmp(arp + 14, PEER_IP, 4) != 0 || memcmp(arp + 24, GUEST_IP, 4) != 0) return false;
  memcpy(peer_mac, arp + 8, 6);
  return true;
}

static void test_net(uint8_t apic_id) {
  struct virtio_pci d;
  struct virtq rx, tx;
  if (!virtio_pci_find(VIRTIO_PCI_DEVICE_NET, "virtio-net", &d)) return;
  if (!virtio_negotiate(&d, VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC)) return;
  if (!(d.features & VIRTIO_NET_F_MAC)) return report_error("virtio-net offers no MAC address");
  msix_enable(&d);
  if (!msix_route(&d, 0, apic_id, NET_RX_IDT_VECTOR) || !msix_route(&d, 1, apic_id, NET_TX_IDT_VECTOR)) return;
  if (!virtq_setup(&d, &rx, NET_RX_QUEUE, 0, NET_RX_IDT_VECTOR, ring_pages[1])) return;
  if (!virtq_setup(&d, &tx, NET_TX_QUEUE, 1, NET_TX_IDT_VECTOR, ring_pages[2])) return;
  virtio_driver_ok(&d);
  uint8_t mac[6];
  for (int i = 0; i < 6; i++) mac[i] = virtio_config8(&d, NET_CONFIG_MAC + (uint32_t)i);
  line_begin("virtio-net mac ");
  put_mac(mac);
  line_end();

  /* Receive buffer i is descriptor i, so a used entry's id names the buffer to hand back. */
  for (uint16_t i = 0; i < NET_RX_BUFFERS; i++) {
    struct virtq_buffer b = {rx_buffers[i], NET_RX_BUFFER_SIZE, true};
    virtq_post(&rx, i, &b, 1);
  }
  build_arp_request(mac);
  uint8_t peer_mac[6];
  bool answered = false;
  for (int attempt = 0; attempt < ARP_ATTEMPTS && !answered; attempt++) {
    struct virtq_buffer b = {tx_buffer, sizeof tx_buffer, false};
    virtq_post(&tx, 0, &b, 1);
    struct virtq_used_elem used;
    if (!complete(&tx, "ARP request", &used)) return;
    uint64_t deadline = timer_now_us() + ARP_WAIT_US;
    while (!answered) {
      uint64_t now = timer_now_us();
      if (now >= deadline || !virtq_next_used(&rx, &used, deadline - now)) break;
      if (used.id >= NET_RX_BUFFERS) return report_error("virtio-net used an unknown receive buffer");
      const uint8_t *eth = rx_buffers[used.id] + NET_HEADER_SIZE;
      uint32_t length = used.len > NET_HEADER_SIZE ? used.len - NET_HEADER_SIZE : 0;
      line_begin("virtio-net rx ");
      put_dec(length);
      put_str(" bytes ethertype ");
      put_hex_digits(length >= ETH_HEADER ? get_be16(eth + 12) : 0, 4);
      line_end();
      answered = is_arp_reply(eth, length, peer_mac);
      virtq_make_available(&rx, (uint16_t)used.id);
    }
  }
  if (!answered) return report_error("virtio-net: no ARP reply");
  if (!virtq_wait_interrupts(&rx, 1, REQUEST_TIMEOUT_US)) return report_error("virtio-net: no receive interrupt");
  line_begin("virtio-net arp-reply ");
  for (int i = 0; i < 4; i++) {
    if (i) put_char('.');
    put_dec(PEER_IP[i]);
  }
  put_str(" is-at ");
  put_mac(peer_mac);
  line_end();
  report_queue("virtio-net", "rx", &rx);
  report_queue("virtio-net", "tx", &tx);
  line_begin("virtio-net status ");
  put_hex(virtio_status(&d));
  line_end();
}

void test_virtio(const struct acpi_info *acpi) {
  uint8_t apic_id = interrupts_init(acpi->found ? acpi->lapic_address : 0);
  line_begin("virtio apic-id ");
  put_dec(apic_id);
  line_end();
  interrupts_enable();
  test_blk(apic_id);
  test_net(apic_id);
  interrupts_disable();
  line_begin("virtio spurious-interrupts ");
  put_dec(interrupt_count(IRQ_SPURIOUS_VECTOR));
  line_end();
}
