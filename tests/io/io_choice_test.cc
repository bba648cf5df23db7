// The `auto` I/O rule: statfs f_type -> filesystem class -> choice. Each
// expectation is a measured (or argued) row of bench/RESULTS.md's `auto`
// table; changing the rule means changing the table.
#include "io/io_choice.h"

#include <gtest/gtest.h>
#include <sys/vfs.h>

#include <algorithm>
#include <vector>

#include "io/direct_probe.h"

#include "test_util.h"

namespace kvtier {
namespace {

TEST(IoChoice, ClassifiesKnownMagics) {
  EXPECT_EQ(ClassifyFs(0x01021994), FsClass::kMemory);      // tmpfs
  EXPECT_EQ(ClassifyFs(0x858458f6), FsClass::kMemory);      // ramfs
  EXPECT_EQ(ClassifyFs(0xEF53), FsClass::kLocalBlock);      // ext2/3/4
  EXPECT_EQ(ClassifyFs(0x58465342), FsClass::kLocalBlock);  // xfs
  EXPECT_EQ(ClassifyFs(0x9123683E), FsClass::kLocalBlock);  // btrfs
  EXPECT_EQ(ClassifyFs(0x65735546), FsClass::kFuse);
  EXPECT_EQ(ClassifyFs(0x6969), FsClass::kNfs);
  EXPECT_EQ(ClassifyFs(0xFE534D42), FsClass::kNfs);  // smb2
  EXPECT_EQ(ClassifyFs(0x0BD00BD0), FsClass::kLustre);
  EXPECT_EQ(ClassifyFs(0x794c7630), FsClass::kOther);  // overlayfs
  EXPECT_EQ(ClassifyFs(0x47504653), FsClass::kOther);  // GPFS
  EXPECT_EQ(ClassifyFs(0), FsClass::kOther);
}

TEST(IoChoice, SignExtendedMagicStillMatches) {
  // f_type is a signed long: 0xFF534D42 (cifs) may arrive sign-extended.
  EXPECT_EQ(ClassifyFs(static_cast<int64_t>(static_cast<int32_t>(0xFF534D42))), FsClass::kNfs);
}

TEST(IoChoice, RulePerClass) {
  struct Row {
    FsClass c;
    bool load_direct, load_uring, store_direct;
  };
  const Row rows[] = {
      {FsClass::kMemory, false, false, false}, {FsClass::kLocalBlock, true, true, true},
      {FsClass::kFuse, true, true, false},     {FsClass::kNfs, false, false, false},
      {FsClass::kLustre, true, false, true},   {FsClass::kOther, true, false, true},
  };
  for (const Row& r : rows) {
    AutoIoRule rule = AutoIoFor(r.c);
    EXPECT_EQ(rule.load_direct, r.load_direct) << FsClassName(r.c);
    EXPECT_EQ(rule.load_uring, r.load_uring) << FsClassName(r.c);
    EXPECT_EQ(rule.store_direct, r.store_direct) << FsClassName(r.c);
  }
}

const FsClass kAllClasses[] = {FsClass::kMemory, FsClass::kLocalBlock, FsClass::kFuse,
                               FsClass::kNfs,    FsClass::kLustre,     FsClass::kOther};

TEST(IoChoice, SegmentSizeExplicitElseTheRulesElseTheDefault) {
  for (FsClass c : kAllClasses) {
    const AutoIoRule rule = AutoIoFor(c);
    const size_t want =
        rule.load_segment_bytes != 0 ? rule.load_segment_bytes : kDefaultSegmentBytes;
    const IoChoice io =
        ResolveIoChoice(rule, DirectIoMode::kAuto, IoBackendKind::kAuto, true, true, -1);
    EXPECT_EQ(io.load_segment_bytes, want) << FsClassName(c);
    // The rule's size is for loads; stores keep the default.
    EXPECT_EQ(io.store_segment_bytes, kDefaultSegmentBytes) << FsClassName(c);
    // An explicit size wins on every class, in both directions, whatever
    // else is explicit.
    for (DirectIoMode mode : {DirectIoMode::kAuto, DirectIoMode::kOn, DirectIoMode::kOff}) {
      const IoChoice x =
          ResolveIoChoice(rule, mode, IoBackendKind::kThreadPool, true, true, -1, 64 << 10);
      EXPECT_EQ(x.load_segment_bytes, size_t{64 << 10}) << FsClassName(c);
      EXPECT_EQ(x.store_segment_bytes, size_t{64 << 10}) << FsClassName(c);
    }
  }
  AutoIoRule custom = AutoIoFor(FsClass::kOther);
  custom.load_segment_bytes = 3 << 20;
  EXPECT_EQ(ResolveIoChoice(custom, DirectIoMode::kAuto, IoBackendKind::kAuto, true, true, -1)
                .load_segment_bytes,
            size_t{3} << 20);
  // FUSE: 2 MiB loads (io_choice.cc says why).
  EXPECT_EQ(AutoIoFor(FsClass::kFuse).load_segment_bytes, size_t{2} << 20);
}

TEST(IoChoice, NeverIoUringWithoutDirect) {
  // Buffered I/O is a page-cache copy on every class: io_uring only adds
  // io-wq hand-offs there, so no row may ask for it without O_DIRECT, and
  // `auto` never picks it when the O_DIRECT probe failed.
  for (FsClass c : kAllClasses) {
    AutoIoRule rule = AutoIoFor(c);
    EXPECT_FALSE(rule.load_uring && !rule.load_direct) << FsClassName(c);
    IoChoice io = ResolveIoChoice(rule, DirectIoMode::kAuto, IoBackendKind::kAuto,
                                  /*direct_ok=*/false, /*uring_ok=*/true, -1);
    EXPECT_FALSE(io.load_uring || io.load_direct || io.store_direct) << FsClassName(c);
  }
}

TEST(IoChoice, AutoOnFuseSplitsTheDirections) {
  const AutoIoRule fuse = AutoIoFor(FsClass::kFuse);
  EXPECT_TRUE(WantsDirectProbe(fuse, DirectIoMode::kAuto));
  IoChoice io = ResolveIoChoice(fuse, DirectIoMode::kAuto, IoBackendKind::kAuto, true, true, -1);
  EXPECT_TRUE(io.load_direct);
  EXPECT_TRUE(io.load_uring);
  EXPECT_FALSE(io.store_direct);
  // Without io_uring, loads keep O_DIRECT through the thread pool.
  io = ResolveIoChoice(fuse, DirectIoMode::kAuto, IoBackendKind::kAuto, true, false, -1);
  EXPECT_TRUE(io.load_direct);
  EXPECT_FALSE(io.load_uring);
  EXPECT_FALSE(io.store_direct);
  // An explicit backend keeps `auto` O_DIRECT per direction.
  io = ResolveIoChoice(fuse, DirectIoMode::kAuto, IoBackendKind::kThreadPool, true, true, -1);
  EXPECT_TRUE(io.load_direct);
  EXPECT_FALSE(io.load_uring);
  EXPECT_FALSE(io.store_direct);
}

TEST(IoChoice, FuseStoresDirectOnlyWhenTheServerIsNear) {
  // Direct stores on FUSE pay a round trip per piece: measured on MooseFS,
  // they win at ~0.1 ms (no added delay) and lose from ~1.2 ms on.
  const AutoIoRule fuse = AutoIoFor(FsClass::kFuse);
  EXPECT_TRUE(WantsRoundTripProbe(fuse, DirectIoMode::kAuto));
  EXPECT_FALSE(WantsRoundTripProbe(fuse, DirectIoMode::kOn));
  EXPECT_FALSE(WantsRoundTripProbe(fuse, DirectIoMode::kOff));
  const int64_t us = 1000;
  struct Row {
    int64_t rtt_ns;
    bool store_direct;
  };
  for (const Row& r : {Row{-1, false}, Row{100 * us, true}, Row{499 * us, true},
                       Row{500 * us, false}, Row{1200 * us, false}, Row{4300 * us, false}}) {
    IoChoice io =
        ResolveIoChoice(fuse, DirectIoMode::kAuto, IoBackendKind::kAuto, true, true, r.rtt_ns);
    EXPECT_EQ(io.store_direct, r.store_direct) << r.rtt_ns;
    EXPECT_TRUE(io.load_direct && io.load_uring) << r.rtt_ns;
  }
  // Near or not, no O_DIRECT where the probe failed, and none when asked off.
  EXPECT_FALSE(
      ResolveIoChoice(fuse, DirectIoMode::kAuto, IoBackendKind::kAuto, false, true, 100 * us)
          .store_direct);
  EXPECT_FALSE(ResolveIoChoice(fuse, DirectIoMode::kOff, IoBackendKind::kAuto, true, true, 100 * us)
                   .store_direct);
  // Classes without the rule never ask for the round trip.
  for (FsClass c : {FsClass::kMemory, FsClass::kNfs, FsClass::kLocalBlock, FsClass::kLustre}) {
    EXPECT_FALSE(WantsRoundTripProbe(AutoIoFor(c), DirectIoMode::kAuto)) << FsClassName(c);
  }
  EXPECT_FALSE(ResolveIoChoice(AutoIoFor(FsClass::kNfs), DirectIoMode::kAuto, IoBackendKind::kAuto,
                               true, true, 100 * us)
                   .store_direct);
}

TEST(IoChoice, ExplicitOptionsApplyToBothDirections) {
  for (FsClass c : kAllClasses) {
    const AutoIoRule rule = AutoIoFor(c);
    EXPECT_TRUE(WantsDirectProbe(rule, DirectIoMode::kOn)) << FsClassName(c);
    EXPECT_FALSE(WantsDirectProbe(rule, DirectIoMode::kOff)) << FsClassName(c);
    IoChoice on = ResolveIoChoice(rule, DirectIoMode::kOn, IoBackendKind::kUring, true, true, -1);
    EXPECT_TRUE(on.load_direct && on.store_direct && on.load_uring) << FsClassName(c);
    IoChoice off =
        ResolveIoChoice(rule, DirectIoMode::kOff, IoBackendKind::kThreadPool, false, false, -1);
    EXPECT_FALSE(off.load_direct || off.store_direct || off.load_uring) << FsClassName(c);
    // io_uring asked for explicitly runs buffered loads too.
    IoChoice uring_buffered =
        ResolveIoChoice(rule, DirectIoMode::kOff, IoBackendKind::kUring, false, true, -1);
    EXPECT_TRUE(uring_buffered.load_uring) << FsClassName(c);
    EXPECT_FALSE(uring_buffered.load_direct || uring_buffered.store_direct) << FsClassName(c);
  }
}

TEST(IoChoice, ProbeOnlyWhereAutoWantsDirect) {
  EXPECT_FALSE(WantsDirectProbe(AutoIoFor(FsClass::kMemory), DirectIoMode::kAuto));
  EXPECT_FALSE(WantsDirectProbe(AutoIoFor(FsClass::kNfs), DirectIoMode::kAuto));
  EXPECT_TRUE(WantsDirectProbe(AutoIoFor(FsClass::kLocalBlock), DirectIoMode::kAuto));
  EXPECT_TRUE(WantsDirectProbe(AutoIoFor(FsClass::kLustre), DirectIoMode::kAuto));
}

TEST(IoChoice, RoundTripProbeAnswersAndLeavesNothing) {
  test::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const int64_t ns = ProbeRoundTripNs(Env::Default(), dir.path(), 42, DefaultRoundTripPlan(0));
  EXPECT_GE(ns, 0);
  EXPECT_LT(ns, 1000LL * 1000 * 1000);  // a local lookup: far below a second
  std::vector<DirEntry> entries;
  ASSERT_TRUE(Env::Default()->ListDir(dir.path(), &entries).ok());
  EXPECT_TRUE(entries.empty());
  EXPECT_EQ(ProbeRoundTripNs(Env::Default(), dir.path() + "/missing", 42, DefaultRoundTripPlan(0)),
            -1);
}

// A clock that only the test moves: each scripted lookup takes its time,
// each pause its length, so the sampling is checked with injected timings.
class ScriptedClockEnv : public EnvWrapper {
 public:
  ScriptedClockEnv() : EnvWrapper(Env::Default()) {}
  uint64_t MonotonicNanos() override { return now_; }
  void SleepMicros(uint64_t micros) override {
    now_ += micros * 1000;
    ++pauses_;
  }
  void Advance(int64_t ns) { now_ += static_cast<uint64_t>(ns); }
  int pauses() const { return pauses_; }

 private:
  uint64_t now_ = 1000;
  int pauses_ = 0;
};

struct Sampled {
  int64_t least_ns;
  int lookups;
  int pauses;
};

// Runs the default plan (enough_ns: FUSE's threshold) over `times`, one per
// lookup; lookups past the script's end fail.
Sampled SampleScript(const std::vector<int64_t>& times) {
  ScriptedClockEnv env;
  int lookups = 0;
  const int64_t least = LeastRoundTripNs(
      &env, DefaultRoundTripPlan(AutoIoFor(FsClass::kFuse).store_direct_below_rtt_ns), [&](int i) {
        EXPECT_EQ(i, lookups);
        if (i >= static_cast<int>(times.size())) return false;
        env.Advance(times[i]);
        ++lookups;
        return true;
      });
  return {least, lookups, env.pauses()};
}

bool FuseStoresDirect(int64_t rtt_ns) {
  return ResolveIoChoice(AutoIoFor(FsClass::kFuse), DirectIoMode::kAuto, IoBackendKind::kAuto, true,
                         true, rtt_ns)
      .store_direct;
}

constexpr int64_t kUs = 1000;
constexpr int64_t kMs = 1000 * kUs;

TEST(RoundTripProbe, NearServerOnAnIdleMachineCostsOneLookup) {
  const Sampled s = SampleScript({100 * kUs, 100 * kUs});
  EXPECT_EQ(s.least_ns, 100 * kUs);
  EXPECT_EQ(s.lookups, 1);
  EXPECT_EQ(s.pauses, 0);
  EXPECT_TRUE(FuseStoresDirect(s.least_ns));
}

TEST(RoundTripProbe, NearServerOnALoadedMachineStillFound) {
  // The case that picked buffered stores at load 28: the first lookups all
  // held up by the scheduler (0.6-9 ms), one later one not.
  std::vector<int64_t> times = {900 * kUs, 2 * kMs,    600 * kUs, 9 * kMs,   3 * kMs,
                                700 * kUs, 1500 * kUs, 5 * kMs,   120 * kUs, 800 * kUs};
  const Sampled s = SampleScript(times);
  EXPECT_EQ(s.least_ns, 120 * kUs);
  EXPECT_EQ(s.lookups, 9);  // stopped at the first one under 0.5 ms
  EXPECT_EQ(s.pauses, 8);
  EXPECT_TRUE(FuseStoresDirect(s.least_ns));
  // What 5 lookups back to back concluded from the same first five.
  int64_t least_of_five = *std::min_element(times.begin(), times.begin() + 5);
  EXPECT_FALSE(FuseStoresDirect(least_of_five));
}

TEST(RoundTripProbe, FarServerIsNeverMistakenForNear) {
  // 0.5 ms per direction: every lookup at least ~1.1 ms, some delayed more;
  // the least stays far.
  std::vector<int64_t> times(20, 1200 * kUs);
  times[3] = 1100 * kUs;
  times[7] = 6 * kMs;
  const Sampled s = SampleScript(times);
  EXPECT_EQ(s.least_ns, 1100 * kUs);
  // 12 lookups and the pauses 2+4+...+64+64... between them fill 460 ms;
  // a 13th would start past 500.
  EXPECT_EQ(s.lookups, 12);
  EXPECT_EQ(s.pauses, 11);
  EXPECT_FALSE(FuseStoresDirect(s.least_ns));
}

TEST(RoundTripProbe, PausesDoubleToCoverLongStalls) {
  // A stall that holds every lookup for 90 ms and then clears: the pauses
  // (2, 4, 8 ... 64 ms) let later lookups land after it.
  const Sampled s = SampleScript({90 * kMs, 90 * kMs, 90 * kMs, 100 * kUs});
  EXPECT_EQ(s.least_ns, 100 * kUs);
  EXPECT_EQ(s.lookups, 4);
  EXPECT_EQ(s.pauses, 3);
  EXPECT_TRUE(FuseStoresDirect(s.least_ns));
}

TEST(RoundTripProbe, TimeBudgetBoundsAFarServer) {
  // 30 ms a lookup (a WAN-distant server): 9 lookups and 8 pauses
  // (2+4+8+16+32+64+64+64) end at 524 ms; the 9th started at 494.
  const Sampled s = SampleScript(std::vector<int64_t>(20, 30 * kMs));
  EXPECT_EQ(s.lookups, 9);
  EXPECT_EQ(s.least_ns, 30 * kMs);
  EXPECT_FALSE(FuseStoresDirect(s.least_ns));
}

TEST(RoundTripProbe, FailedLookupEndsTheSampling) {
  EXPECT_EQ(SampleScript({}).least_ns, -1);
  EXPECT_FALSE(FuseStoresDirect(-1));
  const Sampled s = SampleScript({2 * kMs, 3 * kMs});
  EXPECT_EQ(s.least_ns, 2 * kMs);
  EXPECT_EQ(s.lookups, 2);
}

TEST(IoChoice, StoreOnTmpfsPicksBufferedThreadPool) {
  // The rule as Store::Open applies it, on a real filesystem of known type.
  test::TmpfsMount tmpfs("16m");
  if (!tmpfs.ok()) GTEST_SKIP() << "mounting a tmpfs is not permitted here";
  struct statfs st {};
  ASSERT_EQ(::statfs(tmpfs.path().c_str(), &st), 0);
  ASSERT_EQ(ClassifyFs(st.f_type), FsClass::kMemory);
  std::unique_ptr<Store> store = test::OpenStore(tmpfs.path());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->load_direct_io());
  EXPECT_FALSE(store->store_direct_io());
  EXPECT_STREQ(store->io_backend_name(), "threadpool");
}

}  // namespace
}  // namespace kvtier
