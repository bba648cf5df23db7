// The FUSE store rule's round-trip probe (src/io/direct_probe.h) against the
// one it replaced, side by side on one directory: every round runs both,
// the order alternating, and prints what each measured and how long it took.
// The old probe took the least of 5 lookups back to back; the new one spreads
// up to 16 over 500 ms (pauses doubling from 2 ms) and stops at the first
// under the threshold. On a
// mount whose server is near (MooseFS without added delay) every answer
// should be under the threshold; the count of rounds where it is not is the
// count of Opens that would have stored buffered by mistake.
//
//   kvtier-rtt-probe-bench DIR [ROUNDS (40)] [PAUSE_MS between rounds (250)]
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "io/direct_probe.h"
#include "io/io_choice.h"

namespace {

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one;
}

}  // namespace

int main(int argc, char** argv) {
  using kvtier::RoundTripPlan;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [ROUNDS] [PAUSE_MS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 40;
  const int pause_ms = argc > 3 ? std::atoi(argv[3]) : 250;
  kvtier::Env* env = kvtier::Env::Default();
  const int64_t threshold = kvtier::AutoIoFor(kvtier::FsClass::kFuse).store_direct_below_rtt_ns;
  const RoundTripPlan plans[2] = {
      {5, 0, 0, std::numeric_limits<int64_t>::max(), 0},  // before: 5 back to back
      kvtier::DefaultRoundTripPlan(threshold),
  };
  const char* names[2] = {"five_back_to_back", "spread"};
  int far[2] = {0, 0};
  std::printf("# threshold %lld ns, %d rounds\n", static_cast<long long>(threshold), rounds);
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const int p = (r + k) % 2;
      const uint64_t t0 = env->MonotonicNanos();
      const int64_t ns = kvtier::ProbeRoundTripNs(env, dir, 1000 + r, plans[p]);
      const uint64_t spent = env->MonotonicNanos() - t0;
      if (ns < 0) {
        std::fprintf(stderr, "cannot open %s\n", dir.c_str());
        return 1;
      }
      if (ns >= threshold) ++far[p];
      std::printf("round %d load %s %s least_us %.1f spent_ms %.2f %s\n", r, LoadAverage().c_str(),
                  names[p], ns / 1e3, spent / 1e6, ns < threshold ? "near" : "FAR");
    }
    std::fflush(stdout);
    ::usleep(static_cast<useconds_t>(pause_ms) * 1000);
  }
  for (int p = 0; p < 2; ++p) {
    std::printf("%s: %d of %d rounds at or above the threshold\n", names[p], far[p], rounds);
  }
  return 0;
}
