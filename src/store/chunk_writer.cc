// WriteChunk: crash-safe publish. A chunk name only ever appears through
// rename() of a complete temp file from the same directory, so a reader can
// see a missing chunk or a whole one, never a torn one.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "store/chunk_io.h"
#include "store/payload_pieces.h"

namespace kvtier {

namespace {

std::atomic<uint64_t> g_temp_seq{0};

const char kZeros[kBlockSize] = {};

std::string TempName(uint64_t writer_id) {
  uint64_t seq = g_temp_seq.fetch_add(1, std::memory_order_relaxed);
  return kTempPrefix + HexEncode(&writer_id, sizeof(writer_id)) + "." +
         HexEncode(&seq, sizeof(seq));
}

// The leaf directory, created with its parent on the first chunk there.
// Durable stores sync the new entries into their parents (ns/aa into ns,
// ns/aa/bb into ns/aa), or a power loss could take a synced chunk's
// directory away. Left open: a leaf another writer created and had not yet
// synced when it lost power (the window between its mkdir and its sync).
Status OpenLeaf(Env* env, const ChunkLocation& loc, const ChunkIoOptions& opts,
                std::unique_ptr<Dir>* dir) {
  Status s = env->OpenDir(loc.leaf_dir, dir);
  if (!s.IsNotFound()) return s;
  s = CreateLeafDir(env, loc, opts.perms);
  if (s.ok() && opts.durable) {
    const std::string fanout = loc.leaf_dir.substr(0, loc.leaf_dir.size() - 3);  // ns/aa
    s = env->SyncDir(fanout.substr(0, fanout.size() - 3));
    if (s.ok()) s = env->SyncDir(fanout);
  }
  if (!s.ok()) return s;
  return env->OpenDir(loc.leaf_dir, dir);
}

Status CreateTemp(Dir* dir, const std::string& tmp, uint32_t mode, bool* direct,
                  std::unique_ptr<File>* file) {
  unsigned flags = kOpenWrite | kOpenCreateExclusive | OpenModeFlags(mode);
  Status s = dir->OpenFile(tmp, flags | (*direct ? kOpenDirect : 0u), file);
  if (!s.ok() && *direct && s.err() == EINVAL) {
    *direct = false;
    s = dir->OpenFile(tmp, flags, file);
  }
  return s;
}

// Authenticated namespaces: starts the chunk's tag over its header, which
// is encoded here with everything but the tag (known only at the end).
// Encrypted chunks are AES-256-GCM; authenticated-only ones carry a
// ChaCha20-Poly1305 tag (format/chunk_format.h says why).
Status BeginSeal(ChunkIoContext* ctx, const ChunkIoOptions& opts, ChunkHeader* header) {
  header->flags = kFlagAuthenticated | (opts.encrypt ? kFlagEncrypted : 0);
  header->checksum_type = ChecksumType::kNone;  // the tag covers the payload
  header->auth_key_id = opts.keys->write_id();
  header->auth_alg = opts.encrypt ? AuthAlgorithm::kAes256Gcm : opts.mac_alg;
  if (ctx->cipher == nullptr) ctx->cipher = std::make_unique<ChunkCipher>();
  if (!ChunkCipher::NewNonce(&header->nonce) ||
      !ctx->cipher->Begin(header->auth_alg, opts.keys->write_key(header->auth_alg), header->nonce,
                          /*seal=*/true)) {
    return Status::IOError("libcrypto: cannot start a chunk", EIO);
  }
  ctx->header.Clear(HeaderSize(header->key.size()));
  EncodeHeader(*header, ctx->header.data());
  const std::string aad =
      AuthenticatedHeaderBytes(ctx->header.data(), header->key.size(), header->auth_alg);
  if (!ctx->cipher->Aad(aad.data(), aad.size())) {
    return Status::IOError("libcrypto: tag failed", EIO);
  }
  return Status::OK();
}

// Encrypted chunks: each segment is encrypted from the caller's buffer into
// the worker's segment buffer and written from there, so no plaintext byte
// reaches the file; padding stays zero. Segments are 4 KiB multiples and the
// buffer is aligned, so this suits O_DIRECT too.
Status WriteSealedPayload(ChunkIoContext* ctx, const ChunkIoOptions& opts, File* file,
                          size_t hdr_size, const PayloadPieces& pieces, BufferGate* gate) {
  const size_t total = pieces.total();
  ctx->sealed.Reserve(opts.store_segment_bytes);
  if (ctx->sealed.data() == nullptr) return Status::IOError("out of memory", ENOMEM);
  for (size_t pos = 0; pos < total; pos += opts.store_segment_bytes) {
    const size_t end = std::min(total, pos + opts.store_segment_bytes);
    size_t n = 0;
    bool ok = true;
    {
      GateScope scope(gate);
      if (!scope.ok()) return Status::IOError("deadline passed", ETIMEDOUT);
      pieces.ForEach(pos, end, [&](char* p, size_t run) {
        ok = ok && ctx->cipher->Crypt(p, ctx->sealed.data() + n, run);
        n += run;
      });
    }
    if (!ok) return Status::IOError("libcrypto: encryption failed", EIO);
    std::memset(ctx->sealed.data() + n, 0, end - pos - n);
    struct iovec iov = {ctx->sealed.data(), end - pos};
    Status s = file->WriteV(hdr_size + pos, &iov, 1);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// O_DIRECT: checksum first, then header + payload + padding in one vectored
// write straight out of the caller's buffer: one device round trip per chunk
// (a separate header write would cost a whole extra round trip).
// Buffered: each segment is hashed and then copied while still in cache,
// and the header (which carries the checksum) goes last. Hashing the whole
// chunk first would read it from memory twice.
// Hashing reads the caller's bytes in user space, so it goes through the
// gate: past the deadline the caller may have freed them. (The writes read
// them in the kernel, which fails cleanly on unmapped memory, and what they
// wrote late is never published.)
// Authenticated chunks take the same path with the tag in place of the
// checksum; encrypted ones write their segments through WriteSealedPayload.
Status WritePayloadAndHeader(ChunkIoContext* ctx, const ChunkIoOptions& opts, File* file,
                             bool direct, std::string_view key, const PayloadPieces& pieces,
                             size_t len, int64_t now, BufferGate* gate) {
  auto late = [] { return Status::IOError("deadline passed", ETIMEDOUT); };
  const size_t hdr_size = HeaderSize(key.size());
  const size_t total = pieces.total();
  ChunkHeader header;
  header.payload_length = len;
  header.fingerprint = opts.fingerprint;
  header.created_ns = now;
  header.writer_id = opts.writer_id;
  header.key.assign(key.data(), key.size());
  ctx->header.Reserve(hdr_size);
  if (ctx->header.data() == nullptr) return Status::IOError("out of memory", ENOMEM);
  const bool sealed = opts.keys != nullptr;
  if (sealed) {
    Status s = BeginSeal(ctx, opts, &header);
    if (!s.ok()) return s;
  }
  Xxh3Stream hash;
  bool mac_ok = true;
  auto sum = [&](size_t begin, size_t end) {
    if (!sealed) return pieces.Hash(begin, end, &hash);
    pieces.ForEach(begin, end,
                   [&](char* p, size_t n) { mac_ok = mac_ok && ctx->cipher->Aad(p, n); });
  };
  std::vector<struct iovec> iov;
  const bool fused = !direct || opts.memory_fs;
  if (sealed && opts.encrypt) {
    Status s = WriteSealedPayload(ctx, opts, file, hdr_size, pieces, gate);
    if (!s.ok()) return s;
  } else if (fused) {
    for (size_t pos = 0; pos < total; pos += opts.store_segment_bytes) {
      size_t end = std::min(total, pos + opts.store_segment_bytes);
      {
        GateScope scope(gate);
        if (!scope.ok()) return late();
        sum(pos, end);
      }
      iov.clear();
      pieces.Slice(pos, end, &iov);
      Status s = file->WriteV(hdr_size + pos, iov.data(), static_cast<int>(iov.size()));
      if (!s.ok()) return s;
    }
  } else {
    GateScope scope(gate);
    if (!scope.ok()) return late();
    sum(0, total);
  }
  if (sealed) {
    if (!mac_ok || !ctx->cipher->SealTag(&header.tag)) {
      return Status::IOError("libcrypto: tag failed", EIO);
    }
  } else {
    header.payload_checksum = hash.Digest();
  }
  ctx->header.Clear(hdr_size);
  EncodeHeader(header, ctx->header.data());
  iov.clear();
  iov.push_back(iovec{ctx->header.data(), hdr_size});
  if (!fused && !(sealed && opts.encrypt)) pieces.Slice(0, total, &iov);
  Status s = file->WriteV(0, iov.data(), static_cast<int>(iov.size()));
  if (!s.ok()) return s;
  if (opts.durable) return file->Sync();
  return Status::OK();
}

}  // namespace

Status WriteChunk(Env* env, ChunkIoContext* ctx, const ChunkIoOptions& opts,
                  const ChunkLocation& loc, std::string_view key,
                  std::span<const struct iovec> bufs, size_t len, BufferGate* gate,
                  WriteOutcome* outcome) {
  // Every step below names an entry of this one directory: its path is
  // walked once, not once per call.
  std::unique_ptr<Dir> dir;
  Status s = OpenLeaf(env, loc, opts, &dir);
  if (!s.ok()) return s;
  FileInfo info;
  s = dir->Stat(loc.name, &info);
  if (s.ok()) {
    if (!info.IsRegular()) return Status::Corruption("not a regular file: " + loc.path);
    outcome->existed = true;
    int64_t now = env->NowNanos();
    if (now - info.atime_ns >= opts.touch_interval_ns) {
      outcome->touched = dir->SetAccessTime(loc.name, now).ok();
    }
    return Status::OK();
  }
  if (!s.IsNotFound()) return s;

  bool direct = opts.store_direct && PiecesDirectable(bufs);
  const std::string tmp = TempName(opts.writer_id);
  std::unique_ptr<File> file;
  s = CreateTemp(dir.get(), tmp, opts.perms.file_mode, &direct, &file);
  if (!s.ok()) return s;
  outcome->used_direct = direct;

  // The caller's buffers in order, gathered by the vectored writes; with
  // O_DIRECT the last one's partial block goes through the bounce block.
  PayloadPieces pieces;
  const char* tail_src = nullptr;
  size_t rest = 0;
  for (size_t i = 0; i < bufs.size(); ++i) {
    char* p = static_cast<char*>(bufs[i].iov_base);
    const size_t n = bufs[i].iov_len;
    const size_t whole = direct && i + 1 == bufs.size() ? n / kBlockSize * kBlockSize : n;
    pieces.Add(p, whole, whole);
    if (n > whole) {
      tail_src = p + whole;
      rest = n - whole;
    }
  }
  if (rest > 0) {
    GateScope scope(gate);
    if (!scope.ok()) {
      file.reset();
      dir->Unlink(tmp);
      return Status::IOError("deadline passed", ETIMEDOUT);
    }
    std::memcpy(ctx->tail.data(), tail_src, rest);
    std::memset(ctx->tail.data() + rest, 0, kBlockSize - rest);
    pieces.Add(ctx->tail.data(), kBlockSize, rest);
  } else if (AlignUp(len, kBlockSize) > len) {
    // Pad buffered files too, so every chunk file has the same shape.
    pieces.Add(const_cast<char*>(kZeros), AlignUp(len, kBlockSize) - len, 0);
  }

  s = WritePayloadAndHeader(ctx, opts, file.get(), direct, key, pieces, len, env->NowNanos(), gate);
  file.reset();
  // Every write has returned. If the job is still live, they all ran before
  // the caller could have taken its buffer back, so the file holds the bytes
  // the checksum covers; past the deadline they may not: never publish then.
  // (The rename itself may stall; it needs no gate, the bytes are ours.)
  if (s.ok() && !GateScope(gate).ok()) {
    s = Status::IOError("deadline passed: " + loc.path, ETIMEDOUT);
  }
  if (s.ok()) {
    s = dir->Rename(tmp, loc.name, /*no_replace=*/true);
    if (s.IsNotSupported()) s = dir->Rename(tmp, loc.name, /*no_replace=*/false);
    if (!s.ok() && s.err() == EEXIST) {
      outcome->existed = true;  // another writer won; its chunk is as good as ours
      dir->Unlink(tmp);
      return Status::OK();
    }
  }
  if (!s.ok()) {
    dir->Unlink(tmp);
    return s;
  }
  if (opts.durable) return dir->Sync();
  return Status::OK();
}

}  // namespace kvtier
