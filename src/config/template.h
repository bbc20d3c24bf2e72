// Routing templates: "{stream_table}", "{schema}", "{table}", "{op}", "{outbox_id}", "{refresh_id}" and row fields "{{ column }}".
// Compiled once; rendering appends to a caller's buffer and cannot reach anything but these values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/result.h"

namespace relay {

// What a template can see when rendering one message.
struct TemplateVars {
  std::string_view stream_table;
  std::string_view schema, table;  // the captured table's schema and name
  std::string_view op;
  std::string_view outbox_id;
  std::string_view refresh_id;
  // Looks up a row field as text (strings unquoted, other JSON as written); false when absent.
  virtual bool column(std::string_view name, std::string& out) const {
    (void)name;
    (void)out;
    return false;
  }
  virtual ~TemplateVars() = default;
};

class Template {
 public:
  Template() = default;
  static Result<Template> compile(std::string_view text);
  // A template of a URL: each value is percent-encoded for its place (a path segment before the
  // '?', a query parameter after it), so a row value can neither leave its segment ("../admin")
  // nor add parameters or a fragment ("x&admin=1#").
  static Result<Template> compile_url(std::string_view text);

  void render(const TemplateVars& vars, std::string& out) const;
  std::string render(const TemplateVars& vars) const {
    std::string s;
    render(vars, s);
    return s;
  }
  bool empty() const { return parts_.empty(); }
  // The literal text before the first variable ("orders." for "orders.{op}").
  std::string_view literal_prefix() const;
  bool has_columns() const;
  const std::string& text() const { return text_; }

 private:
  enum class Kind { literal, stream_table, schema, table, op, outbox_id, refresh_id, column };
  enum class Escape { none, path, query };
  struct Part {
    Kind kind;
    std::string text;  // literal text or column name
    Escape escape = Escape::none;
  };
  static void render_part(const Part& p, const TemplateVars& vars, std::string& out);
  std::vector<Part> parts_;
  std::string text_;
};

}  // namespace relay
