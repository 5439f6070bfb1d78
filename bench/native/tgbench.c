/*
 * Helper for bench/signal-latency.mjs, compiled with gcc into a temp dir at bench time.
 *
 *   tgbench algo   the algorithm: installs a SIGTERM handler, prints "R\n" on stdout, waits.
 *                  The handler reads CLOCK_MONOTONIC first, prints "T <ns>\n" and _exit(0)s.
 *   tgbench send   the sender: for each "<pid>\n" line on stdin, reads CLOCK_MONOTONIC,
 *                  kill(pid, SIGTERM) at once, and prints "<ns> <errno or 0>\n".
 *
 * Both ends read the same clock: a PID namespace does not change CLOCK_MONOTONIC (only a time
 * namespace would, and the bench creates none), so T - send is the forwarding delay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Async-signal-safe decimal formatting (no stdio in the handler). */
static size_t put_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0, i;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) { if (errno == EINTR) continue; return; }
    buf += w; len -= (size_t)w;
  }
}

static void on_term(int sig) {
  uint64_t t = now_ns();
  char buf[40];
  size_t n = 0;
  (void)sig;
  buf[n++] = 'T'; buf[n++] = ' ';
  n += put_u64(buf + n, t);
  buf[n++] = '\n';
  write_all(1, buf, n);
  _exit(0);
}

static int algo(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) != 0) { perror("sigaction"); return 1; }
  write_all(1, "R\n", 2);
  for (;;) pause();
}

static int sender(void) {
  char line[64];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'n') { printf("%llu 0\n", (unsigned long long)now_ns()); continue; } /* "now": clock check */
    long pid = strtol(line, NULL, 10);
    if (pid <= 0) { printf("0 %d\n", EINVAL); continue; }
    uint64_t t = now_ns();
    int rc = kill((pid_t)pid, SIGTERM);
    printf("%llu %d\n", (unsigned long long)t, rc == 0 ? 0 : errno);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "algo") == 0) return algo();
  if (argc == 2 && strcmp(argv[1], "send") == 0) return sender();
  fprintf(stderr, "usage: tgbench algo|send\n");
  return 2;
}
