/*
 * vsock-echo: a tiny static helper for Linux test guests (busybox has no
 * AF_VSOCK tool). Used by the KVM lab's virtio tests.
 *   vsock-echo listen PORT          accept one connection, echo one line back, exit
 *   vsock-echo connect CID PORT MSG connect, send MSG + "\n", print the reply line
 */
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_line(int fd, char *buf, int cap) {
  int n = 0;
  while (n < cap - 1) {
    char c;
    int r = (int)read(fd, &c, 1);
    if (r <= 0) break;
    buf[n++] = c;
    if (c == '\n') break;
  }
  buf[n] = 0;
  return n;
}

int main(int argc, char **argv) {
  char buf[512];
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  int s = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  if (argc == 3 && strcmp(argv[1], "listen") == 0) {
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = (unsigned)atoi(argv[2]);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0) { perror("bind/listen"); return 1; }
    printf("vsock-echo: listening on %u\n", addr.svm_port);
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) { perror("accept"); return 1; }
    int n = read_line(c, buf, sizeof buf);
    printf("vsock-echo: got %s", buf);
    if (write(c, buf, (size_t)n) != n) return 1;
    close(c);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "connect") == 0) {
    addr.svm_cid = (unsigned)atoi(argv[2]);
    addr.svm_port = (unsigned)atoi(argv[3]);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
    snprintf(buf, sizeof buf, "%s\n", argv[4]);
    if (write(s, buf, strlen(buf)) < 0) return 1;
    read_line(s, buf, sizeof buf);
    printf("vsock-echo: reply %s", buf);
    return 0;
  }
  fprintf(stderr, "usage: vsock-echo listen PORT | connect CID PORT MSG\n");
  return 2;
}
