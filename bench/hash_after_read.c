// Is the load checksum slow because the bytes the kernel just copied are
// out of cache? Preads segments of a tmpfs file into a buffer, hashes each
// right after its read, then hashes it again: if the second pass is much
// faster, the first one paid for cache misses.
//
//   cc -O2 bench/hash_after_read.c -lxxhash -o /tmp/hash_after_read
//   /tmp/hash_after_read [/dev/shm/file]
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxh_x86dispatch.h>
#include <xxhash.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/dev/shm/kvtier-hash-after-read";
  const size_t file_bytes = 64u << 20;
  const int reps = 5;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  char* src = malloc(file_bytes);
  char* dst = aligned_alloc(4096, file_bytes);
  if (fd < 0 || src == NULL || dst == NULL) return 1;
  memset(src, 5, file_bytes);
  memset(dst, 0, file_bytes);
  if (pwrite(fd, src, file_bytes, 0) != (ssize_t)file_bytes) return 1;
  const size_t segments[] = {16u << 10, 64u << 10, 256u << 10, 512u << 10, 2u << 20};
  for (size_t i = 0; i < sizeof(segments) / sizeof(segments[0]); ++i) {
    const size_t seg = segments[i];
    double t_read = 0, t_first = 0, t_again = 0;
    volatile unsigned long long sink = 0;  // keeps the hashes from being optimized away
    for (int r = 0; r < reps; ++r) {
      for (size_t off = 0; off < file_bytes; off += seg) {
        double a = Now();
        if (pread(fd, dst + off, seg, (off_t)off) != (ssize_t)seg) return 1;
        double b = Now();
        sink += XXH3_128bits_dispatch(dst + off, seg).low64;
        double c = Now();
        sink ^= XXH3_128bits_dispatch(dst + off, seg).low64;
        double d = Now();
        t_read += b - a;
        t_first += c - b;
        t_again += d - c;
      }
    }
    const double gb = (double)reps * (double)file_bytes / 1e9;
    printf("segment %4zu KiB: pread %.1f GB/s, hash after read %.1f GB/s, hash again %.1f GB/s\n",
           seg >> 10, gb / t_read, gb / t_first, gb / t_again);
  }
  unlink(path);
  return 0;
}
