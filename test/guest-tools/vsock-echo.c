/*
 * vsock-echo: a tiny static helper for Linux test guests (busybox has no
 * AF_VSOCK tool). Used by the KVM lab's virtio and snapshot tests.
 *   vsock-echo listen PORT          accept one connection, echo one line back, exit
 *   vsock-echo connect CID PORT MSG connect, send MSG + "\n", print the reply line
 *   vsock-echo serve PORT           accept connections for ever (a child each); echo every line;
 *                                   print how each connection ended ("eof" or the errno text)
 *   vsock-echo hold CID PORT MSG    like connect, then keep the connection open and print how it
 *                                   ended (a snapshot/restore test expects "Connection reset by peer")
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads up to a newline. Returns the length, 0 at end of stream, -1 on error (errno set). */
static int read_line(int fd, char *buf, int cap) {
  int n = 0;
  while (n < cap - 1) {
    char c;
    int r = (int)read(fd, &c, 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (n == 0) return -1;
      break;
    }
    if (r == 0) break;
    buf[n++] = c;
    if (c == '\n') break;
  }
  buf[n] = 0;
  return n;
}

static const char *end_reason(int r) { return r == 0 ? "eof" : strerror(errno); }

static int connect_to(struct sockaddr_vm *addr, int s, const char *cid, const char *port) {
  addr->svm_cid = (unsigned)atoi(cid);
  addr->svm_port = (unsigned)atoi(port);
  return connect(s, (struct sockaddr *)addr, sizeof *addr);
}

int main(int argc, char **argv) {
  char buf[512];
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  int s = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && (strcmp(argv[1], "listen") == 0 || strcmp(argv[1], "serve") == 0)) {
    int serve = strcmp(argv[1], "serve") == 0;
    addr.svm_cid = VMADDR_CID_ANY;
    addr.svm_port = (unsigned)atoi(argv[2]);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 4) < 0) { perror("bind/listen"); return 1; }
    printf("vsock-echo: listening on %u\n", addr.svm_port);
    if (!serve) {
      int c = accept(s, NULL, NULL);
      if (c < 0) { perror("accept"); return 1; }
      int n = read_line(c, buf, sizeof buf);
      if (n < 0) n = 0;
      printf("vsock-echo: got %s", buf);
      if (write(c, buf, (size_t)n) != n) return 1;
      close(c);
      return 0;
    }
    signal(SIGCHLD, SIG_IGN); /* no zombies */
    for (;;) {
      int c = accept(s, NULL, NULL);
      if (c < 0) {
        if (errno == EINTR) continue;
        perror("accept");
        return 1;
      }
      if (fork() != 0) {
        close(c);
        continue;
      }
      close(s);
      int n;
      while ((n = read_line(c, buf, sizeof buf)) > 0) {
        printf("vsock-echo: served %s", buf);
        if (write(c, buf, (size_t)n) != n) break;
      }
      printf("vsock-echo: served connection ended (%s)\n", end_reason(n));
      return 0;
    }
  }
  if (argc == 5 && (strcmp(argv[1], "connect") == 0 || strcmp(argv[1], "hold") == 0)) {
    if (connect_to(&addr, s, argv[2], argv[3]) < 0) { perror("connect"); return 1; }
    snprintf(buf, sizeof buf, "%s\n", argv[4]);
    if (write(s, buf, strlen(buf)) < 0) return 1;
    if (read_line(s, buf, sizeof buf) < 0) buf[0] = 0;
    printf("vsock-echo: reply %s", buf);
    if (strcmp(argv[1], "connect") == 0) return 0;
    /* hold: the peer sends nothing more; wait for the connection to end and say how. */
    int n;
    while ((n = read_line(s, buf, sizeof buf)) > 0) printf("vsock-echo: held got %s", buf);
    printf("vsock-echo: held connection ended (%s)\n", end_reason(n));
    return 0;
  }
  fprintf(stderr, "usage: vsock-echo listen PORT | serve PORT | connect CID PORT MSG | hold CID PORT MSG\n");
  return 2;
}
