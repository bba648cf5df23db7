#include "io/direct_probe.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "layout/layout.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace kvtier {

bool ProbeDirectIo(Env* env, const std::string& dir, uint64_t writer_id) {
  const std::string path =
      dir + "/" + kTempPrefix + "direct-probe." + HexEncode(&writer_id, sizeof(writer_id));
  std::unique_ptr<File> file;
  if (!env->OpenFile(path, kOpenRead | kOpenWrite | kOpenCreateExclusive | kOpenDirect, &file)
           .ok()) {
    return false;
  }
  AlignedBuffer block(4096);
  std::memset(block.data(), 0x5a, 4096);
  struct iovec iov = {block.data(), 4096};
  bool ok = file->WriteV(0, &iov, 1).ok();
  size_t got = 0;
  if (ok) {
    std::memset(block.data(), 0, 4096);
    ok = file->ReadV(0, &iov, 1, &got).ok() && got == 4096 &&
         static_cast<unsigned char>(block.data()[4095]) == 0x5a;
  }
  file.reset();
  env->Unlink(path);
  return ok;
}

RoundTripPlan DefaultRoundTripPlan(int64_t enough_ns) {
  constexpr int64_t kMs = 1000000;
  return {16, 2 * kMs, 64 * kMs, 500 * kMs, enough_ns};
}

int64_t LeastRoundTripNs(Env* env, const RoundTripPlan& plan,
                         const std::function<bool(int)>& lookup) {
  const uint64_t start = env->MonotonicNanos();
  int64_t best = -1;
  int64_t gap = plan.first_gap_ns;
  for (int i = 0; i < plan.max_lookups; ++i) {
    if (i > 0) {
      if (static_cast<int64_t>(env->MonotonicNanos() - start) + gap >= plan.budget_ns) break;
      env->SleepMicros(static_cast<uint64_t>(gap / 1000));
      gap = std::min(gap * 2, plan.max_gap_ns);
    }
    const uint64_t t0 = env->MonotonicNanos();
    if (!lookup(i)) break;
    const auto ns = static_cast<int64_t>(env->MonotonicNanos() - t0);
    if (best < 0 || ns < best) best = ns;
    if (best < plan.enough_ns) break;
  }
  return best;
}

int64_t ProbeRoundTripNs(Env* env, const std::string& dir, uint64_t writer_id,
                         const RoundTripPlan& plan) {
  std::unique_ptr<Dir> d;
  if (!env->OpenDir(dir, &d).ok()) return -1;
  const std::string base =
      std::string(kTempPrefix) + "rtt-probe." + HexEncode(&writer_id, sizeof(writer_id)) + ".";
  return LeastRoundTripNs(env, plan, [&](int i) {
    FileInfo info;
    d->Stat(base + std::to_string(i), &info);  // NotFound: the answer is the time
    return true;
  });
}

}  // namespace kvtier
