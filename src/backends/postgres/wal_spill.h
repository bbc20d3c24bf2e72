// A file of records no other process can open: created in a directory and unlinked at once, so it
// is gone when it is closed or when the relay dies (nothing to clean up after a crash). Each record
// carries a CRC-32 that is checked when it is read back. Where a streamed transaction's changes go
// once the memory bound is reached (streamed_transactions.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "relay/result.h"

namespace relay::postgres {

class SpillFile {
 public:
  // A new empty file (mode 0600) in `dir`, which is made if missing (mode 0700).
  static Result<SpillFile> create(const std::filesystem::path& dir);

  SpillFile(SpillFile&&) noexcept;
  SpillFile& operator=(SpillFile&&) noexcept;
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile();

  struct Record {
    std::uint64_t lsn = 0;
    std::uint32_t xid = 0;
    std::string bytes;
  };
  // Appends a record (buffered); an error names the directory and why (a full disk).
  Status append(std::uint64_t lsn, std::uint32_t xid, std::string_view bytes);
  // The bytes appended so far, the records' headers included.
  std::uint64_t size() const { return size_; }
  // Reading: from the first record, after the last append.
  Status rewind();
  // The next record; false after the last. A record that does not read back as written is an error.
  Result<bool> read(Record& out);

 private:
  SpillFile() = default;
  Status flush();
  Status fill(std::size_t want);

  int fd_ = -1;
  std::filesystem::path dir_;
  std::string buffer_;  // appended, not yet written; or read, not yet consumed (from `at_`)
  std::size_t at_ = 0;
  std::uint64_t size_ = 0;
  bool reading_ = false;
};

}  // namespace relay::postgres
