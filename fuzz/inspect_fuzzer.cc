// Fuzzes `kvtier inspect FILE` (cli::InspectCommand, in both output forms)
// on a chunk file with the input as its contents: the header decoder, the
// key/name check and the store's own read path (ReadChunk) with its length
// and checksum checks. The first byte chooses the kind of input:
//  - raw: the rest is the file;
//  - built: the rest picks a key, header fields and a payload, written
//    with the real encoder (right header checksum, payload checksum right
//    or not), so the checks behind the header checksum are reached.
// The file is named after the key its header claims, as a published chunk
// is, so the checks after the name match run too. Property checked beyond
// "no crash, no sanitizer report": inspect reports a file valid only if its
// header decodes and its payload checksum matches.
#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "format/chunk_format.h"
#include "layout/layout.h"
#include "util/hash.h"

namespace kvtier {
namespace {

std::string g_dir;

std::vector<char> Built(FuzzedDataProvider* in) {
  ChunkHeader h;
  h.key = in->ConsumeRandomLengthString(300);
  std::string payload = in->ConsumeRandomLengthString(1 << 14);
  h.payload_length = in->ConsumeBool() ? payload.size() : in->ConsumeIntegral<uint32_t>();
  h.checksum_type = in->ConsumeBool() ? ChecksumType::kXxh3_128 : ChecksumType::kNone;
  h.payload_checksum =
      in->ConsumeBool() ? Xxh3_128(payload.data(), payload.size())
                        : Hash128{in->ConsumeIntegral<uint64_t>(), in->ConsumeIntegral<uint64_t>()};
  h.fingerprint = Hash128{in->ConsumeIntegral<uint64_t>(), in->ConsumeIntegral<uint64_t>()};
  h.created_ns = in->ConsumeIntegral<int64_t>();
  h.writer_id = in->ConsumeIntegral<uint64_t>();
  std::vector<char> file(HeaderSize(h.key.size()), '\0');
  EncodeHeader(h, file.data());
  file.insert(file.end(), payload.begin(), payload.end());
  // Zero padding to the 4 KiB boundary, or a file cut anywhere.
  if (in->ConsumeBool()) {
    file.resize(AlignUp(file.size(), kBlockSize), '\0');
  } else {
    file.resize(in->ConsumeIntegralInRange<size_t>(0, file.size()));
  }
  return file;
}

void Inspect(const std::vector<char>& contents) {
  ChunkHeader h;
  VerifyError why = VerifyError::kNone;
  const bool decodes = DecodeHeader(contents.data(), contents.size(), &h, &why).ok();
  const std::string path = g_dir + "/" + (decodes ? ChunkFileName(h.key) : std::string("00.kv"));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  const int rc_json = cli::InspectCommand(path, /*json=*/true);
  const int rc_text = cli::InspectCommand(path, /*json=*/false);
  ::unlink(path.c_str());
  if (rc_json != rc_text) std::abort();
  if (rc_json == 0) {
    // Valid: the header decodes and the payload matches its checksum.
    if (!decodes || contents.size() < HeaderSize(h.key.size()) + h.payload_length) std::abort();
    if (h.checksum_type == ChecksumType::kXxh3_128 &&
        Xxh3_128(contents.data() + HeaderSize(h.key.size()), h.payload_length) !=
            h.payload_checksum) {
      std::abort();
    }
  }
}

}  // namespace
}  // namespace kvtier

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Inspect prints its report; the fuzzer's own output is on stderr.
  if (std::freopen("/dev/null", "w", stdout) == nullptr) std::abort();
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/kvtier-fuzz-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  kvtier::g_dir = templ;
  // Removed at exit; a crash leaves at most one small file behind.
  std::atexit([] { ::rmdir(kvtier::g_dir.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    kvtier::Inspect(std::vector<char>(data + 1, data + size));
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  kvtier::Inspect(kvtier::Built(&in));
  return 0;
}
