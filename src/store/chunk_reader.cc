// ReadChunk: open, one vectored transfer of header + first segment straight
// into the caller's buffers (or, staged, into the worker's staging buffer),
// header checks, remaining segments, checksum (with io_uring and O_DIRECT up
// to kUringQueueDepth transfers are in flight, refilled as each completes and
// hashed in payload order as the contiguous prefix lands).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
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

// One load, its steps as methods sharing the read's state: open, plan the
// transfers, move the header (and, pipelined, everything), check the
// header, move the rest while hashing or authenticating in payload order,
// check the digest or tag.
class ChunkLoad {
 public:
  ChunkLoad(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts, const std::string& path,
            std::string_view key, std::span<const struct iovec> bufs, size_t len, BufferGate* gate,
            ReadOutcome* outcome)
      : env_(env),
        ctx_(ctx),
        opts_(opts),
        path_(path),
        key_(key),
        bufs_(bufs),
        len_(len),
        gate_(gate),
        outcome_(outcome) {}

  Status Run();

 private:
  Status Reject(VerifyError why, const FileInfo* info, bool remove = true);
  Status Late() const { return Status::IOError("deadline passed: " + path_, ETIMEDOUT); }
  Status Open();
  bool Plan();
  Status CheckHeader(ChunkHeader* header);
  Status Finish(const ChunkHeader& header);
  void StartTag();
  void Consume(size_t k);
  void ConsumeStaged(size_t k, size_t b, size_t e);
  void OnDone(size_t k);
  char* Land(size_t k) { return ctx_->staging.data() + (window_ ? 0 : begins_[k]); }
  void Slice(size_t k, size_t end);
  size_t SegEnd(size_t k) const { return k + 1 < begins_.size() ? begins_[k + 1] : total_; }
  bool Complete(size_t k) const {
    return ops_[k].status.ok() &&
           ops_[k].transferred == (k == 0 ? hdr_size_ : 0) + SegEnd(k) - begins_[k];
  }

  Env* const env_;
  ChunkIoContext* const ctx_;
  const ChunkIoOptions& opts_;
  const std::string& path_;
  const std::string_view key_;
  // The caller's buffers: the payload is their concatenation.
  const std::span<const struct iovec> bufs_;
  const size_t len_;
  BufferGate* const gate_;
  ReadOutcome* const outcome_;

  std::unique_ptr<File> file_;
  FileInfo info_;
  bool direct_ = false;
  size_t hdr_size_ = 0;
  size_t main_ = 0;           // bytes of the payload read into the buffers themselves (unstaged)
  char* tail_dst_ = nullptr;  // where the O_DIRECT bounce block's bytes go (unstaged)
  PayloadPieces pieces_;      // where the transfers land
  PayloadPieces dest_;        // staged: the caller's buffers, scattered into
  size_t total_ = 0;
  size_t seg_ = 0;
  bool together_ = false;
  bool window_ = false;
  std::vector<std::vector<struct iovec>> iovs_;
  std::vector<IoOp> ops_;
  std::vector<size_t> begins_;
  std::vector<char> landed_;
  size_t next_hash_ = 0;

  // Hash in payload order as ops complete (in any order); staged, copy each
  // piece into buf right after hashing it, while it is still in cache, and
  // only through the open gate.
  Xxh3Stream hash_;
  bool gate_closed_ = false;
  // Authenticated chunks: the tag's computation starts once the header has
  // landed (with op 0) and then takes each segment in order like the hash;
  // an encrypted payload is decrypted in its place (unstaged) or on its way
  // from the staging buffer into buf (staged), instead of the copy.
  ChunkCipher* cipher_ = nullptr;  // set once the chunk's tag is being computed
  bool decrypt_ = false;
  bool crypto_ok_ = true;
  bool unknown_key_ = false;
};

Status ChunkLoad::Reject(VerifyError why, const FileInfo* info, bool remove) {
  outcome_->why = why;
  if (opts_.remove_corrupt && remove) {
    if (info != nullptr) {
      outcome_->removed = RemoveIfSame(env_, path_, *info);
    } else {
      // A symlink under a chunk name: unlinking the link is safe.
      outcome_->removed = env_->Unlink(path_).ok();
    }
  }
  return Status::Corruption(std::string(VerifyErrorName(why)) + ": " + path_);
}

Status ChunkLoad::Open() {
  // Staged, the payload lands in the worker's aligned staging buffer, so
  // O_DIRECT applies whatever the caller's alignment.
  if (opts_.staged) {
    ctx_->staging.Reserve(std::max(kBlockSize, AlignUp(len_, kBlockSize)));
    if (ctx_->staging.data() == nullptr) return Status::IOError("out of memory", ENOMEM);
  }
  direct_ = opts_.load_direct && (opts_.staged || PiecesDirectable(bufs_));
  Status s = env_->OpenFile(path_, kOpenRead | (direct_ ? kOpenDirect : 0u), &file_);
  if (!s.ok() && direct_ && s.err() == EINVAL) {
    direct_ = false;
    s = env_->OpenFile(path_, kOpenRead, &file_);
  }
  if (!s.ok()) {
    if (s.err() == ELOOP) return Reject(VerifyError::kNotRegularFile, nullptr);
    return s;
  }
  outcome_->used_direct = direct_;
  s = file_->Stat(&info_);
  if (!s.ok()) return s;
  if (!info_.IsRegular()) {
    outcome_->why = VerifyError::kNotRegularFile;  // a directory or device: leave it
    return Status::Corruption("not a regular file: " + path_);
  }
  return Status::OK();
}

void ChunkLoad::Slice(size_t k, size_t end) {
  if (!opts_.staged) {
    pieces_.Slice(begins_[k], end, &iovs_[k]);
  } else if (end > begins_[k]) {
    iovs_[k].push_back(iovec{Land(k), end - begins_[k]});
  }
}

// False when the header buffer cannot be had (out of memory).
bool ChunkLoad::Plan() {
  hdr_size_ = HeaderSize(key_.size());
  ctx_->header.Reserve(hdr_size_);
  if (ctx_->header.data() == nullptr) return false;
  if (opts_.staged) {
    pieces_.Add(ctx_->staging.data(), direct_ ? AlignUp(len_, kBlockSize) : len_, len_);
    for (const struct iovec& b : bufs_) {
      dest_.Add(static_cast<char*>(b.iov_base), b.iov_len, b.iov_len);
    }
  } else {
    // Straight into the buffers; O_DIRECT's last partial block (only the
    // last buffer may end off a block) through the bounce block.
    for (size_t i = 0; i < bufs_.size(); ++i) {
      char* p = static_cast<char*>(bufs_[i].iov_base);
      const size_t n = bufs_[i].iov_len;
      const size_t whole = direct_ && i + 1 == bufs_.size() ? n / kBlockSize * kBlockSize : n;
      pieces_.Add(p, whole, whole);
      main_ += whole;
      if (n > whole) {
        tail_dst_ = p + whole;
        pieces_.Add(ctx_->tail.data(), kBlockSize, n - whole);
      }
    }
  }

  // Transfer plan. Without verification: one transfer, nothing to overlap.
  // Buffered: segments small enough to hash while still in cache, read one
  // after another. O_DIRECT with io_uring: every segment in flight at once,
  // the header with the first, each hashed as it lands while the rest are
  // still moving. O_DIRECT with the thread pool: one transfer for the whole
  // chunk, so the kernel keeps the device busy with all of it.
  total_ = pieces_.total();
  // Tags are checked whatever `verify` says.
  const bool checked = opts_.verify || opts_.keys != nullptr;
  const bool segmented = checked && (!direct_ || opts_.pipelined || opts_.memory_fs);
  together_ = direct_ && opts_.pipelined && !opts_.memory_fs;
  seg_ = segmented ? opts_.load_segment_bytes : total_;
  if (seg_ == 0) seg_ = 1;  // empty payload: the header transfer is all there is

  // Op 0 moves the header and the first segment in one vectored call; the
  // others move one segment each. Segments end at file offsets that are
  // multiples of the segment size, not of the payload's: a filesystem that
  // keeps files in blocks or stripes (MooseFS's 64 KiB blocks, Lustre's
  // 1 MiB stripes where loads are segmented) then gets whole ones, where
  // cuts at payload offsets would put every request the header's 4 KiB off
  // them.
  const size_t first_end = segmented ? std::min(total_, seg_ - hdr_size_ % seg_) : total_;
  size_t n_ops = 1 + (total_ - first_end + seg_ - 1) / seg_;
  // What the shorter first segment pushes past the last boundary (the
  // header's worth, for a payload of whole segments) rides with the last
  // segment instead of costing a request of its own.
  if (n_ops > 1 && total_ - (first_end + (n_ops - 2) * seg_) <= hdr_size_) --n_ops;
  iovs_.resize(n_ops);
  ops_.resize(n_ops);
  begins_.resize(n_ops);
  landed_.assign(n_ops, 0);
  // Staged segments read one after another (the thread pool) share one
  // segment-sized window of the staging buffer, which stays in cache: each
  // lands, is hashed and copied out before the next is read. (Measured: a
  // window per segment made page-cache loads of 8 MiB chunks 0.63x the
  // unstaged speed.)
  window_ = opts_.staged && segmented && !opts_.pipelined;
  iovs_[0].push_back(iovec{ctx_->header.data(), hdr_size_});
  for (size_t k = 1; k < n_ops; ++k) begins_[k] = first_end + (k - 1) * seg_;
  for (size_t k = 0; k < n_ops; ++k) Slice(k, SegEnd(k));
  for (size_t k = 0; k < n_ops; ++k) {
    ops_[k] = IoOp{file_.get(),
                   false,
                   k == 0 ? 0 : hdr_size_ + begins_[k],
                   iovs_[k].data(),
                   static_cast<int>(iovs_[k].size()),
                   0,
                   {}};
  }
  return true;
}

void ChunkLoad::StartTag() {
  ChunkHeader h;
  VerifyError w = VerifyError::kNone;
  if (opts_.keys == nullptr ||
      !DecodeHeader(ctx_->header.data(), std::min(ops_[0].transferred, hdr_size_), &h, &w).ok() ||
      !h.authenticated()) {
    return;  // rejected below, after the header checks
  }
  const ChunkKey* k = opts_.keys->Find(h.auth_key_id, h.auth_alg);
  if (k == nullptr) {
    unknown_key_ = true;
    return;
  }
  if (ctx_->cipher == nullptr) ctx_->cipher = std::make_unique<ChunkCipher>();
  const std::string aad = AuthenticatedHeaderBytes(ctx_->header.data(), h.key.size(), h.auth_alg);
  crypto_ok_ = ctx_->cipher->Begin(h.auth_alg, *k, h.nonce, /*seal=*/false) &&
               ctx_->cipher->Aad(aad.data(), aad.size());
  cipher_ = ctx_->cipher.get();
  decrypt_ = h.encrypted();
}

void ChunkLoad::Consume(size_t k) {
  if (k == 0) StartTag();
  if (!opts_.verify && !opts_.staged && cipher_ == nullptr) return;
  const size_t end = SegEnd(k);
  for (size_t b = begins_[k]; b < end; b += opts_.load_segment_bytes) {
    const size_t e = std::min(end, b + opts_.load_segment_bytes);
    if (opts_.staged) {
      if (b >= len_) break;  // O_DIRECT padding
      ConsumeStaged(k, b, e);
    } else if (cipher_ == nullptr) {
      pieces_.Hash(b, e, &hash_);
    } else {
      pieces_.ForEach(b, e, [&](char* p, size_t n) {
        crypto_ok_ = crypto_ok_ && (decrypt_ ? cipher_->Crypt(p, p, n) : cipher_->Aad(p, n));
      });
    }
  }
}

// Payload bytes [b, e) of op k, landed in the staging buffer: hashed or
// authenticated, then copied (or decrypted) into the caller's buffers
// (scattered over the pieces that [b, e) spans) through the gate. Hashed
// and copied a block at a time, so the copy reads what the hash has just
// brought into the core's cache: a whole segment (2 MiB on FUSE) hashed
// first and copied after is read twice from memory.
void ChunkLoad::ConsumeStaged(size_t k, size_t b, size_t e) {
  constexpr size_t kBlock = 64 << 10;
  char* src = Land(k) + (b - begins_[k]);
  const size_t n = std::min(e, len_) - b;
  const auto check = [&](char* p, size_t m) {
    if (cipher_ == nullptr) {
      if (opts_.verify) hash_.Update(p, m);
    } else if (!decrypt_) {
      crypto_ok_ = crypto_ok_ && cipher_->Aad(p, m);
    }
  };
  if (!gate_closed_) {
    GateScope scope(gate_);
    if (scope.ok()) {
      size_t off = 0;
      dest_.ForEach(b, b + n, [&](char* dst, size_t piece) {
        // Decryption reads each byte as it writes it: one pass.
        const size_t step = decrypt_ ? piece : kBlock;
        for (size_t o = 0; o < piece; o += step) {
          const size_t m = std::min(step, piece - o);
          if (decrypt_) {
            crypto_ok_ = crypto_ok_ && cipher_->Crypt(src + off + o, dst + o, m);
          } else {
            check(src + off + o, m);
            std::memcpy(dst + o, src + off + o, m);
          }
        }
        off += piece;
      });
      return;
    }
    gate_closed_ = true;
  }
  // buf is not ours any more; still hash or authenticate, and decrypt in
  // place, so the tag is checked over every byte and a good chunk is never
  // taken for bad.
  check(src, n);
  if (decrypt_) crypto_ok_ = crypto_ok_ && cipher_->Crypt(src, src, n);
}

void ChunkLoad::OnDone(size_t k) {
  landed_[k] = 1;
  for (; next_hash_ < ops_.size() && landed_[next_hash_]; ++next_hash_) {
    if (Complete(next_hash_)) Consume(next_hash_);
  }
}

Status ChunkLoad::CheckHeader(ChunkHeader* header) {
  if (!ops_[0].status.ok()) return ops_[0].status;
  VerifyError why = VerifyError::kNone;
  if (!DecodeHeader(ctx_->header.data(), std::min(ops_[0].transferred, hdr_size_), header, &why)
           .ok()) {
    return Reject(why, &info_);
  }
  if (header->key != key_) return Reject(VerifyError::kKeyMismatch, &info_);
  if (header->fingerprint != opts_.fingerprint) {
    return Reject(VerifyError::kFingerprintMismatch, &info_);
  }
  if (header->payload_length != len_) return Reject(VerifyError::kLengthMismatch, &info_);
  if (opts_.keys != nullptr || header->authenticated()) {
    // An authenticated namespace takes authenticated chunks only (a plain
    // one with a valid checksum is what a writer without the key can
    // make); a chunk sealed with a key this reader lacks may be a newer
    // key's during a rotation: a miss, left in place.
    // A reader without keys cannot judge a sealed chunk: left in place too.
    if (!header->authenticated()) return Reject(VerifyError::kAuth, &info_);
    if (opts_.keys == nullptr || unknown_key_) return Reject(VerifyError::kAuth, &info_, false);
  } else if (opts_.verify && header->checksum_type != ChecksumType::kXxh3_128) {
    return Reject(VerifyError::kPayloadChecksum, &info_);
  }
  return Status::OK();
}

Status ChunkLoad::Finish(const ChunkHeader& header) {
  for (size_t k = 0; k < ops_.size(); ++k) {
    if (!ops_[k].status.ok()) return ops_[k].status;
    if (!Complete(k)) return Reject(VerifyError::kTruncated, &info_);
  }
  if (opts_.keys != nullptr) {
    if (cipher_ == nullptr || !crypto_ok_ || !cipher_->OpenTag(header.tag)) {
      return Reject(VerifyError::kAuth, &info_);
    }
  } else if (opts_.verify && hash_.Digest() != header.payload_checksum) {
    return Reject(VerifyError::kPayloadChecksum, &info_);
  }
  if (gate_closed_) return Late();
  if (tail_dst_ != nullptr) std::memcpy(tail_dst_, ctx_->tail.data(), len_ - main_);
  outcome_->touched = MaybeTouch(env_, file_.get(), info_, opts_.touch_interval_ns);
  return Status::OK();
}

Status ChunkLoad::Run() {
  // Unstaged (a memory filesystem, or no deadline), the transfers write into
  // buf themselves, so the whole read runs inside the gate: a tmpfs read is
  // a page-cache copy that cannot stall.
  std::optional<GateScope> whole;
  if (!opts_.staged) {
    whole.emplace(gate_);
    if (!whole->ok()) return Late();
  }
  Status s = Open();
  if (!s.ok()) return s;
  if (!Plan()) return Status::IOError("out of memory", ENOMEM);
  const size_t n_ops = ops_.size();
  const IoDoneFn on_done = [this](size_t k) { OnDone(k); };
  const IoDoneFn on_rest_done = [this](size_t k) { OnDone(k + 1); };

  // Unless everything is in flight already, the header is checked before the
  // rest moves, so a foreign or damaged file costs one transfer.
  ctx_->backend->Execute(ops_.data(), together_ ? n_ops : 1, &on_done);
  ChunkHeader header;
  s = CheckHeader(&header);
  if (!s.ok()) return s;
  if (!together_ && n_ops > 1) ctx_->backend->Execute(ops_.data() + 1, n_ops - 1, &on_rest_done);
  return Finish(header);
}

}  // namespace

Status ReadChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts, const std::string& path,
                 std::string_view key, std::span<const struct iovec> bufs, size_t len,
                 BufferGate* gate, ReadOutcome* outcome) {
  return ChunkLoad(env, ctx, opts, path, key, bufs, len, gate, outcome).Run();
}

}  // namespace kvtier
