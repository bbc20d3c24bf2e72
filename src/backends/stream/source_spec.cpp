#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "format", .type = enumeration, .description = "Input format.", .allowed = "jsonl", .default_json = "\"jsonl\""},
};
}  // namespace

const BackendSpec kStdinSourceSpec{Role::source, "stdin", "JSON lines from standard input.", kKeys};

}  // namespace relay
