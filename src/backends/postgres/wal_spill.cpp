#include "backends/postgres/wal_spill.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/crc32c.h"

namespace relay::postgres {
namespace {

// A record: its length (u32), its transaction id (u32), its LSN (u64), the CRC-32C of those 16 bytes
// and the record's (u32), then its bytes. Native byte order: the file lives as long as the process.
constexpr std::size_t kHeader = 20;
constexpr std::size_t kBufferBytes = 1 << 20;

std::string system_error(const std::filesystem::path& dir, std::string_view doing, int err) {
  return fmt::format("{} the spill file in {}: {}", doing, dir.string(), std::strerror(err));
}

}  // namespace

Result<SpillFile> SpillFile::create(const std::filesystem::path& dir) {
  std::error_code ec;
  // Only the relay's user may look in a directory it makes (the files hold the database's rows).
  if (std::filesystem::create_directories(dir, ec)) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (ec) return retriable(fmt::format("creating the spill directory {}: {}", dir.string(), ec.message()));
  std::string name = (dir / "pgtrickle-relay-spill-XXXXXX").string();
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return retriable(system_error(dir, "creating", errno));
  ::unlink(name.c_str());  // nameless from here on: gone with the last descriptor
  SpillFile f;
  f.fd_ = fd;
  f.dir_ = dir;
  f.buffer_.reserve(kBufferBytes);
  return f;
}

SpillFile::SpillFile(SpillFile&& o) noexcept
    : fd_(o.fd_), dir_(std::move(o.dir_)), buffer_(std::move(o.buffer_)), at_(o.at_), size_(o.size_), reading_(o.reading_) {
  o.fd_ = -1;
}

SpillFile& SpillFile::operator=(SpillFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
    dir_ = std::move(o.dir_);
    buffer_ = std::move(o.buffer_);
    at_ = o.at_;
    size_ = o.size_;
    reading_ = o.reading_;
  }
  return *this;
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status SpillFile::append(std::uint64_t lsn, std::uint32_t xid, std::string_view bytes) {
  if (reading_) return permanent("appending to a spill file being read back");
  if (bytes.size() > UINT32_MAX) return permanent("a spilled record over 4 GiB");
  char header[kHeader];
  const auto length = static_cast<std::uint32_t>(bytes.size());
  std::memcpy(header, &length, 4);
  std::memcpy(header + 4, &xid, 4);
  std::memcpy(header + 8, &lsn, 8);
  const std::uint32_t crc = util::crc32c(bytes, util::crc32c(std::string_view(header, 16)));
  std::memcpy(header + 16, &crc, 4);
  if (buffer_.size() + kHeader + bytes.size() > kBufferBytes)
    if (auto s = flush(); !s) return s;
  buffer_.append(header, kHeader);
  buffer_.append(bytes);
  size_ += kHeader + bytes.size();
  return {};
}

Status SpillFile::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      buffer_.erase(0, done);  // written: not again
      return retriable(system_error(dir_, "writing", err));
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return {};
}

Status SpillFile::rewind() {
  if (!reading_)
    if (auto s = flush(); !s) return s;
  if (::lseek(fd_, 0, SEEK_SET) < 0) return retriable(system_error(dir_, "reading", errno));
  buffer_.clear();
  at_ = 0;
  reading_ = true;
  return {};
}

Status SpillFile::fill(std::size_t want) {
  if (buffer_.size() - at_ >= want) return {};
  buffer_.erase(0, at_);
  at_ = 0;
  const std::size_t target = std::max(want, kBufferBytes);
  while (buffer_.size() < want) {
    const std::size_t had = buffer_.size();
    buffer_.resize(target);
    ssize_t n = ::read(fd_, buffer_.data() + had, target - had);
    if (n < 0 && errno == EINTR) {
      buffer_.resize(had);
      continue;
    }
    if (n < 0) {
      buffer_.resize(had);
      return retriable(system_error(dir_, "reading", errno));
    }
    buffer_.resize(had + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  return {};
}

Result<bool> SpillFile::read(Record& out) {
  if (!reading_) return permanent("reading a spill file before rewind()");
  if (auto s = fill(kHeader); !s) return s.error();
  const std::size_t left = buffer_.size() - at_;
  if (left == 0) return false;
  if (left < kHeader) return permanent(fmt::format("the spill file in {} ends inside a record's header", dir_.string()));
  std::uint32_t length = 0, xid = 0, crc = 0;
  std::uint64_t lsn = 0;
  std::memcpy(&length, buffer_.data() + at_, 4);
  std::memcpy(&xid, buffer_.data() + at_ + 4, 4);
  std::memcpy(&lsn, buffer_.data() + at_ + 8, 8);
  std::memcpy(&crc, buffer_.data() + at_ + 16, 4);
  if (auto s = fill(kHeader + length); !s) return s.error();
  if (buffer_.size() - at_ < kHeader + length)
    return permanent(fmt::format("the spill file in {} ends inside a record", dir_.string()));
  std::string_view bytes(buffer_.data() + at_ + kHeader, length);
  if (util::crc32c(bytes, util::crc32c(std::string_view(buffer_.data() + at_, 16))) != crc)
    return permanent(fmt::format("a record of the spill file in {} does not read back as written (checksum)", dir_.string()));
  out.lsn = lsn;
  out.xid = xid;
  out.bytes.assign(bytes);
  at_ += kHeader + length;
  return true;
}

}  // namespace relay::postgres
