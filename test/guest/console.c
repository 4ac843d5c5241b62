/* COM1 output and input by polling (8250/16550A registers, PC16550D datasheet), and the few libc routines
 * the compiler may emit calls to. */
#include "tvg.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_RBR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS_OUT2 0x0b

/* Bound on THRE polling: a UART that never empties must not hang the guest forever. */
#define THR_POLL_LIMIT 1000000

void *memcpy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  uint8_t *d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

void serial_init(void) {
  outb(COM1 + UART_IER, 0); /* polled: no interrupts */
  outb(COM1 + UART_LCR, LCR_DLAB);
  outb(COM1 + UART_DLL, 1); /* 115200 baud */
  outb(COM1 + UART_DLM, 0);
  outb(COM1 + UART_LCR, LCR_8N1);
  outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
  outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
}

void put_char(char c) {
  for (int i = 0; i < THR_POLL_LIMIT && !(inb(COM1 + UART_LSR) & LSR_THR_EMPTY); i++) cpu_relax();
  outb(COM1 + UART_THR, (uint8_t)c);
}

void put_str(const char *s) {
  while (*s) put_char(*s++);
}

void put_hex_bare(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char buf[17];
  int i = 16;
  buf[i] = 0;
  do {
    buf[--i] = digits[v & 0xf];
    v >>= 4;
  } while (v);
  put_str(&buf[i]);
}

void put_hex(uint64_t v) {
  put_str("0x");
  put_hex_bare(v);
}

void put_hex_digits(uint64_t v, int digits) {
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) put_char("0123456789abcdef"[(v >> shift) & 0xf]);
}

void put_dec(uint64_t v) {
  char buf[21];
  int i = 20;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put_str(&buf[i]);
}

void line_begin(const char *what) {
  put_str("TVG: ");
  put_str(what);
}

void line_end(void) { put_char('\n'); }

bool serial_try_read(uint8_t *out) {
  if (!(inb(COM1 + UART_LSR) & LSR_DATA_READY)) return false;
  *out = inb(COM1 + UART_RBR);
  return true;
}
