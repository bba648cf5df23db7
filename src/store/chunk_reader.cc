// ReadChunk: open, one vectored transfer of header + first segment straight
// into the caller's buffer, header checks, remaining segments, checksum.
// Each segment is hashed right after it lands, while it is still in cache.
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

  Xxh3Stream hash;
  ChunkHeader header;
  bool header_checked = false;
  size_t pos = 0;
  const size_t total = pieces.total();
  const size_t seg = opts.segment_bytes;
  std::vector<std::vector<struct iovec>> iovs(std::max<unsigned>(1, opts.segments_in_flight));
  std::vector<IoOp> ops(iovs.size());
  std::vector<size_t> ends(iovs.size());
  while (!header_checked || pos < total) {
    size_t n = header_checked ? iovs.size() : 1;
    size_t count = 0;
    size_t group_begin = pos;
    for (; count < n && (pos < total || !header_checked); ++count) {
      auto& v = iovs[count];
      v.clear();
      uint64_t offset = hdr_size + pos;
      if (!header_checked && count == 0) {
        v.push_back(iovec{ctx->header.data(), hdr_size});
        offset = 0;
      }
      size_t end = std::min(total, pos + seg);
      pieces.Slice(pos, end, &v);
      ops[count] = IoOp{file.get(), false, offset, v.data(), static_cast<int>(v.size()), 0, {}};
      ends[count] = end;
      pos = end;
    }
    ctx->backend->Execute(ops.data(), count);
    size_t begin = group_begin;
    for (size_t k = 0; k < count; ++k) {
      if (!ops[k].status.ok()) return ops[k].status;
      size_t expected = ends[k] - begin;
      if (!header_checked && k == 0) {
        size_t got_header = std::min(ops[k].transferred, hdr_size);
        VerifyError why = VerifyError::kNone;
        if (!DecodeHeader(ctx->header.data(), got_header, &header, &why).ok()) {
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
        header_checked = true;
        expected += hdr_size;
      }
      if (ops[k].transferred < expected) return reject(VerifyError::kTruncated, &info);
      if (opts.verify) pieces.Hash(begin, ends[k], &hash);
      begin = ends[k];
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
