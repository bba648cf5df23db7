// Do the request patterns of kvtier's loads cost a FUSE filesystem more than
// the built-in tier's? Reads every FILE once, THREADS at a time, with
// O_DIRECT, in one of four patterns, and prints GB/s (compare the daemons'
// CPU time around each run, as bench/RESULTS.md does):
//   whole     one pread of the whole file (vLLM's built-in `fs` tier)
//   split     header + first SEGMENT, then the rest (the thread pool)
//   uring     io_uring: header + first SEGMENT and every further SEGMENT in
//             flight at once, cut at payload offsets (kvtier before ba8bc23)
//   uring-al  the same, cut at file offsets that are multiples of SEGMENT
// The header is 4 KiB, as in a kvtier chunk of a short key.
//
//   cc -O2 -pthread bench/fuse_read_patterns.c -luring -o /tmp/fuse_read_patterns
//   /tmp/fuse_read_patterns MODE THREADS FILE_BYTES SEGMENT FILE...
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kHeader = 4096, kRing = 64 };

static const char* mode;
static char** files;
static int nfiles;
static size_t file_bytes, segment;
static int next_file;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void Die(const char* what) {
  perror(what);
  exit(1);
}

static void Read(int fd, char* buf, size_t n, size_t off) {
  if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) Die("pread");
}

// Submits reads of [0, file_bytes) cut as `mode` says and waits for all.
static void ReadUring(struct io_uring* ring, int fd, char* buf) {
  const size_t first = strcmp(mode, "uring-al") == 0 ? segment : segment + kHeader;
  int n = 0;
  for (size_t off = 0; off < file_bytes; n++) {
    size_t len = off == 0 ? first : segment;
    if (off + len > file_bytes) len = file_bytes - off;
    struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (sqe == NULL) Die("io_uring_get_sqe (raise kRing)");
    io_uring_prep_read(sqe, fd, buf + off, (unsigned)len, off);
    off += len;
  }
  io_uring_submit(ring);
  for (int k = 0; k < n; k++) {
    struct io_uring_cqe* cqe;
    if (io_uring_wait_cqe(ring, &cqe) != 0 || cqe->res <= 0) Die("io_uring read");
    io_uring_cqe_seen(ring, cqe);
  }
}

static void* Worker(void* arg) {
  (void)arg;
  char* buf;
  if (posix_memalign((void**)&buf, 4096, file_bytes + 4096) != 0) Die("posix_memalign");
  struct io_uring ring;
  if (io_uring_queue_init(kRing, &ring, 0) != 0) Die("io_uring_queue_init");
  for (;;) {
    pthread_mutex_lock(&mu);
    const int i = next_file++;
    pthread_mutex_unlock(&mu);
    if (i >= nfiles) break;
    int fd = open(files[i], O_RDONLY | O_DIRECT);
    if (fd < 0) Die(files[i]);
    if (strcmp(mode, "whole") == 0) {
      Read(fd, buf, file_bytes, 0);
    } else if (strcmp(mode, "split") == 0) {
      Read(fd, buf, segment + kHeader, 0);
      Read(fd, buf + segment + kHeader, file_bytes - segment - kHeader, segment + kHeader);
    } else {
      ReadUring(&ring, fd, buf);
    }
    close(fd);
  }
  io_uring_queue_exit(&ring);
  free(buf);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s whole|split|uring|uring-al THREADS FILE_BYTES SEGMENT FILE...\n",
            argv[0]);
    return 2;
  }
  mode = argv[1];
  const int threads = atoi(argv[2]);
  file_bytes = strtoull(argv[3], NULL, 0);
  segment = strtoull(argv[4], NULL, 0);
  files = argv + 5;
  nfiles = argc - 5;
  if (threads < 1 || threads > 256 || segment % 4096 != 0 || segment == 0 ||
      file_bytes < segment + kHeader) {
    fprintf(stderr,
            "need 1-256 threads, SEGMENT a multiple of 4096, FILE_BYTES > SEGMENT + 4096\n");
    return 2;
  }
  pthread_t th[256];
  const double t0 = Now();
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, Worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  const double secs = Now() - t0;
  printf("%-8s threads=%d files=%d %.3f s %.3f GB/s\n", mode, threads, nfiles, secs,
         (double)file_bytes * nfiles / secs / 1e9);
  return 0;
}
