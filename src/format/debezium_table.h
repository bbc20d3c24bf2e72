// The Debezium events of one table as its shape is now: read again when a row has a field the shape
// lacks (the table gained or renamed a column since its shape was read). Formats debezium and
// outbox_event_router share it.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "format/encoder.h"

namespace relay::format {

class DebeziumTable {
 public:
  explicit DebeziumTable(const FormatOptions& options) : events_(options.debezium), reload_(options.reload_debezium) {}

  const debezium::EventEncoder& events() const { return *events_; }
  // Reads the table's shape again when `row` has a field it lacks; false, with `error`, when it cannot.
  bool refresh(std::string_view row, std::string& error);

 private:
  std::shared_ptr<const debezium::EventEncoder> events_;
  std::function<Result<std::shared_ptr<const debezium::EventEncoder>>()> reload_;
  std::set<std::string> unexplained_fields_;  // row fields the table's shape lacked even read again
};

}  // namespace relay::format
