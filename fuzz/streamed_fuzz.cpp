// Protocol 2's streamed transactions on hostile input: a replication stream is the server's, but the
// relay holds what it streams, spills it and hands it on at its commit; a bug there would lose or
// invent changes. The input is a run of messages, each a length byte then its bytes, fed to
// StreamedTransactions with a memory bound small enough to spill: nothing crashes, an error says
// what is wrong, and every transaction handed on is a Begin, then messages, then a Commit, each of
// them as long as bounded input allows.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "backends/postgres/pgoutput.h"
#include "backends/postgres/streamed_transactions.h"
#include "fuzz_support.h"

namespace po = relay::postgres::pgoutput;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = std::filesystem::temp_directory_path() / ("pgtrickle-relay-fuzz-spill-" + std::to_string(::getpid()));
  relay::postgres::StreamedTransactions held({.memory_limit = 256, .spill_dir = dir});
  std::string_view input(reinterpret_cast<const char*>(data), size);
  po::Lsn lsn = 0;
  while (!input.empty()) {
    const std::size_t n = std::min<std::size_t>(static_cast<unsigned char>(input[0]), input.size() - 1);
    std::string_view message = input.substr(1, n);
    input.remove_prefix(1 + n);
    auto taken = held.take(++lsn, message);
    if (!taken) {
      FUZZ_CHECK(!taken.error().message.empty(), "an error says what is wrong");
      continue;
    }
    if (!held.replaying()) continue;
    std::size_t count = 0;
    bool ended = false;
    while (held.replaying()) {
      auto r = held.next_replayed();
      FUZZ_CHECK(r, "a held transaction reads back");
      FUZZ_CHECK(*r && !(*r)->message.empty(), "a replayed message is not empty");
      const char type = (*r)->message[0];
      if (count == 0) FUZZ_CHECK(type == 'B' && po::decode((*r)->message), "a transaction handed on begins with a Begin");
      FUZZ_CHECK((*r)->message.size() <= size + 32, "no message longer than the input");
      ended = type == 'C' && !held.replaying();
      ++count;
    }
    FUZZ_CHECK(ended && count >= 2, "a transaction handed on ends with its Commit");
  }
  return 0;
}
