// The `auto` I/O rule: statfs f_type -> filesystem class -> choice. Each
// expectation is a measured (or argued) row of bench/RESULTS.md's `auto`
// table; changing the rule means changing the table.
#include "io/io_choice.h"

#include <gtest/gtest.h>
#include <sys/vfs.h>

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
    bool direct, uring;
  };
  const Row rows[] = {
      {FsClass::kMemory, false, false}, {FsClass::kLocalBlock, true, true},
      {FsClass::kFuse, false, false},   {FsClass::kNfs, false, false},
      {FsClass::kLustre, true, false},  {FsClass::kOther, true, false},
  };
  for (const Row& r : rows) {
    AutoIoRule rule = AutoIoFor(r.c);
    EXPECT_EQ(rule.try_direct, r.direct) << FsClassName(r.c);
    EXPECT_EQ(rule.uring_with_direct, r.uring) << FsClassName(r.c);
  }
}

TEST(IoChoice, NeverIoUringWithoutDirect) {
  // Buffered I/O is a page-cache copy on every class: io_uring only adds
  // io-wq hand-offs there, so no row may ask for it without O_DIRECT.
  for (FsClass c : {FsClass::kMemory, FsClass::kLocalBlock, FsClass::kFuse, FsClass::kNfs,
                    FsClass::kLustre, FsClass::kOther}) {
    AutoIoRule rule = AutoIoFor(c);
    EXPECT_FALSE(rule.uring_with_direct && !rule.try_direct) << FsClassName(c);
  }
}

TEST(IoChoice, StoreOnTmpfsPicksBufferedThreadPool) {
  // The rule as Store::Open applies it, on a real filesystem of known type.
  testing::TmpfsMount tmpfs("16m");
  if (!tmpfs.ok()) GTEST_SKIP() << "mounting a tmpfs is not permitted here";
  struct statfs st {};
  ASSERT_EQ(::statfs(tmpfs.path().c_str(), &st), 0);
  ASSERT_EQ(ClassifyFs(st.f_type), FsClass::kMemory);
  std::unique_ptr<Store> store = testing::OpenStore(tmpfs.path());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->direct_io());
  EXPECT_STREQ(store->io_backend_name(), "threadpool");
}

}  // namespace
}  // namespace kvtier
