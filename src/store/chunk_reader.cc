// ReadChunk: open, one vectored transfer of header + first segment straight
// into the caller's buffer (or, staged, into the worker's staging buffer),
// header checks, remaining segments, checksum (with io_uring and O_DIRECT up
// to kUringQueueDepth transfers are in flight, refilled as each completes and
// hashed in payload order as the contiguous prefix lands).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
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
                 std::string_view key, void* buf, size_t len, BufferGate* gate,
                 ReadOutcome* outcome) {
  auto reject = [&](VerifyError why, const FileInfo* info, bool remove = true) {
    outcome->why = why;
    if (opts.remove_corrupt && remove) {
      if (info != nullptr) {
        outcome->removed = RemoveIfSame(env, path, *info);
      } else {
        // A symlink under a chunk name: unlinking the link is safe.
        outcome->removed = env->Unlink(path).ok();
      }
    }
    return Status::Corruption(std::string(VerifyErrorName(why)) + ": " + path);
  };
  auto late = [&] { return Status::IOError("deadline passed: " + path, ETIMEDOUT); };

  // Unstaged (a memory filesystem, or no deadline), the transfers write into
  // buf themselves, so the whole read runs inside the gate: a tmpfs read is
  // a page-cache copy that cannot stall.
  std::optional<GateScope> whole;
  if (!opts.staged) {
    whole.emplace(gate);
    if (!whole->ok()) return late();
  }
  char* out = static_cast<char*>(buf);
  // Staged, the payload lands in the worker's aligned staging buffer, so
  // O_DIRECT applies whatever the caller's alignment.
  if (opts.staged) {
    ctx->staging.Reserve(std::max(kBlockSize, AlignUp(len, kBlockSize)));
    if (ctx->staging.data() == nullptr) return Status::IOError("out of memory", ENOMEM);
  }
  bool direct = opts.load_direct && (opts.staged || IsAligned(buf, kBlockSize));
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
  const size_t main = direct ? len / kBlockSize * kBlockSize : len;
  PayloadPieces pieces;
  if (opts.staged) {
    pieces.Add(ctx->staging.data(), direct ? AlignUp(len, kBlockSize) : len, len);
  } else {
    pieces.Add(out, main, main);
    if (len > main) pieces.Add(ctx->tail.data(), kBlockSize, len - main);
  }

  // Transfer plan. Without verification: one transfer, nothing to overlap.
  // Buffered: segments small enough to hash while still in cache, read one
  // after another. O_DIRECT with io_uring: every segment in flight at once,
  // the header with the first, each hashed as it lands while the rest are
  // still moving. O_DIRECT with the thread pool: one transfer for the whole
  // chunk, so the kernel keeps the device busy with all of it.
  const size_t total = pieces.total();
  // Tags are checked whatever `verify` says.
  const bool checked = opts.verify || opts.keys != nullptr;
  const bool segmented = checked && (!direct || opts.pipelined || opts.memory_fs);
  const bool together = direct && opts.pipelined && !opts.memory_fs;
  size_t seg = segmented ? opts.segment_bytes : total;
  if (seg == 0) seg = 1;  // empty payload: the header transfer is all there is

  // Op 0 moves the header and the first segment in one vectored call; the
  // others move one segment each.
  const size_t first_end = std::min(total, seg);
  const size_t n_ops = 1 + (total - first_end + seg - 1) / seg;
  std::vector<std::vector<struct iovec>> iovs(n_ops);
  std::vector<IoOp> ops(n_ops);
  std::vector<size_t> begins(n_ops);
  // Staged segments read one after another (the thread pool) share one
  // segment-sized window of the staging buffer, which stays in cache: each
  // lands, is hashed and copied out before the next is read. (Measured: a
  // window per segment made page-cache loads of 8 MiB chunks 0.63x the
  // unstaged speed.)
  const bool window = opts.staged && segmented && !opts.pipelined;
  auto land = [&](size_t k) { return ctx->staging.data() + (window ? 0 : begins[k]); };
  auto slice = [&](size_t k, size_t end) {
    if (!opts.staged) {
      pieces.Slice(begins[k], end, &iovs[k]);
    } else if (end > begins[k]) {
      iovs[k].push_back(iovec{land(k), end - begins[k]});
    }
  };
  iovs[0].push_back(iovec{ctx->header.data(), hdr_size});
  slice(0, first_end);
  for (size_t k = 1; k < n_ops; ++k) {
    begins[k] = first_end + (k - 1) * seg;
    slice(k, std::min(total, begins[k] + seg));
  }
  for (size_t k = 0; k < n_ops; ++k) {
    ops[k] = IoOp{file.get(),
                  false,
                  k == 0 ? 0 : hdr_size + begins[k],
                  iovs[k].data(),
                  static_cast<int>(iovs[k].size()),
                  0,
                  {}};
  }
  auto seg_end = [&](size_t k) { return std::min(total, begins[k] + seg); };
  auto complete = [&](size_t k) {
    return ops[k].status.ok() &&
           ops[k].transferred == (k == 0 ? hdr_size : 0) + seg_end(k) - begins[k];
  };
  // Hash in payload order as ops complete (in any order); staged, copy each
  // piece into buf right after hashing it, while it is still in cache, and
  // only through the open gate.
  Xxh3Stream hash;
  bool gate_closed = false;
  // Authenticated chunks: the tag's computation starts once the header has
  // landed (with op 0) and then takes each segment in order like the hash;
  // an encrypted payload is decrypted in its place (unstaged) or on its way
  // from the staging buffer into buf (staged), instead of the copy.
  ChunkCipher* cipher = nullptr;  // set once the chunk's tag is being computed
  bool decrypt = false;
  bool crypto_ok = true;
  bool unknown_key = false;
  auto start_tag = [&] {
    ChunkHeader h;
    VerifyError w = VerifyError::kNone;
    if (opts.keys == nullptr ||
        !DecodeHeader(ctx->header.data(), std::min(ops[0].transferred, hdr_size), &h, &w).ok() ||
        !h.authenticated()) {
      return;  // rejected below, after the header checks
    }
    const ChunkKey* k = opts.keys->Find(h.auth_key_id, h.auth_alg);
    if (k == nullptr) {
      unknown_key = true;
      return;
    }
    if (ctx->cipher == nullptr) ctx->cipher = std::make_unique<ChunkCipher>();
    const std::string aad = AuthenticatedHeaderBytes(ctx->header.data(), h.key.size(), h.auth_alg);
    crypto_ok = ctx->cipher->Begin(h.auth_alg, *k, h.nonce, /*seal=*/false) &&
                ctx->cipher->Aad(aad.data(), aad.size());
    cipher = ctx->cipher.get();
    decrypt = h.encrypted();
  };
  auto consume = [&](size_t k) {
    if (k == 0) start_tag();
    if (!opts.verify && !opts.staged && cipher == nullptr) return;
    const size_t end = seg_end(k);
    for (size_t b = begins[k]; b < end; b += opts.segment_bytes) {
      const size_t e = std::min(end, b + opts.segment_bytes);
      if (!opts.staged) {
        if (cipher == nullptr) {
          pieces.Hash(b, e, &hash);
          continue;
        }
        pieces.ForEach(b, e, [&](char* p, size_t n) {
          crypto_ok = crypto_ok && (decrypt ? cipher->Crypt(p, p, n) : cipher->Aad(p, n));
        });
        continue;
      }
      if (b >= len) break;  // O_DIRECT padding
      char* src = land(k) + (b - begins[k]);
      const size_t n = std::min(e, len) - b;
      if (cipher == nullptr) {
        if (opts.verify) hash.Update(src, n);
      } else if (!decrypt) {
        crypto_ok = crypto_ok && cipher->Aad(src, n);
      }
      if (gate_closed) {
        // buf is not ours any more; still decrypt (in place) so the tag is
        // checked over every byte and a good chunk is never taken for bad.
        if (decrypt) crypto_ok = crypto_ok && cipher->Crypt(src, src, n);
        continue;
      }
      GateScope scope(gate);
      if (!scope.ok()) {
        gate_closed = true;
        if (decrypt) crypto_ok = crypto_ok && cipher->Crypt(src, src, n);
        continue;
      }
      if (decrypt) {
        crypto_ok = crypto_ok && cipher->Crypt(src, out + b, n);
      } else {
        std::memcpy(out + b, src, n);
      }
    }
  };
  std::vector<char> landed(n_ops, 0);
  size_t next_hash = 0;
  IoDoneFn on_done = [&](size_t k) {
    landed[k] = 1;
    for (; next_hash < n_ops && landed[next_hash]; ++next_hash) {
      if (complete(next_hash)) consume(next_hash);
    }
  };
  IoDoneFn on_rest_done = [&](size_t k) { on_done(k + 1); };

  // Unless everything is in flight already, the header is checked before the
  // rest moves, so a foreign or damaged file costs one transfer.
  ctx->backend->Execute(ops.data(), together ? n_ops : 1, &on_done);
  if (!ops[0].status.ok()) return ops[0].status;
  ChunkHeader header;
  VerifyError why = VerifyError::kNone;
  if (!DecodeHeader(ctx->header.data(), std::min(ops[0].transferred, hdr_size), &header, &why)
           .ok()) {
    return reject(why, &info);
  }
  if (header.key != key) return reject(VerifyError::kKeyMismatch, &info);
  if (header.fingerprint != opts.fingerprint) {
    return reject(VerifyError::kFingerprintMismatch, &info);
  }
  if (header.payload_length != len) return reject(VerifyError::kLengthMismatch, &info);
  if (opts.keys != nullptr || header.authenticated()) {
    // An authenticated namespace takes authenticated chunks only (a plain
    // one with a valid checksum is what a writer without the key can
    // make); a chunk sealed with a key this reader lacks may be a newer
    // key's during a rotation: a miss, left in place.
    // A reader without keys cannot judge a sealed chunk: left in place too.
    if (!header.authenticated()) return reject(VerifyError::kAuth, &info);
    if (opts.keys == nullptr || unknown_key) return reject(VerifyError::kAuth, &info, false);
  } else if (opts.verify && header.checksum_type != ChecksumType::kXxh3_128) {
    return reject(VerifyError::kPayloadChecksum, &info);
  }
  if (!together && n_ops > 1) ctx->backend->Execute(ops.data() + 1, n_ops - 1, &on_rest_done);
  for (size_t k = 0; k < n_ops; ++k) {
    if (!ops[k].status.ok()) return ops[k].status;
    if (!complete(k)) return reject(VerifyError::kTruncated, &info);
  }
  if (opts.keys != nullptr) {
    if (cipher == nullptr || !crypto_ok || !cipher->OpenTag(header.tag)) {
      return reject(VerifyError::kAuth, &info);
    }
  } else if (opts.verify && hash.Digest() != header.payload_checksum) {
    return reject(VerifyError::kPayloadChecksum, &info);
  }
  if (gate_closed) return late();
  if (!opts.staged && len > main) std::memcpy(out + main, ctx->tail.data(), len - main);
  outcome->touched = MaybeTouch(env, file.get(), info, opts.touch_interval_ns);
  return Status::OK();
}

}  // namespace kvtier
