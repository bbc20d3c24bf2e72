#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kStdinSourceKeys[] = {
    {.key = "format", .type = enumeration, .description = "Input format.", .allowed = "jsonl", .default_json = "\"jsonl\""},
};
}  // namespace

const BackendSpec kStdinSourceSpec{Role::source, "stdin", "JSON lines from standard input.", kStdinSourceKeys};

}  // namespace relay
