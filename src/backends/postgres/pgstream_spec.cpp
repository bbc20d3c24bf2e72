#include "config/specs.h"

namespace relay {
namespace {
using enum ValueType;
constexpr KeySpec kKeys[] = {
    {.key = "stream_id", .type = integer, .description = "The stream whose events are read: the stream_id of rows in pgstream.subscriptions (postgres-stream's subscriptions).", .required = true, .max = kNoLimit},
};
}  // namespace

const BackendSpec kPgstreamSourceSpec{Role::source, "pgstream",
                                      "Events of a stream of pgstream.subscriptions (postgres-stream): each subscribed change of a table as the "
                                      "event JSON the subscription defines, in commit order.",
                                      kKeys};

}  // namespace relay
