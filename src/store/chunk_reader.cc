// ReadChunk: open, one vectored transfer of header + first segment straight
// into the caller's buffer, header checks, remaining segments, checksum.
#include <cerrno>
#include <cstring>
#include <vector>

#include "store/chunk_io.h"
#include "store/payload_pieces.h"

namespace kvtier {

bool MaybeTouch(Env* env, File* file, const FileInfo& info, int64_t interval_ns) {
  int64_t now = env->NowNanos();
  if (now - info.atime_ns < interval_ns) return false;
  return file->SetAccessTime(now).ok();
}

namespace {

// Removes a rejected file, but only if the name still points at the inode we
// read: a writer may have published a good chunk there in the meantime.
bool RemoveIfSame(Env* env, const std::string& path, const FileInfo& read_info) {
  FileInfo now;
  if (!env->Stat(path, &now).ok()) return false;
  if (now.dev != read_info.dev || now.ino != read_info.ino) return false;
  return env->Unlink(path).ok();
}

}  // namespace

Status ReadChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts, const std::string& path,
                 std::string_view key, void* buf, size_t len, ReadOutcome* outcome) {
  auto reject = [&](VerifyError why, const FileInfo* info) {
    outcome->why = why;
    if (opts.remove_corrupt) {
      if (info != nullptr) {
        outcome->removed = RemoveIfSame(env, path, *info);
      } else {
        // A symlink under a chunk name: unlinking the link is safe.
        outcome->removed = env->Unlink(path).ok();
      }
    }
    return Status::Corruption(std::string(VerifyErrorName(why)) + ": " + path);
  };

  bool direct = opts.direct && IsAligned(buf, kBlockSize);
  std::unique_ptr<File> file;
  Status s = env->OpenFile(path, kOpenRead | (direct ? kOpenDirect : 0u), &file);
  if (!s.ok() && direct && s.err() == EINVAL) {
    direct = false;
    s = env->OpenFile(path, kOpenRead, &file);
  }
  if (!s.ok()) {
    if (s.err() == ELOOP) return reject(VerifyError::kNotRegularFile, nullptr);
    return s;
  }
  outcome->used_direct = direct;
  FileInfo info;
  s = file->Stat(&info);
  if (!s.ok()) return s;
  if (!info.IsRegular()) {
    outcome->why = VerifyError::kNotRegularFile;  // a directory or device: leave it
    return Status::Corruption("not a regular file: " + path);
  }

  const size_t hdr_size = HeaderSize(key.size());
  ctx->header.Reserve(hdr_size);
  if (ctx->header.data() == nullptr) return Status::IOError("out of memory", ENOMEM);
  char* out = static_cast<char*>(buf);
  const size_t main = direct ? len / kBlockSize * kBlockSize : len;
  PayloadPieces pieces;
  pieces.Add(out, main, main);
  if (len > main) pieces.Add(ctx->tail.data(), kBlockSize, len - main);

  // Transfer plan. Buffered: segments small enough to hash while still in
  // cache. O_DIRECT with io_uring: segments all in flight at once, each
  // hashed as it lands while the rest are still moving. O_DIRECT with the
  // thread pool: one transfer for the whole chunk, so the kernel keeps the
  // device busy with all of it.
  const size_t total = pieces.total();
  size_t seg = (!direct || opts.pipelined || opts.memory_fs) ? opts.segment_bytes : total;
  if (seg == 0) seg = 1;  // empty payload: the header transfer is all there is
  Xxh3Stream hash;

  // Header and first segment in one vectored call, then the header checks,
  // so a foreign or damaged file costs one transfer, not a whole chunk.
  const size_t first_end = std::min(total, seg);
  std::vector<struct iovec> head;
  head.push_back(iovec{ctx->header.data(), hdr_size});
  pieces.Slice(0, first_end, &head);
  IoOp first{file.get(), false, 0, head.data(), static_cast<int>(head.size()), 0, {}};
  ctx->backend->Execute(&first, 1, nullptr);
  if (!first.status.ok()) return first.status;
  ChunkHeader header;
  VerifyError why = VerifyError::kNone;
  if (!DecodeHeader(ctx->header.data(), std::min(first.transferred, hdr_size), &header, &why)
           .ok()) {
    return reject(why, &info);
  }
  if (header.key != key) return reject(VerifyError::kKeyMismatch, &info);
  if (header.fingerprint != opts.fingerprint) {
    return reject(VerifyError::kFingerprintMismatch, &info);
  }
  if (header.payload_length != len) return reject(VerifyError::kLengthMismatch, &info);
  if (opts.verify && header.checksum_type != ChecksumType::kXxh3_128) {
    return reject(VerifyError::kPayloadChecksum, &info);
  }
  if (first.transferred < hdr_size + first_end) return reject(VerifyError::kTruncated, &info);
  if (opts.verify) pieces.Hash(0, first_end, &hash);

  const size_t rest = (total - first_end + seg - 1) / seg;
  std::vector<std::vector<struct iovec>> iovs(rest);
  std::vector<IoOp> ops(rest);
  std::vector<size_t> begins(rest);
  for (size_t k = 0, pos = first_end; k < rest; ++k, pos += seg) {
    begins[k] = pos;
    pieces.Slice(pos, std::min(total, pos + seg), &iovs[k]);
    ops[k] = IoOp{
        file.get(), false, hdr_size + pos, iovs[k].data(), static_cast<int>(iovs[k].size()), 0, {}};
  }
  // Hash in payload order as segments complete (in any order).
  std::vector<char> landed(rest, 0);
  size_t next_hash = 0;
  IoDoneFn on_done = [&](size_t k) {
    landed[k] = 1;
    for (; next_hash < rest && landed[next_hash]; ++next_hash) {
      size_t b = begins[next_hash];
      size_t e = std::min(total, b + seg);
      if (opts.verify && ops[next_hash].status.ok() && ops[next_hash].transferred == e - b) {
        pieces.Hash(b, e, &hash);
      }
    }
  };
  if (rest > 0) ctx->backend->Execute(ops.data(), rest, &on_done);
  for (size_t k = 0; k < rest; ++k) {
    if (!ops[k].status.ok()) return ops[k].status;
    if (ops[k].transferred < std::min(total, begins[k] + seg) - begins[k]) {
      return reject(VerifyError::kTruncated, &info);
    }
  }
  if (opts.verify && hash.Digest() != header.payload_checksum) {
    return reject(VerifyError::kPayloadChecksum, &info);
  }
  if (len > main) std::memcpy(out + main, ctx->tail.data(), len - main);
  outcome->touched = MaybeTouch(env, file.get(), info, opts.touch_interval_ns);
  return Status::OK();
}

}  // namespace kvtier
