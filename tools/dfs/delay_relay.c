// delay_relay: joins two TUN devices, one in the caller's network namespace
// and one in another, and holds every packet for a fixed time in each
// direction before handing it to the other side. tools/dfs.sh puts it between
// the client mounts (root namespace) and the MooseFS daemons (their own
// namespace) so every request pays a network round trip, as on a parallel
// filesystem.
//
// Why user space: the test machines' kernel has neither sch_netem nor sch_fq,
// so neither `tc ... netem delay` nor an EDT qdisc (a BPF program setting
// skb->tstamp, released by fq) can hold packets. A FIFO suffices here: the
// delay is constant, so packets are due in arrival order.
//
// Memory is bounded: at most kMaxQueued packets and kMaxQueuedBytes per
// direction; past either, a packet is dropped and counted (TCP retransmits
// it), never buffered. SIGTERM/SIGINT print the counters and exit; SIGUSR1
// prints them. With DELAY_FILE, SIGHUP sets the delay to the microseconds
// written there (a benchmark may store at one delay and load at another);
// packets already held keep their due time, and while a shorter delay
// follows a longer one, new packets wait behind the held ones (a FIFO).
//
//   delay_relay DELAY_US TUN_A NETNS_PATH TUN_B [DELAY_FILE]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { kMaxPacket = 65536 + 64, kMaxQueued = 16384, kReadBurst = 64 };  // + vnet header
static const size_t kMaxQueuedBytes = (size_t)64 << 20;

struct Packet {
  uint64_t due_ns;
  size_t len;
  unsigned char* data;
};

// A ring of packets in arrival (= due) order.
struct Queue {
  struct Packet slots[kMaxQueued];
  unsigned head;
  unsigned count;
  size_t bytes;
  uint64_t forwarded;
  uint64_t dropped;
};

static struct Queue queues[2];  // [0]: A -> B, [1]: B -> A
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t report_requested;
static volatile sig_atomic_t reload_requested;

static void OnSignal(int sig) {
  if (sig == SIGUSR1) {
    report_requested = 1;
  } else if (sig == SIGHUP) {
    reload_requested = 1;
  } else {
    stop_requested = 1;
  }
}

static uint64_t NowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// With a virtio-net header and TSO offered, the kernel hands the relay TCP
// segments of up to 64 KiB (one read each) while TCP itself still runs with
// the link's MTU, as over a real NIC with segmentation offload; the header
// goes to the other side unchanged, so the packet is rebuilt as it was sent.
static int OpenTun(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0 ||
      ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads what is waiting on `fd` (up to a burst, so the other direction is
// not starved) and queues it, due at `due_ns`.
static void Drain(int fd, struct Queue* q, uint64_t due_ns) {
  static unsigned char buf[kMaxPacket];
  for (int i = 0; i < kReadBurst; i++) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;  // EAGAIN: nothing more for now
    size_t len = (size_t)n;
    unsigned char* copy = NULL;
    if (q->count < kMaxQueued && q->bytes + len <= kMaxQueuedBytes) copy = malloc(len);
    if (copy == NULL) {
      q->dropped++;
      continue;
    }
    memcpy(copy, buf, len);
    struct Packet* p = &q->slots[(q->head + q->count) % kMaxQueued];
    p->due_ns = due_ns;
    p->len = len;
    p->data = copy;
    q->count++;
    q->bytes += len;
  }
}

// Writes every packet due by `now_ns` to `fd`.
static void Flush(struct Queue* q, int fd, uint64_t now_ns) {
  while (q->count > 0 && q->slots[q->head].due_ns <= now_ns) {
    struct Packet* p = &q->slots[q->head];
    // A write to a TUN device injects the packet into the stack; it does not
    // block. A failure (e.g. the stack's backlog is full) is a lost packet.
    if (write(fd, p->data, p->len) == (ssize_t)p->len) {
      q->forwarded++;
    } else {
      q->dropped++;
    }
    q->bytes -= p->len;
    free(p->data);
    p->data = NULL;
    q->head = (q->head + 1) % kMaxQueued;
    q->count--;
  }
}

static void Report(void) {
  fprintf(stderr,
          "delay_relay: a->b forwarded %llu dropped %llu; b->a forwarded %llu dropped %llu\n",
          (unsigned long long)queues[0].forwarded, (unsigned long long)queues[0].dropped,
          (unsigned long long)queues[1].forwarded, (unsigned long long)queues[1].dropped);
}

// Microseconds from `text` (digits, at most 10 s), or -1.
static long ParseDelay(const char* text) {
  char* end = NULL;
  errno = 0;
  unsigned long us = strtoul(text, &end, 10);
  while (*end == '\n' || *end == ' ') end++;
  if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 || us > 10000000ul) return -1;
  return (long)us;
}

// The delay written in `path`, or -1 when it cannot be read or parsed.
static long ReadDelay(const char* path) {
  char text[32] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  return n > 0 ? ParseDelay(text) : -1;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: delay_relay DELAY_US TUN_A NETNS_PATH TUN_B [DELAY_FILE]\n");
    return 2;
  }
  long delay_us = ParseDelay(argv[1]);
  if (delay_us < 0) {
    fprintf(stderr, "delay_relay: bad DELAY_US %s\n", argv[1]);
    return 2;
  }
  const char* delay_file = argc == 6 ? argv[5] : NULL;
  uint64_t delay_ns = (uint64_t)delay_us * 1000u;

  // The TUN device is created in the namespace the process is in when it
  // attaches; the fd keeps working after the process moves on.
  int fds[2];
  fds[0] = OpenTun(argv[2]);
  if (fds[0] < 0) {
    fprintf(stderr, "delay_relay: attach %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  int ns = open(argv[3], O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
    fprintf(stderr, "delay_relay: enter %s: %s\n", argv[3], strerror(errno));
    return 1;
  }
  close(ns);
  fds[1] = OpenTun(argv[4]);
  if (fds[1] < 0) {
    fprintf(stderr, "delay_relay: attach %s: %s\n", argv[4], strerror(errno));
    return 1;
  }

  // Default timer slack (50 us) would add up to 50 us to every hold.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  // Signals are blocked except inside ppoll, so a request is never missed
  // between the flag check and the wait.
  sigset_t blocked;
  sigset_t during_wait;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGHUP);
  sigprocmask(SIG_BLOCK, &blocked, &during_wait);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  fprintf(stderr, "delay_relay: ready, %ld us each way between %s and %s\n", delay_us, argv[2],
          argv[4]);
  struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
  while (!stop_requested) {
    uint64_t now = NowNs();
    Flush(&queues[0], fds[1], now);
    Flush(&queues[1], fds[0], now);
    if (report_requested) {
      report_requested = 0;
      Report();
    }
    if (reload_requested) {
      reload_requested = 0;
      long us = delay_file != NULL ? ReadDelay(delay_file) : -1;
      if (us >= 0) {
        delay_ns = (uint64_t)us * 1000u;
        fprintf(stderr, "delay_relay: delay now %ld us each way\n", us);
      } else {
        fprintf(stderr, "delay_relay: SIGHUP: no valid delay in %s; kept %llu us\n",
                delay_file != NULL ? delay_file : "(no DELAY_FILE)",
                (unsigned long long)(delay_ns / 1000u));
      }
    }
    uint64_t next = UINT64_MAX;
    for (int d = 0; d < 2; d++) {
      const struct Queue* q = &queues[d];
      if (q->count > 0 && q->slots[q->head].due_ns < next) next = q->slots[q->head].due_ns;
    }
    struct timespec wait;
    struct timespec* timeout = NULL;
    if (next != UINT64_MAX) {
      uint64_t left = next > now ? next - now : 0;
      wait.tv_sec = (time_t)(left / 1000000000u);
      wait.tv_nsec = (long)(left % 1000000000u);
      timeout = &wait;
    }
    if (ppoll(pfd, 2, timeout, &during_wait) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "delay_relay: poll: %s\n", strerror(errno));
      return 1;
    }
    now = NowNs();
    for (int d = 0; d < 2; d++) {
      if (pfd[d].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        fprintf(stderr, "delay_relay: device %s went away\n", d == 0 ? argv[2] : argv[4]);
        Report();
        return 1;
      }
      if (pfd[d].revents & POLLIN) Drain(fds[d], &queues[d], now + delay_ns);
    }
  }
  Report();
  return 0;
}
