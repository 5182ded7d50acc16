#include "models/hashes.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "util/error.h"

namespace ghx::models {

namespace {

// A1111's legacy model_hash(): file.seek(0x100000); sha256(file.read(0x10000)).
constexpr uint64_t k_autov1_begin = 0x100000;
constexpr uint64_t k_autov1_end = k_autov1_begin + 0x10000;
constexpr size_t k_buffer = size_t(4) << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

class Sha256 {
 public:
  Sha256() : m_ctx(EVP_MD_CTX_new()) {
    if (!m_ctx || EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr) != 1) throw Error("OpenSSL: cannot start SHA-256");
  }
  ~Sha256() { EVP_MD_CTX_free(m_ctx); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const unsigned char* p, size_t n) {
    if (n > 0) EVP_DigestUpdate(m_ctx, p, n);
  }
  std::string hex() {
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_ctx, md, &len);
    std::string s;
    for (unsigned int i = 0; i < len; ++i) {
      s.push_back(digits[md[i] >> 4]);
      s.push_back(digits[md[i] & 0xf]);
    }
    return s;
  }

 private:
  EVP_MD_CTX* m_ctx;
};

bool has_safetensors_extension(const std::string& path) {
  static const std::string ext = ".safetensors";
  if (path.size() < ext.size()) return false;
  for (size_t i = 0; i < ext.size(); ++i) {
    char c = path[path.size() - ext.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != ext[i]) return false;
  }
  return true;
}

/// Feeds the part of [offset, offset + n) that lies in [begin, end) to `h`.
void feed_range(Sha256& h, const unsigned char* p, uint64_t offset, size_t n, uint64_t begin, uint64_t end) {
  uint64_t b = std::max(offset, begin), e = std::min(offset + n, end);
  if (b < e) h.update(p + (b - offset), static_cast<size_t>(e - b));
}

}  // namespace

ModelHashes hash_model_file(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw Error(path + ": cannot read file (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(f.fd, &st) != 0) throw Error(path + ": cannot read file (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a folder, not a model file");
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

  // A1111 computes the LoRA ("addnet") hash for files named *.safetensors: the bytes after the
  // 8-byte little-endian header length N and the N header bytes.
  const bool safetensors = has_safetensors_extension(path);
  Sha256 whole, autov1, lora;
  unsigned char header[8];
  uint64_t lora_begin = UINT64_MAX;  // known once the first 8 bytes are in
  std::vector<unsigned char> buf(k_buffer);
  uint64_t offset = 0;
  for (;;) {
    ssize_t got = ::read(f.fd, buf.data(), buf.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": read error (" + std::strerror(errno) + ")");
    }
    if (got == 0) break;
    size_t n = static_cast<size_t>(got);
    const unsigned char* p = buf.data();
    whole.update(p, n);
    feed_range(autov1, p, offset, n, k_autov1_begin, k_autov1_end);
    if (offset < 8) {
      size_t take = std::min<uint64_t>(8 - offset, n);
      std::memcpy(header + offset, p, take);
      if (offset + take == 8 && safetensors) {
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | header[i];
        if (len <= UINT64_MAX - 8) lora_begin = len + 8;
      }
    }
    if (lora_begin != UINT64_MAX) feed_range(lora, p, offset, n, lora_begin, UINT64_MAX);
    offset += n;
  }

  ModelHashes h;
  h.sha256 = whole.hex();
  h.autov2 = h.sha256.substr(0, 10);
  h.autov1 = autov1.hex().substr(0, 8);
  // A header length that runs past the end is not a safetensors file: no LoRA hash (A1111 would
  // hash zero bytes there).
  if (safetensors && offset >= 8 && lora_begin <= offset) h.lora = lora.hex().substr(0, 12);
  return h;
}

}  // namespace ghx::models
