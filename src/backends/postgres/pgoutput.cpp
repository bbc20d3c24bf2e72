#include "backends/postgres/pgoutput.h"

#include <fmt/format.h>

#include <charconv>

namespace relay::postgres::pgoutput {
namespace {

// Seconds from 1970-01-01 to 2000-01-01.
constexpr int64_t kPgEpochOffsetSeconds = 946684800;

// Reads network-order fields off the front of a message; the first read past the end sets `short_`
// and every later read yields zero, so a decoder checks once, at the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  int64_t i64() { return static_cast<int64_t>(take(8)); }
  // A NUL-terminated string.
  std::string cstring() {
    auto end = rest_.find('\0');
    if (end == std::string_view::npos) {
      short_ = true;
      rest_ = {};
      return {};
    }
    std::string s(rest_.substr(0, end));
    rest_.remove_prefix(end + 1);
    return s;
  }
  std::string_view bytes(size_t n) {
    if (rest_.size() < n) {
      short_ = true;
      rest_ = {};
      return {};
    }
    auto s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }
  bool ok() const { return !short_; }
  size_t left() const { return rest_.size(); }

 private:
  uint64_t take(size_t n) {
    if (rest_.size() < n) {
      short_ = true;
      rest_ = {};
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(n);
    return v;
  }

  std::string_view rest_;
  bool short_ = false;
};

Error malformed(char type, std::string_view what) {
  return permanent(fmt::format("malformed pgoutput message '{}': {}", type, what));
}

// TupleData: Int16 column count, then per column a kind byte and, for 't' and 'b', Int32 length
// and the value.
bool read_tuple(Reader& r, Tuple& out, std::string& problem) {
  uint16_t n = r.u16();
  if (!r.ok()) {
    problem = "the tuple's column count is missing";
    return false;
  }
  out.clear();
  out.reserve(n);
  for (uint16_t i = 0; i < n; ++i) {
    Value v;
    char kind = static_cast<char>(r.u8());
    switch (kind) {
      case 'n': v.kind = Value::null; break;
      case 'u': v.kind = Value::unchanged_toast; break;
      case 't':
      case 'b': {
        v.kind = kind == 't' ? Value::text : Value::binary;
        uint32_t len = r.u32();
        v.data = r.bytes(len);
        break;
      }
      default:
        problem = r.ok() ? fmt::format("column {} has unknown kind {:#04x}", i + 1, static_cast<uint8_t>(kind))
                         : fmt::format("the tuple ends at column {} of {}", i + 1, n);
        return false;
    }
    if (!r.ok()) {
      problem = fmt::format("the tuple ends at column {} of {}", i + 1, n);
      return false;
    }
    out.push_back(v);
  }
  return true;
}

}  // namespace

std::string format_lsn(Lsn lsn) { return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xFFFFFFFFu); }

std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 || text.size() - slash - 1 > 8)
    return std::nullopt;
  uint32_t hi = 0, lo = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, hi, 16);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (a.ec != std::errc() || a.ptr != text.data() + slash || b.ec != std::errc() || b.ptr != text.data() + text.size())
    return std::nullopt;
  return (static_cast<Lsn>(hi) << 32) | lo;
}

int64_t to_pg_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  return us - kPgEpochOffsetSeconds * 1000000;
}

std::chrono::system_clock::time_point from_pg_time(int64_t us) {
  return std::chrono::system_clock::time_point(std::chrono::microseconds(us + kPgEpochOffsetSeconds * 1000000));
}

Result<Message> decode(std::string_view bytes) {
  if (bytes.empty()) return permanent("empty pgoutput message");
  const char type = bytes[0];
  Reader r(bytes.substr(1));
  std::string problem;
  auto finish = [&](auto&& message) -> Result<Message> {
    if (!r.ok()) return malformed(type, "it ends early");
    if (r.left() != 0) return malformed(type, fmt::format("{} bytes follow its end", r.left()));
    return Message(std::move(message));
  };
  // An old tuple's marker ('K' key or 'O' whole row), then the tuple.
  auto old_tuple = [&](char marker, char& kind, Tuple& tuple) {
    kind = marker;
    return read_tuple(r, tuple, problem);
  };
  switch (type) {
    case 'B': {
      Begin b;
      b.final_lsn = r.u64();
      b.commit_time = r.i64();
      b.xid = r.u32();
      return finish(b);
    }
    case 'C': {
      Commit c;
      c.flags = r.u8();
      c.commit_lsn = r.u64();
      c.end_lsn = r.u64();
      c.commit_time = r.i64();
      return finish(c);
    }
    case 'O': {
      OriginInfo o;
      o.lsn = r.u64();
      o.name = r.cstring();
      return finish(o);
    }
    case 'R': {
      Relation rel;
      rel.oid = r.u32();
      rel.schema = r.cstring();
      rel.name = r.cstring();
      rel.replica_identity = static_cast<char>(r.u8());
      uint16_t n = r.u16();
      if (!r.ok()) return malformed(type, "it ends before its columns");
      rel.columns.reserve(n);
      for (uint16_t i = 0; i < n && r.ok(); ++i) {
        Column c;
        c.key = (r.u8() & 1) != 0;
        c.name = r.cstring();
        c.type_oid = r.u32();
        c.type_modifier = static_cast<int32_t>(r.u32());
        rel.columns.push_back(std::move(c));
      }
      return finish(std::move(rel));
    }
    case 'Y': {
      TypeInfo t;
      t.oid = r.u32();
      t.schema = r.cstring();
      t.name = r.cstring();
      return finish(std::move(t));
    }
    case 'I': {
      Insert ins;
      ins.relation = r.u32();
      char marker = static_cast<char>(r.u8());
      if (!r.ok()) return malformed(type, "it ends early");
      if (marker != 'N') return malformed(type, fmt::format("expected 'N' before the new tuple, got {:#04x}", static_cast<uint8_t>(marker)));
      if (!read_tuple(r, ins.new_tuple, problem)) return malformed(type, problem);
      return finish(std::move(ins));
    }
    case 'U': {
      Update u;
      u.relation = r.u32();
      char marker = static_cast<char>(r.u8());
      if (!r.ok()) return malformed(type, "it ends early");
      if (marker == 'K' || marker == 'O') {
        if (!old_tuple(marker, u.old_kind, u.old_tuple)) return malformed(type, problem);
        marker = static_cast<char>(r.u8());
      }
      if (marker != 'N') return malformed(type, fmt::format("expected 'N' before the new tuple, got {:#04x}", static_cast<uint8_t>(marker)));
      if (!read_tuple(r, u.new_tuple, problem)) return malformed(type, problem);
      return finish(std::move(u));
    }
    case 'D': {
      Delete d;
      d.relation = r.u32();
      char marker = static_cast<char>(r.u8());
      if (!r.ok()) return malformed(type, "it ends early");
      if (marker != 'K' && marker != 'O')
        return malformed(type, fmt::format("expected 'K' or 'O' before the old tuple, got {:#04x}", static_cast<uint8_t>(marker)));
      if (!old_tuple(marker, d.old_kind, d.old_tuple)) return malformed(type, problem);
      return finish(std::move(d));
    }
    case 'T': {
      Truncate t;
      uint32_t n = r.u32();
      uint8_t options = r.u8();
      t.cascade = (options & 1) != 0;
      t.restart_identity = (options & 2) != 0;
      if (!r.ok() || n > r.left() / 4) return malformed(type, "its relation count exceeds the message");
      t.relations.reserve(n);
      for (uint32_t i = 0; i < n; ++i) t.relations.push_back(r.u32());
      return finish(std::move(t));
    }
    case 'M': {
      LogicalMessage m;
      m.transactional = (r.u8() & 1) != 0;
      m.lsn = r.u64();
      m.prefix = r.cstring();
      uint32_t len = r.u32();
      m.content = r.bytes(len);
      return finish(std::move(m));
    }
    default:
      return permanent(fmt::format("unknown pgoutput message type {:#04x} of protocol version 1 (protocol 2's streamed transactions are held before decoding)",
                                   static_cast<uint8_t>(type)));
  }
}

Result<std::optional<StreamControl>> decode_stream_control(std::string_view bytes) {
  if (bytes.empty()) return permanent("empty pgoutput message");
  const char type = bytes[0];
  Reader r(bytes.substr(1));
  auto finish = [&](auto&& message) -> Result<std::optional<StreamControl>> {
    if (!r.ok()) return malformed(type, "it ends early");
    // A StreamAbort of protocol 4 (streaming 'parallel') adds the abort's LSN and time: not asked for.
    if (r.left() != 0) return malformed(type, fmt::format("{} bytes follow its end", r.left()));
    return std::optional<StreamControl>(std::move(message));
  };
  switch (type) {
    case 'S': {
      StreamStart s;
      s.xid = r.u32();
      s.first_segment = r.u8() == 1;
      return finish(s);
    }
    case 'E': return finish(StreamStop{});
    case 'c': {
      StreamCommit c;
      c.xid = r.u32();
      c.flags = r.u8();
      c.commit_lsn = r.u64();
      c.end_lsn = r.u64();
      c.commit_time = r.i64();
      return finish(c);
    }
    case 'A': {
      StreamAbort a;
      a.xid = r.u32();
      a.subxid = r.u32();
      return finish(a);
    }
    default: return std::optional<StreamControl>();
  }
}

Result<uint32_t> split_streamed(std::string_view bytes, std::string& to_v1) {
  if (bytes.empty()) return permanent("empty pgoutput message");
  const char type = bytes[0];
  switch (type) {
    case 'R': case 'Y': case 'I': case 'U': case 'D': case 'T': case 'M': {
      Reader r(bytes.substr(1));
      const uint32_t xid = r.u32();
      if (!r.ok()) return malformed(type, "it ends before its transaction id");
      to_v1.assign(1, type);
      to_v1.append(bytes.substr(5));
      return xid;
    }
    case 'O':
      to_v1.assign(bytes);
      return 0u;
    default:
      return permanent(fmt::format("unexpected pgoutput message type {:#04x} inside a streamed transaction's block",
                                   static_cast<uint8_t>(type)));
  }
}

namespace {
void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}
void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}
}  // namespace

std::string encode_begin(const Begin& begin) {
  std::string out(1, 'B');
  put_u64(out, begin.final_lsn);
  put_u64(out, static_cast<uint64_t>(begin.commit_time));
  put_u32(out, begin.xid);
  return out;
}

std::string encode_commit(const Commit& commit) {
  std::string out(1, 'C');
  out += static_cast<char>(commit.flags);
  put_u64(out, commit.commit_lsn);
  put_u64(out, commit.end_lsn);
  put_u64(out, static_cast<uint64_t>(commit.commit_time));
  return out;
}

Result<std::variant<XLogData, Keepalive>> decode_copy_data(std::string_view bytes) {
  if (bytes.empty()) return permanent("empty replication message");
  Reader r(bytes.substr(1));
  switch (bytes[0]) {
    case 'w': {
      XLogData d;
      d.start = r.u64();
      d.wal_end = r.u64();
      d.send_time = r.i64();
      if (!r.ok()) return permanent("malformed XLogData: it ends before its payload");
      d.payload = bytes.substr(25);
      return std::variant<XLogData, Keepalive>(d);
    }
    case 'k': {
      Keepalive k;
      k.wal_end = r.u64();
      k.send_time = r.i64();
      k.reply_requested = r.u8() != 0;
      if (!r.ok() || r.left() != 0) return permanent("malformed keepalive: expected 17 bytes after its type");
      return std::variant<XLogData, Keepalive>(k);
    }
    default:
      return permanent(fmt::format("unknown replication message type {:#04x}", static_cast<uint8_t>(bytes[0])));
  }
}

std::string standby_status_update(Lsn written, Lsn flushed, Lsn applied, int64_t now, bool reply_requested) {
  std::string out;
  out.reserve(34);
  out += 'r';
  put_u64(out, written);
  put_u64(out, flushed);
  put_u64(out, applied);
  put_u64(out, static_cast<uint64_t>(now));
  out += static_cast<char>(reply_requested ? 1 : 0);
  return out;
}

}  // namespace relay::postgres::pgoutput
