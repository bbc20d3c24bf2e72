// The formats a forward pipeline may write, by the "format" of its config. A new format is one file
// in src/format/ defining its Encoder and make_<format>_encoder, declared in encoder.h and named here.
#include "format/encoder.h"

#include "util/json_timestamp.h"

namespace relay::format {

std::unique_ptr<Encoder> make_encoder(const FormatOptions& options) {
  switch (options.format) {
    case Format::json: return make_json_encoder(options);
    case Format::cloudevents: return make_cloudevents_encoder(options);
    case Format::debezium: return make_debezium_encoder(options);
    case Format::outbox_event_router: return make_outbox_event_router_encoder(options);
  }
  return make_json_encoder(options);
}

const std::string& CommitTime::json(double committed_at) {
  if (text_.empty() || value_ != committed_at) {
    text_.clear();
    util::append_json_timestamp(text_, committed_at);
    value_ = committed_at;
  }
  return text_;
}

}  // namespace relay::format
