#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kStdoutKeys[] = {
    {.key = "format", .type = enumeration, .description = "jsonl: one message per line; json: pretty-printed; csv: one row per message.", .allowed = "jsonl|json|csv", .default_json = "\"jsonl\""},
};
constexpr KeySpec kFileKeys[] = {
    {.key = "path", .type = string, .description = "File to append to; rotated files get .1, .2, ... suffixes. A pipeline defined in SQL writes only under the operator's --sql-file-dir.", .required = true, .host_file = HostFile::write},
    {.key = "format", .type = enumeration, .description = "jsonl: one message per line; json: pretty-printed; csv: one row per message.", .allowed = "jsonl|json|csv", .default_json = "\"jsonl\""},
    {.key = "rotate_bytes", .type = integer, .description = "Rotate the file once it reaches this size; 0 never rotates.", .default_json = "0", .max = kNoLimit},
    {.key = "max_files", .type = integer, .description = "Rotated files kept besides the current one.", .default_json = "10"},
    {.key = "fsync", .type = boolean, .description = "fsync after each batch before acknowledging it (durable delivery).", .default_json = "true"},
};
}  // namespace

const BackendSpec kStdoutSinkSpec{Role::sink, "stdout", "Standard output, one message per line.", kStdoutKeys};
const BackendSpec kFileSinkSpec{Role::sink, "file", "A local file, appended and optionally rotated by size.", kFileKeys};

}  // namespace relay
