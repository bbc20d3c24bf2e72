#include "format/debezium_table.h"

namespace relay::format {

bool DebeziumTable::refresh(std::string_view row, std::string& error) {
  if (!reload_) return true;
  // A field the shape does not know: the table gained or renamed a column since its shape was
  // read (read it again), or dropped one after the row was written (read again once, in vain).
  auto unknown = events_->unknown_fields(row);
  std::erase_if(unknown, [&](const std::string& f) { return unexplained_fields_.count(f) > 0; });
  if (unknown.empty()) return true;
  auto fresh = reload_();
  if (!fresh) {
    error = "reading the table's columns again: " + fresh.error().message;
    return false;
  }
  events_ = std::move(*fresh);
  for (auto& f : events_->unknown_fields(row)) unexplained_fields_.insert(std::move(f));
  return true;
}

}  // namespace relay::format
