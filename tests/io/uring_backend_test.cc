// The io_uring backend against real files and pipes: data and per-op
// results, the ring refilled as ops complete (not batch by batch), and every
// error path (failed transfer, short read, fault-env file, a ring that
// refuses submissions) returning with nothing queued or in flight.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "env/fault_injection_env.h"
#include "io/io_backend.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

using kvtier::testing::Payload;
using kvtier::testing::ScratchDir;

constexpr size_t kSeg = 64 * 1024;

std::unique_ptr<IoBackend> Uring(unsigned depth, UringSubmitFn submit = nullptr) {
  std::unique_ptr<IoBackend> b;
  Status s = NewUringBackend(depth, &b, submit);
  if (!s.ok()) return nullptr;
  return b;
}

#define REQUIRE_URING(b) \
  if ((b) == nullptr) GTEST_SKIP() << "io_uring not available here"

void WriteFile(const std::string& path, const std::vector<char>& data) {
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(path, kOpenWrite | kOpenCreateExclusive, &f).ok());
  struct iovec iov {
    const_cast<char*>(data.data()), data.size()
  };
  ASSERT_TRUE(f->WriteV(0, &iov, 1).ok());
}

// n segment reads of `file` into `out` (n * kSeg bytes), each op's index
// recorded as on_done reports it.
struct Reads {
  Reads(File* file, size_t n) : out(n * kSeg, 'S'), iovs(n), ops(n) {
    for (size_t k = 0; k < n; ++k) {
      iovs[k] = iovec{out.data() + k * kSeg, kSeg};
      ops[k] = IoOp{file, false, k * kSeg, &iovs[k], 1, 0, {}};
    }
    done_fn = [this](size_t k) { done.push_back(k); };
  }
  void Run(IoBackend* b) { b->Execute(ops.data(), ops.size(), &done_fn); }
  // Each index reported once.
  bool EachDoneOnce() const {
    std::vector<int> seen(ops.size(), 0);
    for (size_t k : done) {
      if (k >= ops.size() || seen[k]++ != 0) return false;
    }
    return done.size() == ops.size();
  }
  std::vector<char> out;
  std::vector<struct iovec> iovs;
  std::vector<IoOp> ops;
  std::vector<size_t> done;
  IoDoneFn done_fn;
};

TEST(UringBackend, ReadsEverySegmentMoreThanTheDepth) {
  auto b = Uring(8);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(40 * kSeg, 1);
  WriteFile(dir.path() + "/f", data);
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/f", kOpenRead, &f).ok());
  for (int round = 0; round < 3; ++round) {  // the same ring, reused
    Reads r(f.get(), 40);
    r.Run(b.get());
    for (const IoOp& op : r.ops) {
      EXPECT_TRUE(op.status.ok()) << op.status.ToString();
      EXPECT_EQ(op.transferred, kSeg);
    }
    EXPECT_TRUE(r.EachDoneOnce());
    EXPECT_EQ(r.out, data);
  }
}

TEST(UringBackend, WritesThenReadsBack) {
  auto b = Uring(4);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(13 * kSeg, 2);
  std::unique_ptr<File> w;
  ASSERT_TRUE(
      Env::Default()->OpenFile(dir.path() + "/w", kOpenWrite | kOpenCreateExclusive, &w).ok());
  std::vector<struct iovec> iovs(13);
  std::vector<IoOp> ops(13);
  for (size_t k = 0; k < 13; ++k) {
    iovs[k] = iovec{const_cast<char*>(data.data()) + k * kSeg, kSeg};
    ops[k] = IoOp{w.get(), true, k * kSeg, &iovs[k], 1, 0, {}};
  }
  b->Execute(ops.data(), ops.size(), nullptr);
  for (const IoOp& op : ops) {
    EXPECT_TRUE(op.status.ok()) << op.status.ToString();
    EXPECT_EQ(op.transferred, kSeg);
  }
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/w", kOpenRead, &f).ok());
  Reads r(f.get(), 13);
  r.Run(b.get());
  EXPECT_EQ(r.out, data);
}

TEST(UringBackend, ShortReadAtEndOfFile) {
  auto b = Uring(8);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(kSeg + kSeg / 2 + 7, 3);  // ends inside the second segment
  WriteFile(dir.path() + "/f", data);
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/f", kOpenRead, &f).ok());
  Reads r(f.get(), 4);
  r.Run(b.get());
  EXPECT_TRUE(r.EachDoneOnce());
  const size_t want[] = {kSeg, kSeg / 2 + 7, 0, 0};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_TRUE(r.ops[k].status.ok()) << k << ": " << r.ops[k].status.ToString();
    EXPECT_EQ(r.ops[k].transferred, want[k]) << k;
  }
  EXPECT_EQ(std::memcmp(r.out.data(), data.data(), data.size()), 0);
  EXPECT_EQ(r.out[data.size()], 'S');  // nothing written past the end of file
}

TEST(UringBackend, FailedTransfersFailTheirOpsOnly) {
  auto b = Uring(8);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(20 * kSeg, 4);
  WriteFile(dir.path() + "/good", data);
  // Reading a descriptor opened for writing only: every CQE is -EBADF.
  std::unique_ptr<File> wonly;
  ASSERT_TRUE(Env::Default()
                  ->OpenFile(dir.path() + "/wonly", kOpenWrite | kOpenCreateExclusive, &wonly)
                  .ok());
  std::unique_ptr<File> good;
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/good", kOpenRead, &good).ok());
  Reads r(good.get(), 20);
  for (size_t k = 0; k < 20; k += 3) r.ops[k].file = wonly.get();
  r.Run(b.get());
  EXPECT_TRUE(r.EachDoneOnce());
  for (size_t k = 0; k < 20; ++k) {
    if (k % 3 == 0) {
      EXPECT_EQ(r.ops[k].status.err(), EBADF) << k << ": " << r.ops[k].status.ToString();
      EXPECT_EQ(r.ops[k].transferred, 0u);
    } else {
      EXPECT_TRUE(r.ops[k].status.ok()) << k;
      EXPECT_EQ(std::memcmp(r.out.data() + k * kSeg, data.data() + k * kSeg, kSeg), 0) << k;
    }
  }
  // Nothing of that call is left in the ring: the next one sees only its own.
  Reads again(good.get(), 20);
  again.Run(b.get());
  EXPECT_TRUE(again.EachDoneOnce());
  EXPECT_EQ(again.out, data);
}

TEST(UringBackend, FaultEnvFilesRunThroughTheWrapperBesideKernelOps) {
  auto b = Uring(8);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(16 * kSeg, 5);
  WriteFile(dir.path() + "/f", data);
  FaultInjectionEnv fenv(Env::Default());
  std::unique_ptr<File> wrapped;
  std::unique_ptr<File> plain;
  ASSERT_TRUE(fenv.OpenFile(dir.path() + "/f", kOpenRead, &wrapped).ok());
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/f", kOpenRead, &plain).ok());
  ASSERT_LT(wrapped->NativeHandle(), 0);

  fenv.SetShortTransfer(1000);  // every wrapped read comes back in 1000-byte steps
  Reads r(plain.get(), 16);
  for (size_t k = 0; k < 16; k += 2) r.ops[k].file = wrapped.get();
  r.Run(b.get());
  EXPECT_TRUE(r.EachDoneOnce());
  for (const IoOp& op : r.ops) EXPECT_TRUE(op.status.ok() && op.transferred == kSeg);
  EXPECT_EQ(r.out, data);

  fenv.SetError(FaultOp::kRead, EIO);
  Reads bad(plain.get(), 16);
  for (size_t k = 0; k < 16; k += 2) bad.ops[k].file = wrapped.get();
  bad.Run(b.get());
  EXPECT_TRUE(bad.EachDoneOnce());
  for (size_t k = 0; k < 16; ++k) {
    if (k % 2 == 0) {
      EXPECT_EQ(bad.ops[k].status.err(), EIO) << k;
    } else {
      EXPECT_TRUE(bad.ops[k].status.ok()) << k;
    }
  }
}

// A ring that refuses submissions: a stand-in for io_uring_submit that
// fails the next `g_refuse` calls (then submits for real), noting how many
// entries were waiting in the submission queue at each call.
std::atomic<int> g_refuse{0};
std::atomic<int> g_calls{0};
std::atomic<unsigned> g_max_ready{0};
int RefusingSubmit(struct io_uring* ring) {
  g_calls.fetch_add(1);
  unsigned ready = io_uring_sq_ready(ring);
  if (ready > g_max_ready.load()) g_max_ready.store(ready);
  if (g_refuse.load() > 0) {
    g_refuse.fetch_sub(1);
    return -EAGAIN;
  }
  return io_uring_submit(ring);
}

TEST(UringBackend, RefusedSubmissionsRunSynchronouslyAndLeaveTheRingEmpty) {
  auto b = Uring(8, &RefusingSubmit);
  REQUIRE_URING(b);
  ScratchDir dir;
  const auto data = Payload(24 * kSeg, 6);
  WriteFile(dir.path() + "/f", data);
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(dir.path() + "/f", kOpenRead, &f).ok());

  // Refused a few times, then accepted: the retries carry the ops through.
  g_refuse = 2;
  Reads retried(f.get(), 24);
  retried.Run(b.get());
  EXPECT_TRUE(retried.EachDoneOnce());
  EXPECT_EQ(retried.out, data);

  // Refused for good: every op still completes (synchronously), and the
  // entries queued in the refusing ring are never sent later.
  g_refuse = 1000000;
  {
    Reads refused(f.get(), 24);
    refused.Run(b.get());
    EXPECT_TRUE(refused.EachDoneOnce());
    for (const IoOp& op : refused.ops) EXPECT_TRUE(op.status.ok() && op.transferred == kSeg);
    EXPECT_EQ(refused.out, data);
  }  // its buffers and ops are gone now; a stale entry would point at them
  g_refuse = 0;
  g_calls = 0;
  g_max_ready = 0;
  Reads after(f.get(), 24);
  after.Run(b.get());
  EXPECT_TRUE(after.EachDoneOnce());
  EXPECT_EQ(after.out, data);
  EXPECT_GT(g_calls.load(), 0);       // through the ring again, not all synchronous
  EXPECT_LE(g_max_ready.load(), 8u);  // never more than the depth waiting
}

// A File over a pipe's read end: a read completes only when the test writes
// to that pipe, so the test decides the order in which ops complete.
class PipeFile final : public File {
 public:
  PipeFile() { ok_ = ::pipe(fds_) == 0; }
  ~PipeFile() override {
    if (ok_) {
      ::close(fds_[0]);
      ::close(fds_[1]);
    }
  }
  bool ok() const { return ok_; }
  void Feed(char c) { EXPECT_EQ(::write(fds_[1], &c, 1), 1); }
  Status ReadV(uint64_t, const struct iovec* iov, int iovcnt, size_t* got) override {
    ssize_t n = ::readv(fds_[0], iov, iovcnt);
    *got = n > 0 ? static_cast<size_t>(n) : 0;
    return n < 0 ? PosixError("readv", errno) : Status::OK();
  }
  Status WriteV(uint64_t, const struct iovec*, int) override { return Status::NotSupported("x"); }
  Status Sync() override { return Status::OK(); }
  Status Stat(FileInfo*) override { return Status::NotSupported("x"); }
  Status SetAccessTime(int64_t) override { return Status::NotSupported("x"); }
  int NativeHandle() const override { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
  bool ok_ = false;
};

TEST(UringBackend, RefillsAsOpsCompleteNotBatchByBatch) {
  // Depth 2, four one-byte reads on four pipes. Op 1 completes while op 0
  // is still waiting: op 2 must be submitted then (a batch-at-a-time
  // engine would wait for op 0 first and never submit again here).
  auto b = Uring(2, &RefusingSubmit);
  REQUIRE_URING(b);
  g_refuse = 0;
  g_calls = 0;
  PipeFile pipes[4];
  for (auto& p : pipes) ASSERT_TRUE(p.ok());
  char out[4] = {};
  struct iovec iovs[4];
  IoOp ops[4];
  for (size_t k = 0; k < 4; ++k) {
    iovs[k] = iovec{&out[k], 1};
    ops[k] = IoOp{&pipes[k], false, 0, &iovs[k], 1, 0, {}};
  }
  std::atomic<bool> refilled{false};
  std::thread feeder([&] {
    while (g_calls.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    pipes[1].Feed('b');
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (g_calls.load() < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    refilled = g_calls.load() >= 2;
    pipes[2].Feed('c');
    pipes[0].Feed('a');
    pipes[3].Feed('d');
  });
  std::vector<size_t> order;
  IoDoneFn done = [&](size_t k) { order.push_back(k); };
  b->Execute(ops, 4, &done);
  feeder.join();
  EXPECT_TRUE(refilled.load()) << "op 2 waited for op 0";
  EXPECT_EQ(std::string(out, 4), "abcd");
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], 1u);  // handed over as it landed, before op 0
}

TEST(UringBackend, StoreLoadsManySegmentsInOrderOfTheChecksum) {
  // 1 MiB chunks in 4 KiB segments: 257 transfers per chunk through a ring
  // of 8, landing in any order, hashed in payload order. A flipped byte deep
  // in the payload must still be caught.
  ScratchDir dir;
  StoreOptions opts;
  opts.io_backend = IoBackendKind::kUring;
  opts.direct_io = DirectIoMode::kOn;
  opts.segment_bytes = 4096;
  opts.read_threads = 2;
  opts.write_threads = 1;
  opts.lookup_cache_ns = 0;
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir.path(), kvtier::testing::TestFingerprint(), opts, &store);
  if (!s.ok()) GTEST_SKIP() << "io_uring + O_DIRECT not available here: " << s.ToString();
  ASSERT_STREQ(store->io_backend_name(), "io_uring");
  const size_t len = (1 << 20) + 1000;  // and an unaligned tail
  for (uint32_t i = 0; i < 6; ++i) {
    auto data = Payload(len, 100 + i);
    ASSERT_TRUE(store->Put("k" + std::to_string(i), data.data(), len));
  }
  std::vector<char> out(len);
  for (uint32_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(store->Get("k" + std::to_string(i), out.data(), len)) << i;
    EXPECT_EQ(out, Payload(len, 100 + i)) << i;
  }
  const std::string path = LocateChunk(store->namespace_dir(), "k3").path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 700 * 1024);  // payload offset (one 4 KiB header) + 700 KiB
    f.put(static_cast<char>(0x5a ^ Payload(len, 103)[700 * 1024]));
  }
  EXPECT_FALSE(store->Get("k3", out.data(), len));
  EXPECT_TRUE(store->Get("k4", out.data(), len));
}

}  // namespace
}  // namespace kvtier
