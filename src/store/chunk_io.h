// Reading and publishing one chunk file. These are the store's per-chunk
// algorithms; the scheduler calls them from worker threads, each with its own
// ChunkIoContext (backend and scratch buffers), so they need no locking.
#ifndef KVTIER_SRC_STORE_CHUNK_IO_H_
#define KVTIER_SRC_STORE_CHUNK_IO_H_

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/chunk_cipher.h"
#include "format/chunk_format.h"
#include "io/io_backend.h"
#include "kvtier/env.h"
#include "kvtier/store.h"
#include "layout/layout.h"
#include "store/buffer_gate.h"
#include "util/aligned_buffer.h"

namespace kvtier {

struct ChunkIoOptions {
  // O_DIRECT where buffers allow it, per direction: on FUSE loads win with
  // it and stores lose (io/io_choice.h).
  bool load_direct = false;
  bool store_direct = false;
  bool verify = true;    // check the payload checksum on reads
  bool durable = false;  // fsync file and directory on publish
  bool remove_corrupt = true;
  // Transfer units of loads and of buffered stores; checksums run per
  // segment.
  size_t load_segment_bytes = kDefaultSegmentBytes;
  size_t store_segment_bytes = kDefaultSegmentBytes;
  bool pipelined = false;  // the backend keeps several segments in flight
  // O_DIRECT on a memory filesystem (tmpfs) is a plain copy: treat it like
  // buffered I/O (in-cache segments) rather than like a device.
  bool memory_fs = false;
  // Loads land in the worker's staging buffer and are copied into the
  // caller's buffer through its gate: a read that returns after the job's
  // deadline then writes only into memory the store owns. Set when jobs have
  // deadlines and the filesystem can stall (not tmpfs/ramfs).
  bool staged = false;
  Hash128 fingerprint;
  uint64_t writer_id = 0;
  int64_t touch_interval_ns = 60LL * 1000 * 1000 * 1000;
  CreatePerms perms;  // of the fan-out directories and chunk files created
  // An authenticated namespace (auth_key_file): chunks are sealed with these
  // keys, and a load needs a chunk whose tag one of them verifies. Null:
  // plain chunks, checked by XXH3 only.
  std::shared_ptr<const NamespaceKeys> keys;
  // With keys: payloads are encrypted as well.
  bool encrypt = false;
  // With keys and no encryption: the MAC new chunks are sealed with (loads
  // accept either). Store::Open sets the one faster on this CPU
  // (FasterMacAlgorithm).
  AuthAlgorithm mac_alg = AuthAlgorithm::kChaCha20Poly1305;
};

struct ChunkIoContext {
  // Loads only. Publishes call File::WriteV directly: one vectored write
  // (O_DIRECT) or a run of in-cache segments leaves nothing to keep in
  // flight, and io_uring would punt allocating O_DIRECT writes to its
  // worker threads.
  std::unique_ptr<IoBackend> backend;
  AlignedBuffer header;
  AlignedBuffer tail{kBlockSize};
  AlignedBuffer staging;  // one chunk (staged loads); grows to the largest chunk read
  // Authenticated namespaces: the chunk cipher (made on first use) and,
  // for encrypted stores, one segment of ciphertext.
  std::unique_ptr<ChunkCipher> cipher;
  AlignedBuffer sealed;
  // The job's buffers as iovecs, for a request with pieces.
  std::vector<struct iovec> bufs;
};

// What happened, for metrics.
struct ReadOutcome {
  VerifyError why = VerifyError::kNone;
  bool removed = false;
  bool touched = false;
  bool used_direct = false;
};

struct WriteOutcome {
  bool existed = false;  // already published (by us or another writer)
  bool touched = false;
  bool used_direct = false;
};

// Returns OK with the verified payload in buf[0, len); NotFound on a plain
// miss; Corruption (outcome->why says which check) or IOError otherwise. On
// any non-OK result buf holds unspecified bytes and must not be used.
// `gate` (may be null: no deadline) guards buf: nothing is written into it
// unless the gate is open; a closed gate ends the read with ETIMEDOUT.
// `bufs` are the payload's pieces in order (their lengths add up to len):
// the payload is scattered into them. O_DIRECT lands in them only when each
// starts on a block and each but the last is a whole number of blocks.
Status ReadChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts, const std::string& path,
                 std::string_view key, std::span<const struct iovec> bufs, size_t len,
                 BufferGate* gate, ReadOutcome* outcome);
inline Status ReadChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts,
                        const std::string& path, std::string_view key, void* buf, size_t len,
                        BufferGate* gate, ReadOutcome* outcome) {
  const struct iovec one = {buf, len};
  return ReadChunk(env, ctx, opts, path, key, std::span<const struct iovec>(&one, 1), len, gate,
                   outcome);
}

// Publishes a chunk unless one is already there: a temp file in the leaf
// directory, written as one vectored write of header and payload (O_DIRECT
// from an aligned buffer) or as payload segments, each hashed just before
// it is written, then the header (buffered, or encrypted); then rename
// without replace. With opts.durable: the file is synced before the rename
// and the leaf directory after it, and directories it created are synced
// into their parents.
// `gate` (may be null) guards data: it is hashed only through the open gate,
// and the temp file is renamed into place only if the gate is still open
// after every write returned (else it is removed: ETIMEDOUT), so a chunk
// is never published from bytes the caller may have reused.
// `bufs` are the payload's pieces in order (their lengths add up to len),
// gathered into the one file; O_DIRECT under the same alignment rule as
// loads.
Status WriteChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts,
                  const ChunkLocation& loc, std::string_view key,
                  std::span<const struct iovec> bufs, size_t len, BufferGate* gate,
                  WriteOutcome* outcome);

// True when O_DIRECT can move the pieces themselves: each starts on a block
// and each but the last is a whole number of blocks (the last one's
// unaligned tail goes through a bounce block).
inline bool PiecesDirectable(std::span<const struct iovec> bufs) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    if (!IsAligned(bufs[i].iov_base, kBlockSize)) return false;
    if (i + 1 < bufs.size() && bufs[i].iov_len % kBlockSize != 0) return false;
  }
  return true;
}

// Sets the access time to now if it is older than the touch interval.
bool MaybeTouch(Env* env, File* file, const FileInfo& info, int64_t interval_ns);

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_CHUNK_IO_H_
