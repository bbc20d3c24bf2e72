// Column values and schemas of format "debezium": the input is what PostgreSQL 15's to_jsonb writes
// for each type, the expected output what the Debezium PostgreSQL connector 3.6 writes through
// Kafka's JsonConverter. Where an expectation is not plain from Debezium's documentation, the
// comment names its source: Debezium's AbstractRecordsProducerTest (its expected values), or the
// class whose behaviour it follows.
#include "format/debezium_types.h"

#include <gtest/gtest.h>

#include <string>

namespace relay::debezium {
namespace {

PgType type(std::uint32_t oid, std::string name, std::int32_t typmod = -1) {
  PgType t;
  t.oid = oid;
  t.name = std::move(name);
  t.typmod = typmod;
  return t;
}

PgType array_of(std::uint32_t array_oid, std::uint32_t element, std::string name, std::int32_t typmod = -1) {
  PgType t = type(array_oid, std::move(name), typmod);
  t.element = element;
  return t;
}

// numeric(p, s)'s atttypmod.
std::int32_t numeric_typmod(int precision, int scale) { return ((precision << 16) | scale) + 4; }

Modes with_decimal(DecimalHandling d) {
  Modes m;
  m.decimal = d;
  return m;
}
Modes with_time(TimePrecision t) {
  Modes m;
  m.time = t;
  return m;
}
Modes with_binary(BinaryHandling b) {
  Modes m;
  m.binary = b;
  return m;
}
Modes with_interval(IntervalHandling i) {
  Modes m;
  m.interval = i;
  return m;
}

std::string value(const PgType& t, std::string_view json, const Modes& m = {}) {
  std::string out, error;
  EXPECT_TRUE(append_value(t, json, m, out, error)) << json << ": " << error;
  return out;
}

std::string error_of(const PgType& t, std::string_view json, const Modes& m = {}) {
  std::string out = "kept", error;
  EXPECT_FALSE(append_value(t, json, m, out, error)) << json << " was read as " << out;
  EXPECT_EQ(out, "kept");
  return error;
}

std::string schema(const PgType& t, const Modes& m = {}, bool optional = true) {
  std::string out;
  append_field_schema(t, "c", optional, m, out);
  return out;
}

std::string unavailable(const PgType& t, const Modes& m = {}) {
  std::string out;
  append_unavailable(t, m, out);
  return out;
}

const PgType kInt2 = type(21, "int2"), kInt4 = type(23, "int4"), kInt8 = type(20, "int8"), kOid = type(26, "oid");
const PgType kFloat4 = type(700, "float4"), kFloat8 = type(701, "float8"), kNumeric = type(1700, "numeric");
const PgType kMoney = type(790, "money"), kBool = type(16, "bool"), kBytea = type(17, "bytea");
const PgType kDate = type(1082, "date"), kTime = type(1083, "time"), kTimetz = type(1266, "timetz");
const PgType kTimestamp = type(1114, "timestamp"), kTimestamptz = type(1184, "timestamptz");
const PgType kInterval = type(1186, "interval");

TEST(DebeziumTypes, Int2) {
  EXPECT_EQ(value(kInt2, "1"), "1");
  EXPECT_EQ(value(kInt2, "-32768"), "-32768");
  EXPECT_EQ(schema(kInt2), R"({"type":"int16","optional":true,"field":"c"})");
  EXPECT_NE(error_of(kInt2, "40000").find("out of range"), std::string::npos);
}

TEST(DebeziumTypes, Int4) {
  EXPECT_EQ(value(kInt4, "123456"), "123456");
  EXPECT_EQ(value(kInt4, "null"), "null");
  EXPECT_EQ(schema(kInt4), R"({"type":"int32","optional":true,"field":"c"})");
  EXPECT_EQ(schema(kInt4, {}, false), R"({"type":"int32","optional":false,"field":"c"})");
}

TEST(DebeziumTypes, Int8) {
  EXPECT_EQ(value(kInt8, "1234567890123"), "1234567890123");
  EXPECT_EQ(value(kInt8, "-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(schema(kInt8), R"({"type":"int64","optional":true,"field":"c"})");
}

TEST(DebeziumTypes, OidIsInt64) {
  // to_jsonb writes an oid as a string.
  EXPECT_EQ(value(kOid, R"("4000000000")"), "4000000000");
  EXPECT_EQ(value(kOid, "4"), "4");
  EXPECT_EQ(schema(kOid), R"({"type":"int64","optional":true,"field":"c"})");
}

TEST(DebeziumTypes, Float4AsJavaWritesAFloat) {
  EXPECT_EQ(value(kFloat4, "3.3"), "3.3");  // AbstractRecordsProducerTest: 3.3f, and 3.0f for 3
  EXPECT_EQ(value(kFloat4, "3"), "3.0");
  EXPECT_EQ(value(kFloat4, "100000000000000000000"), "1.0E20");  // to_jsonb of 1e20::float4
  EXPECT_EQ(value(kFloat4, "0.00000000015"), "1.5E-10");
  EXPECT_EQ(value(kFloat4, R"("NaN")"), R"("NaN")");  // Jackson quotes NaN and the infinities
  EXPECT_EQ(value(kFloat4, R"("-Infinity")"), R"("-Infinity")");
  EXPECT_EQ(schema(kFloat4), R"({"type":"float","optional":true,"field":"c"})");
}

TEST(DebeziumTypes, Float8AsJavaWritesADouble) {
  EXPECT_EQ(value(kFloat8, "4.44"), "4.44");
  EXPECT_EQ(value(kFloat8, "123456789012"), "1.23456789012E11");
  EXPECT_EQ(value(kFloat8, "1234567"), "1234567.0");
  EXPECT_EQ(value(kFloat8, "10000000"), "1.0E7");
  EXPECT_EQ(value(kFloat8, "0.001"), "0.001");
  EXPECT_EQ(value(kFloat8, "0.0000001"), "1.0E-7");
  EXPECT_EQ(value(kFloat8, "15" + std::string(299, '0')), "1.5E300");  // to_jsonb of 1.5e300::float8
  EXPECT_EQ(value(kFloat8, R"("Infinity")"), R"("Infinity")");
  EXPECT_EQ(schema(kFloat8), R"({"type":"double","optional":true,"field":"c"})");
  EXPECT_NE(error_of(kFloat8, R"("4.4")").find("NaN or Infinity"), std::string::npos);
}

TEST(DebeziumTypes, NumericWithScaleIsADecimal) {
  // AbstractRecordsProducerTest: numeric(3,2) 1.1 → BigDecimal 1.10, 1 → 1.00.
  PgType n = kNumeric;
  n.typmod = numeric_typmod(3, 2);
  EXPECT_EQ(value(n, "1.10"), R"("bg==")");  // unscaled 110
  EXPECT_EQ(value(n, "1"), R"("ZA==")");     // unscaled 100
  EXPECT_EQ(value(n, "-1.10"), R"("kg==")");  // unscaled -110, two's complement 0x92
  EXPECT_EQ(schema(n),
            R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,)"
            R"("parameters":{"scale":"2","connect.decimal.precision":"3"},"field":"c"})");
  PgType whole = kNumeric;
  whole.typmod = numeric_typmod(4, 0);
  EXPECT_EQ(value(whole, "10"), R"("Cg==")");
  EXPECT_NE(error_of(n, "1.234").find("scale"), std::string::npos);
}

TEST(DebeziumTypes, NumericWithoutScaleIsAVariableScaleDecimal) {
  // AbstractRecordsProducerTest: 10.1111 → {scale 4, 101111}; 22 → {scale 0, 22}; trailing zeros go.
  EXPECT_EQ(value(kNumeric, "10.1111"), R"({"scale":4,"value":"AYr3"})");
  EXPECT_EQ(value(kNumeric, "22"), R"({"scale":0,"value":"Fg=="})");
  EXPECT_EQ(value(kNumeric, "22.2200"), R"({"scale":2,"value":"CK4="})");
  EXPECT_EQ(value(kNumeric, "100.0"), R"({"scale":0,"value":"ZA=="})");
  EXPECT_EQ(value(kNumeric, "-1.5"), R"({"scale":1,"value":"8Q=="})");
  EXPECT_EQ(value(kNumeric, "128"), R"({"scale":0,"value":"AIA="})");
  EXPECT_EQ(value(kNumeric, "0.000"), R"({"scale":0,"value":"AA=="})");
  EXPECT_EQ(schema(kNumeric),
            R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},)"
            R"({"type":"bytes","optional":false,"field":"value"}],"optional":true,)"
            R"("name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal","field":"c"})");
}

TEST(DebeziumTypes, NumericDoubleAndStringModes) {
  PgType n = kNumeric;
  n.typmod = numeric_typmod(3, 2);
  Modes dbl = with_decimal(DecimalHandling::double_), str = with_decimal(DecimalHandling::string);
  EXPECT_EQ(value(n, "1.10", dbl), "1.1");
  EXPECT_EQ(value(kNumeric, "22", dbl), "22.0");
  EXPECT_EQ(value(kNumeric, R"("NaN")", dbl), R"("NaN")");
  EXPECT_EQ(schema(n, dbl), R"({"type":"double","optional":true,"field":"c"})");
  // AbstractRecordsProducerTest: "1.10", "22.2222", "NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY".
  EXPECT_EQ(value(n, "1.10", str), R"("1.10")");
  EXPECT_EQ(value(kNumeric, "22.2222", str), R"("22.2222")");
  EXPECT_EQ(value(kNumeric, R"("NaN")", str), R"("NAN")");
  EXPECT_EQ(value(kNumeric, R"("Infinity")", str), R"("POSITIVE_INFINITY")");
  EXPECT_EQ(value(kNumeric, R"("-Infinity")", str), R"("NEGATIVE_INFINITY")");
  EXPECT_EQ(schema(n, str), R"({"type":"string","optional":true,"field":"c"})");
}

TEST(DebeziumTypes, NumericNaNHasNoPreciseForm) {
  // SpecialValueDecimal.fromLogical throws for NaN/Infinity in precise mode.
  EXPECT_NE(error_of(kNumeric, R"("NaN")").find("decimal.handling.mode"), std::string::npos);
  EXPECT_NE(error_of(kNumeric, R"("abc")").find("numeric"), std::string::npos);
}

TEST(DebeziumTypes, MoneyFromEveryLocale) {
  // AbstractRecordsProducerTest: '$1234.11' → 1234.11, '($1234.11)' → -1234.11, Decimal scale 2.
  EXPECT_EQ(value(kMoney, R"("$1,234.56")"), R"("AeJA")");    // 123456
  EXPECT_EQ(value(kMoney, R"("-$1,234.56")"), R"("/h3A")");   // -123456
  EXPECT_EQ(value(kMoney, R"j("($1,234.11)")j"), R"("/h3t")");  // -123411
  EXPECT_EQ(value(kMoney, R"("￥1,235")"), R"("AeJs")");       // ja_JP: 1235.00
  EXPECT_EQ(schema(kMoney),
            R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,)"
            R"("parameters":{"scale":"2"},"field":"c"})");
  Modes str = with_decimal(DecimalHandling::string);
  // cash_out under lc_monetary en_US, de_DE, ja_JP, de_CH, ar_BH, nl_NL, fr_FR.
  EXPECT_EQ(value(kMoney, R"("$1,234,567.89")", str), R"("1234567.89")");
  EXPECT_EQ(value(kMoney, R"("-1.234.567.891,00 €")", str), R"("-1234567891.00")");
  EXPECT_EQ(value(kMoney, R"("5,00 €")", str), R"("5.00")");
  EXPECT_EQ(value(kMoney, R"("￥-1,234,568")", str), R"("-1234568")");
  EXPECT_EQ(value(kMoney, R"("CHF- 1’234’567.89")", str), R"("-1234567.89")");
  EXPECT_EQ(value(kMoney, R"("د.ب. 1,234,567.891-")", str), R"("-1234567.891")");
  EXPECT_EQ(value(kMoney, R"("€ -5,00")", str), R"("-5.00")");
  EXPECT_EQ(value(kMoney, "\"1\u202f234,56\u00a0€\"", str), R"("1234.56")");
  EXPECT_EQ(value(kMoney, R"("$0.05")", with_decimal(DecimalHandling::double_)), "0.05");
  EXPECT_EQ(schema(kMoney, str), R"({"type":"string","optional":true,"field":"c"})");
  EXPECT_NE(error_of(kMoney, R"("$")").find("money"), std::string::npos);
}

TEST(DebeziumTypes, Bool) {
  EXPECT_EQ(value(kBool, "true"), "true");
  EXPECT_EQ(value(kBool, "false"), "false");
  EXPECT_EQ(schema(kBool), R"({"type":"boolean","optional":true,"field":"c"})");
  EXPECT_FALSE(error_of(kBool, R"("t")").empty());
}

TEST(DebeziumTypes, CharacterTypesAreStrings) {
  // AbstractRecordsProducerTest: a char(n) keeps its padding.
  EXPECT_EQ(value(type(1042, "bpchar", 14), R"("ab  ")"), R"("ab  ")");
  EXPECT_EQ(value(type(1043, "varchar"), R"("žš")"), R"("žš")");
  EXPECT_EQ(value(type(25, "text"), R"("a\u0001b\n\"q\"")"), R"("a\u0001b\n\"q\"")");
  EXPECT_EQ(value(type(19, "name"), R"("nm")"), R"("nm")");
  EXPECT_EQ(value(type(18, "char"), R"("c")"), R"("c")");
  EXPECT_EQ(schema(type(1042, "bpchar", 14)), R"({"type":"string","optional":true,"field":"c"})");
  EXPECT_NE(error_of(type(25, "text"), "12").find("JSON string"), std::string::npos);
}

TEST(DebeziumTypes, ByteaInEveryBinaryMode) {
  // AbstractRecordsProducerTest: bytes AQID, base64 AQID, hex 010203 for \x010203.
  EXPECT_EQ(value(kBytea, R"("\\x010203")"), R"("AQID")");
  EXPECT_EQ(value(kBytea, R"("\\xfbfffe")", with_binary(BinaryHandling::base64)), R"("+//+")");
  EXPECT_EQ(value(kBytea, R"("\\xfbfffe")", with_binary(BinaryHandling::base64_url_safe)), R"("-__-")");
  EXPECT_EQ(value(kBytea, R"("\\x010203")", with_binary(BinaryHandling::hex)), R"("010203")");
  EXPECT_EQ(value(kBytea, R"("\\x")"), R"("")");
  // bytea_output escape: \000\001\\A\377'
  EXPECT_EQ(value(kBytea, R"("\\000\\001\\\\A\\377'")"), R"("AAFcQf8n")");
  EXPECT_EQ(schema(kBytea), R"({"type":"bytes","optional":true,"field":"c"})");
  EXPECT_EQ(schema(kBytea, with_binary(BinaryHandling::hex)), R"({"type":"string","optional":true,"field":"c"})");
  EXPECT_FALSE(error_of(kBytea, R"("\\x0")").empty());
}

TEST(DebeziumTypes, DateIsDaysSinceTheEpoch) {
  EXPECT_EQ(value(kDate, R"("2016-11-04")"), "17109");
  EXPECT_EQ(value(kDate, R"("1969-12-31")"), "-1");
  EXPECT_EQ(value(kDate, R"("0044-03-15 BC")"), "-735160");  // PostgreSQL: '0044-03-15 BC'::date - '1970-01-01'
  // DateTimeFormat reads ±infinity as the LocalDates -5877611-06-21 and -5877611-06-22.
  EXPECT_EQ(value(kDate, R"("infinity")"), "-2147472692");
  EXPECT_EQ(value(kDate, R"("-infinity")"), "-2147472691");
  EXPECT_EQ(schema(kDate), R"({"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"c"})");
  EXPECT_EQ(schema(kDate, with_time(TimePrecision::connect)),
            R"({"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"c"})");
  EXPECT_FALSE(error_of(kDate, R"("2016-02-30")").empty());
}

TEST(DebeziumTypes, TimeByPrecisionAndMode) {
  // AbstractRecordsProducerTest: time → MicroTime, time(3) → Time (millis), 24:00:00 → a day.
  EXPECT_EQ(value(kTime, R"("13:51:30")"), "49890000000");
  EXPECT_EQ(value(kTime, R"("24:00:00")"), "86400000000");
  PgType t3 = type(1083, "time", 3);
  EXPECT_EQ(value(t3, R"("13:51:30.123")"), "49890123");
  EXPECT_EQ(schema(kTime), R"({"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","version":1,"field":"c"})");
  EXPECT_EQ(schema(t3), R"({"type":"int32","optional":true,"name":"io.debezium.time.Time","version":1,"field":"c"})");
  Modes micro = with_time(TimePrecision::adaptive_time_microseconds);
  EXPECT_EQ(value(t3, R"("13:51:30.123")", micro), "49890123000");
  EXPECT_EQ(schema(t3, micro), R"({"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","version":1,"field":"c"})");
  Modes connect = with_time(TimePrecision::connect);
  EXPECT_EQ(value(kTime, R"("13:51:30.123456")", connect), "49890123");
  EXPECT_EQ(schema(kTime, connect),
            R"({"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"c"})");
  EXPECT_FALSE(error_of(kTime, R"("25:00:00")").empty());
}

TEST(DebeziumTypes, TimetzIsAZonedTimeAtUtc) {
  // AbstractRecordsProducerTest: 13:51:30.123789+02:00 → 11:51:30.123789Z, 13:51:30.123+02:00 → 11:51:30.123Z.
  EXPECT_EQ(value(kTimetz, R"("13:51:30.123789+02")"), R"("11:51:30.123789Z")");
  EXPECT_EQ(value(kTimetz, R"("13:51:30.12+02")"), R"("11:51:30.12Z")");
  EXPECT_EQ(value(kTimetz, R"("01:00:00+02")"), R"("23:00:00Z")");
  EXPECT_EQ(value(kTimetz, R"("12:00:00+05:30")"), R"("06:30:00Z")");
  EXPECT_EQ(value(kTimetz, R"("12:00:00-00:00:10")"), R"("12:00:10Z")");
  EXPECT_EQ(value(kTimetz, R"("24:00:00+00")"), R"("24:00:00Z")");  // PostgresTimeBoundary (Debezium 3.7)
  EXPECT_EQ(schema(kTimetz), R"({"type":"string","optional":true,"name":"io.debezium.time.ZonedTime","version":1,"field":"c"})");
}

TEST(DebeziumTypes, TimestampByPrecisionAndMode) {
  // AbstractRecordsProducerTest: ts, tsneg, ts_ms, ts_max, ts_min, ts_pinf, ts_ninf.
  EXPECT_EQ(value(kTimestamp, R"("2016-11-04T13:51:30.123456")"), "1478267490123456");
  EXPECT_EQ(value(kTimestamp, R"("1936-10-25T22:10:12.608")"), "-1047174587392000");
  EXPECT_EQ(value(kTimestamp, R"("294247-01-01T23:59:59.999999")"), "9223371331199999999");
  EXPECT_EQ(value(kTimestamp, R"("4713-12-31T23:59:59.999999 BC")"), "-210831897600000001");
  EXPECT_EQ(value(kTimestamp, R"("infinity")"), "9223372036825200000");
  EXPECT_EQ(value(kTimestamp, R"("-infinity")"), "-9223372036832400000");
  PgType ms = type(1114, "timestamp", 3);
  EXPECT_EQ(value(ms, R"("2016-11-04T13:51:30.123")"), "1478267490123");
  EXPECT_EQ(value(ms, R"("infinity")"), "9223372036825200");
  EXPECT_EQ(schema(kTimestamp),
            R"({"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"c"})");
  EXPECT_EQ(schema(ms), R"({"type":"int64","optional":true,"name":"io.debezium.time.Timestamp","version":1,"field":"c"})");
  Modes connect = with_time(TimePrecision::connect);
  EXPECT_EQ(value(kTimestamp, R"("1969-12-31T23:59:59.999999")", connect), "-1");
  EXPECT_EQ(schema(kTimestamp, connect),
            R"({"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"c"})");
  EXPECT_FALSE(error_of(kTimestamp, R"("2016-11-04")").empty());
}

TEST(DebeziumTypes, TimestamptzIsAZonedTimestampAtUtc) {
  // AbstractRecordsProducerTest: tz, tz_large, tz_zero, tz_max, tz_min, tz_pinf; the fraction is as
  // wide as the column's precision (6 without one), none for precision 0.
  EXPECT_EQ(value(kTimestamptz, R"("2016-11-04T13:51:30.123456+02:00")"), R"("2016-11-04T11:51:30.123456Z")");
  EXPECT_EQ(value(kTimestamptz, R"("21016-11-04T13:51:30.123456+07:00")"), R"("+21016-11-04T06:51:30.123456Z")");
  EXPECT_EQ(value(kTimestamptz, R"("21016-11-04T13:51:30+07:00")"), R"("+21016-11-04T06:51:30.000000Z")");
  EXPECT_EQ(value(kTimestamptz, R"("294247-01-01T23:59:59.999999+00:00")"), R"("+294247-01-01T23:59:59.999999Z")");
  EXPECT_EQ(value(kTimestamptz, R"("4714-12-31T23:59:59.999999+00:00 BC")"), R"("-4713-12-31T23:59:59.999999Z")");
  EXPECT_EQ(value(kTimestamptz, R"("1890-01-01T12:19:32+00:19:32")"), R"("1890-01-01T12:00:00.000000Z")");
  EXPECT_EQ(value(kTimestamptz, R"("infinity")"), R"("infinity")");
  EXPECT_EQ(value(kTimestamptz, R"("-infinity")"), R"("-infinity")");
  EXPECT_EQ(value(type(1184, "timestamptz", 3), R"("2020-06-01T14:00:00.5+02:00")"), R"("2020-06-01T12:00:00.500Z")");
  EXPECT_EQ(value(type(1184, "timestamptz", 0), R"("2020-06-01T12:00:00+00:00")"), R"("2020-06-01T12:00:00Z")");
  EXPECT_EQ(schema(kTimestamptz),
            R"({"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1,"field":"c"})");
  EXPECT_FALSE(error_of(kTimestamptz, R"("2016-11-04T13:51:30")").empty());
}

TEST(DebeziumTypes, IntervalAsMicroDurationInEveryIntervalStyle) {
  // AbstractRecordsProducerTest: P1Y2M3DT4H5M6.78S → MicroDuration.durationMicros(1, 2, 3, 4, 5, 6.78)
  // with 365.25 / 12 days a month = 37091106780000.
  for (const char* text : {R"("1 year 2 mons 3 days 04:05:06.78")", R"("P1Y2M3DT4H5M6.78S")", R"("+1-2 +3 +4:05:06.78")",
                           R"("@ 1 year 2 mons 3 days 4 hours 5 mins 6.78 secs")"})
    EXPECT_EQ(value(kInterval, text), "37091106780000") << text;
  for (const char* text : {R"("-1 years -2 mons +3 days -04:05:06.78")", R"("P-1Y-2M3DT-4H-5M-6.78S")",
                           R"("-1-2 +3 -4:05:06.78")", R"("@ 1 year 2 mons -3 days 4 hours 5 mins 6.78 secs ago")"})
    EXPECT_EQ(value(kInterval, text), "-36572706780000") << text;
  for (const char* text : {R"("00:00:00")", R"("PT0S")", R"("0")", R"("@ 0")"}) EXPECT_EQ(value(kInterval, text), "0") << text;
  EXPECT_EQ(value(kInterval, R"("-3 4:00:00")"), value(kInterval, R"("-3 days -04:00:00")"));  // sql_standard's leading sign
  EXPECT_EQ(value(kInterval, R"("1 day -00:00:01.5")"), "86398500000");
  EXPECT_EQ(schema(kInterval),
            R"({"type":"int64","optional":true,"name":"io.debezium.time.MicroDuration","version":1,"field":"c"})");
  EXPECT_FALSE(error_of(kInterval, R"("soon")").empty());
}

TEST(DebeziumTypes, IntervalAsIsoString) {
  // AbstractRecordsProducerTest: "P1Y2M3DT4H5M6.78S"; Interval.toIsoString writes every part.
  Modes str = with_interval(IntervalHandling::string);
  EXPECT_EQ(value(kInterval, R"("1 year 2 mons 3 days 04:05:06.78")", str), R"("P1Y2M3DT4H5M6.78S")");
  EXPECT_EQ(value(kInterval, R"("P-1Y-2M3DT-4H-5M-6.78S")", str), R"("P-1Y-2M3DT-4H-5M-6.78S")");
  EXPECT_EQ(value(kInterval, R"("00:00:00")", str), R"("P0Y0M0DT0H0M0S")");
  EXPECT_EQ(value(kInterval, R"("-00:00:00.000001")", str), R"("P0Y0M0DT0H0M-0.000001S")");
  EXPECT_EQ(value(kInterval, R"("100:00:00")", str), R"("P0Y0M0DT100H0M0S")");
  EXPECT_EQ(schema(kInterval, str),
            R"({"type":"string","optional":true,"name":"io.debezium.time.Interval","version":1,"field":"c"})");
}

TEST(DebeziumTypes, UuidJsonXmlAreNamedStrings) {
  PgType uuid = type(2950, "uuid"), json = type(114, "json"), jsonb = type(3802, "jsonb"), xml = type(142, "xml");
  EXPECT_EQ(value(uuid, R"("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")"), R"("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")");
  EXPECT_EQ(value(jsonb, R"({"a": [1, 2], "bar": "baz"})"), R"("{\"a\": [1, 2], \"bar\": \"baz\"}")");
  EXPECT_EQ(value(jsonb, R"("a")"), R"("\"a\"")");
  EXPECT_EQ(value(json, "12.50"), R"("12.50")");
  EXPECT_EQ(value(xml, R"("<foo>bar</foo>")"), R"("<foo>bar</foo>")");
  EXPECT_EQ(schema(uuid), R"({"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1,"field":"c"})");
  EXPECT_EQ(schema(json), R"({"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"c"})");
  EXPECT_EQ(schema(jsonb), schema(json));
  EXPECT_EQ(schema(xml), R"({"type":"string","optional":true,"name":"io.debezium.data.Xml","version":1,"field":"c"})");
}

TEST(DebeziumTypes, NetworkAddressesAreStrings) {
  for (auto t : {type(869, "inet"), type(650, "cidr"), type(829, "macaddr"), type(774, "macaddr8")}) {
    EXPECT_EQ(value(t, R"("192.168.2.0/12")"), R"("192.168.2.0/12")");
    EXPECT_EQ(schema(t), R"({"type":"string","optional":true,"field":"c"})");
  }
}

TEST(DebeziumTypes, BitsAreLittleEndianBytes) {
  // AbstractRecordsProducerTest: bit(1) → boolean; '11'::bit(2) → {3}; '1'::bit(7) → {64}; '00'::bit(2)
  // → {}; bit(24) → {1,2,3}; bit(64) '1' and 63 zeros → {0,…,0,-128}; varbit '101' → {5}.
  EXPECT_EQ(value(type(1560, "bit", 1), R"("1")"), "true");
  EXPECT_EQ(value(type(1560, "bit", 1), R"("0")"), "false");
  EXPECT_EQ(schema(type(1560, "bit", 1)), R"({"type":"boolean","optional":true,"field":"c"})");
  EXPECT_EQ(value(type(1560, "bit", 2), R"("11")"), R"("Aw==")");
  EXPECT_EQ(value(type(1560, "bit", 7), R"("1000000")"), R"("QA==")");
  EXPECT_EQ(value(type(1560, "bit", 2), R"("00")"), R"("")");
  EXPECT_EQ(value(type(1560, "bit", 24), R"("000000110000001000000001")"), R"("AQID")");
  EXPECT_EQ(value(type(1560, "bit", 64), "\"1" + std::string(63, '0') + "\""), R"("AAAAAAAAAIA=")");
  EXPECT_EQ(value(type(1562, "varbit"), R"("101")"), R"("BQ==")");
  EXPECT_EQ(value(type(1562, "varbit"), R"("111011010001000110000001000000001")"), R"("AQIj2gE=")");
  EXPECT_EQ(value(type(1562, "varbit", 1), R"("1")"), "true");
  EXPECT_EQ(schema(type(1560, "bit", 2)),
            R"({"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"2"},"field":"c"})");
  EXPECT_EQ(schema(type(1562, "varbit")),
            R"({"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"2147483647"},"field":"c"})");
  EXPECT_FALSE(error_of(type(1560, "bit", 2), R"("12")").empty());
}

TEST(DebeziumTypes, TsvectorIsANamedString) {
  PgType t = type(3614, "tsvector");
  EXPECT_EQ(value(t, R"("'a' 'cat' 'fat'")"), R"("'a' 'cat' 'fat'")");
  EXPECT_EQ(schema(t), R"({"type":"string","optional":true,"name":"io.debezium.data.Tsvector","version":1,"field":"c"})");
}

TEST(DebeziumTypes, BuiltInRangesAreTheirText) {
  // AbstractRecordsProducerTest: "[\"2019-03-31 15:30:00\",infinity)", "[2019-03-31,2019-04-30)", "[1000,6000)".
  PgType tsrange = type(3908, "tsrange"), daterange = type(3912, "daterange"), int4range = type(3904, "int4range");
  EXPECT_EQ(value(tsrange, R"j("[\"2019-03-31 15:30:00\",infinity)")j"), R"j("[\"2019-03-31 15:30:00\",infinity)")j");
  EXPECT_EQ(value(daterange, R"j("[2019-03-31,2019-04-30)")j"), R"j("[2019-03-31,2019-04-30)")j");
  EXPECT_EQ(value(int4range, R"j("[1000,6000)")j"), R"j("[1000,6000)")j");
  for (auto t : {type(3904, "int4range"), type(3926, "int8range"), type(3906, "numrange"), type(3908, "tsrange"),
                 type(3910, "tstzrange"), type(3912, "daterange")})
    EXPECT_EQ(schema(t), R"({"type":"string","optional":true,"field":"c"})");
}

TEST(DebeziumTypes, EnumCarriesItsLabels) {
  PgType mood = type(16500, "mood");
  mood.typtype = 'e';
  mood.enum_labels = "sad,ok,happy";
  EXPECT_EQ(value(mood, R"("ok")"), R"("ok")");
  EXPECT_EQ(schema(mood),
            R"({"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"sad,ok,happy"},"field":"c"})");
  PgType moods = array_of(16499, 16500, "_mood");
  moods.element_typtype = 'e';
  moods.element_enum_labels = "sad,ok,happy";
  // Debezium builds an enum array's element schema without optional().
  EXPECT_EQ(schema(moods),
            R"({"type":"array","items":{"type":"string","optional":false,"name":"io.debezium.data.Enum","version":1,)"
            R"("parameters":{"allowed":"sad,ok,happy"}},"optional":true,"field":"c"})");
  EXPECT_EQ(value(moods, R"(["ok", null])"), R"(["ok",null])");
}

TEST(DebeziumTypes, PointIsAGeometryStruct) {
  // AbstractRecordsProducerTest: Point.createValue(schema, 1, 1): WKB little-endian, no SRID.
  PgType p = type(600, "point");
  EXPECT_EQ(value(p, R"j("(1,1)")j"), R"({"x":1.0,"y":1.0,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAPA/","srid":null})");
  EXPECT_EQ(value(p, R"j("(1.5,-2)")j"), R"({"x":1.5,"y":-2.0,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAADA","srid":null})");
  EXPECT_EQ(schema(p),
            R"({"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},)"
            R"({"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},)"
            R"({"type":"int32","optional":true,"field":"srid"}],"optional":true,)"
            R"j("name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","field":"c"})j");
  EXPECT_FALSE(error_of(p, R"j("(1;1)")j").empty());
}

TEST(DebeziumTypes, UnmappedTypesAreOmitted) {
  PgType composite = type(16600, "pair");
  composite.typtype = 'c';
  PgType user_range = type(16700, "floatrange");
  user_range.typtype = 'r';
  for (const PgType& t : {type(628, "line"), type(601, "lseg"), type(603, "box"), type(602, "path"), type(604, "polygon"),
                          type(718, "circle"), type(3615, "tsquery"), type(3220, "pg_lsn"), type(2970, "txid_snapshot"),
                          type(5038, "pg_snapshot"), type(4451, "int4multirange"), type(4072, "jsonpath"),
                          type(2205, "regclass"), type(28, "xid"), composite, user_range,
                          array_of(791, 790, "_money"), array_of(1187, 1186, "_interval"), array_of(143, 142, "_xml"),
                          array_of(1017, 600, "_point"), array_of(1003, 19, "_name"), array_of(1563, 1562, "_varbit"),
                          array_of(3645, 3615, "_tsquery"), array_of(6150, 4451, "_int4multirange")}) {
    EXPECT_TRUE(omitted(t, {})) << t.name;
    EXPECT_EQ(schema(t), "") << t.name;
    EXPECT_EQ(unavailable(t), "") << t.name;
    EXPECT_NE(error_of(t, R"("x")").find("does not map"), std::string::npos) << t.name;
  }
  EXPECT_FALSE(omitted(kInt4, {}));
  EXPECT_FALSE(omitted(type(600, "point"), {}));
}

TEST(DebeziumTypes, ArraysOfMappedTypes) {
  // AbstractRecordsProducerTest's array_table: elements optional, each converted as its type.
  PgType ints = array_of(1007, 23, "_int4");
  EXPECT_EQ(value(ints, "[1, null, 3]"), "[1,null,3]");
  EXPECT_EQ(value(ints, "[]"), "[]");
  EXPECT_EQ(schema(ints), R"({"type":"array","items":{"type":"int32","optional":true},"optional":true,"field":"c"})");
  EXPECT_EQ(value(array_of(1009, 25, "_text"), R"(["one", null])"), R"(["one",null])");
  EXPECT_EQ(value(array_of(1028, 26, "_oid"), R"(["3", "4000000000"])"), "[3,4000000000]");
  PgType numerics = array_of(1231, 1700, "_numeric", numeric_typmod(10, 2));
  EXPECT_EQ(value(numerics, "[1.20, 3.40]"), R"(["eA==","AVQ="])");
  EXPECT_EQ(schema(numerics),
            R"({"type":"array","items":{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,)"
            R"("parameters":{"scale":"2","connect.decimal.precision":"10"}},"optional":true,"field":"c"})");
  EXPECT_EQ(value(array_of(1231, 1700, "_numeric"), "[1.1, 2.22]"), R"([{"scale":1,"value":"Cw=="},{"scale":2,"value":"AN4="}])");
  EXPECT_EQ(value(array_of(1182, 1082, "_date"), R"(["2016-11-04"])"), "[17109]");
  // AbstractRecordsProducerTest: timestamptz[] elements as 2020-04-01T11:51:02.000000Z.
  EXPECT_EQ(value(array_of(1185, 1184, "_timestamptz"), R"(["2020-04-01T11:51:02+00:00"])"), R"(["2020-04-01T11:51:02.000000Z"])");
  EXPECT_EQ(value(array_of(1001, 17, "_bytea"), R"(["\\x000102", "\\x030405"])"), R"(["AAEC","AwQF"])");
  EXPECT_EQ(value(array_of(1001, 17, "_bytea"), R"(["\\x000102"])", with_binary(BinaryHandling::hex)), R"(["000102"])");
  EXPECT_EQ(value(array_of(3807, 3802, "_jsonb"), R"([{"bar": "baz"}])"), R"(["{\"bar\": \"baz\"}"])");
  EXPECT_EQ(schema(array_of(2951, 2950, "_uuid")),
            R"({"type":"array","items":{"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1},"optional":true,"field":"c"})");
  PgType tsvectors = array_of(3643, 3614, "_tsvector");
  EXPECT_EQ(schema(tsvectors),
            R"({"type":"array","items":{"type":"string","optional":false,"name":"io.debezium.data.Tsvector","version":1},"optional":true,"field":"c"})");
  EXPECT_NE(error_of(ints, R"([1, "x"])").find("int4"), std::string::npos);
  EXPECT_FALSE(error_of(ints, "3").empty());
}

TEST(DebeziumTypes, MultiDimensionalArraysHaveNullElements) {
  // Debezium's element converters get a nested array they cannot read and write null.
  EXPECT_EQ(value(array_of(1007, 23, "_int4"), "[[1, 2], [3, 4]]"), "[null,null]");
}

TEST(DebeziumTypes, BitArraysAreArraysOfBits) {
  PgType bits = array_of(1561, 1560, "_bit", 3);
  EXPECT_EQ(value(bits, R"(["101"])"), R"(["BQ=="])");
  EXPECT_EQ(schema(bits),
            R"({"type":"array","items":{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,)"
            R"("parameters":{"length":"3"}},"optional":true,"field":"c"})");
}

TEST(DebeziumTypes, ExtensionTypesByName) {
  PgType citext = type(17000, "citext"), hstore = type(17001, "hstore"), ltree = type(17002, "ltree");
  EXPECT_EQ(value(citext, R"("AbC")"), R"("AbC")");
  EXPECT_EQ(schema(citext), R"({"type":"string","optional":true,"field":"c"})");
  EXPECT_EQ(value(hstore, R"({"a": "1", "b": null})"), R"("{\"a\":\"1\",\"b\":null}")");
  EXPECT_EQ(schema(hstore), R"({"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"c"})");
  EXPECT_EQ(schema(ltree), R"({"type":"string","optional":true,"name":"io.debezium.data.Ltree","version":1,"field":"c"})");
  EXPECT_TRUE(omitted(type(17003, "box2d"), {}));
}

// PostGIS's geometry and geography: the EWKB from the value's text (WAL capture, backfill) or from
// to_jsonb's GeoJSON (trigger capture), the SRID it carries; schemas optional whatever the column.
TEST(DebeziumTypes, PostgisValuesAreTheirEwkbAndSrid) {
  PgType geometry = type(17003, "geometry"), geography = type(17004, "geography");
  EXPECT_EQ(value(geometry, R"("0101000020E6100000CDCCCCCCCCCC2A40C3F5285C8F424A40")"),
            R"({"wkb":"AQEAACDmEAAAzczMzMzMKkDD9Shcj0JKQA==","srid":4326})");
  EXPECT_EQ(value(geometry, R"({"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, "type": "Point", "coordinates": [13.4, 52.52]})"),
            R"({"wkb":"AQEAACDmEAAAzczMzMzMKkDD9Shcj0JKQA==","srid":4326})");
  EXPECT_EQ(value(geography, R"("0101000000000000000000F03F0000000000000040")"), R"({"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null})");
  // Big-endian EWKB (a value written elsewhere and stored as is).
  EXPECT_EQ(value(geometry, R"("0020000001000010E63FF00000000000004000000000000000")"),
            R"({"wkb":"ACAAAAEAABDmP/AAAAAAAABAAAAAAAAAAA==","srid":4326})");
  EXPECT_EQ(value(geometry, "null"), "null");
  EXPECT_NE(error_of(geometry, R"("01")").find("expected PostGIS's hex EWKB or a GeoJSON geometry"), std::string::npos);
  EXPECT_NE(error_of(geometry, R"("zz0101000000000000000000F03F0000000000000040")").find("geometry"), std::string::npos);
  EXPECT_EQ(schema(geometry, {}, false),
            R"({"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],)"
            R"("optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":"c"})");
  EXPECT_EQ(schema(geography),
            R"({"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],)"
            R"("optional":true,"name":"io.debezium.data.geometry.Geography","version":1,"doc":"Geography","field":"c"})");
  std::string zero;
  append_zero(geometry, {}, zero);
  EXPECT_EQ(zero, R"({"wkb":"AQcAAAAAAAAA","srid":null})");  // GEOMETRYCOLLECTION EMPTY
  EXPECT_EQ(unavailable(geometry), "null");
  // An array: from the WAL's text (EWKB joined by ':', PostGIS's delimiter), or to_jsonb's GeoJSON.
  PgType geometries = array_of(17005, 17003, "_geometry");
  geometries.element_name = "geometry";
  EXPECT_EQ(value(geometries, R"("{0101000000000000000000F03F0000000000000040:NULL}")"),
            R"([{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null},null])");
  EXPECT_EQ(value(geometries, R"([{"type": "Point", "coordinates": [1, 2]}, null])"),
            R"([{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null},null])");
}

TEST(DebeziumTypes, UnavailableValuePlaceholder) {
  // UnchangedToastedPlaceholder: the text, its bytes, its bytes as ints for int4[]/int8[]/date[], a
  // name-based UUID for uuid[].
  EXPECT_EQ(unavailable(type(25, "text")), R"("__debezium_unavailable_value")");
  EXPECT_EQ(unavailable(type(3802, "jsonb")), R"("__debezium_unavailable_value")");
  EXPECT_EQ(unavailable(kBytea), R"("X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==")");
  EXPECT_EQ(unavailable(kBytea, with_binary(BinaryHandling::hex)), R"("__debezium_unavailable_value")");
  EXPECT_EQ(unavailable(kBytea, with_binary(BinaryHandling::base64)), "null");
  EXPECT_EQ(unavailable(array_of(1009, 25, "_text")), R"(["__debezium_unavailable_value"])");
  EXPECT_EQ(unavailable(array_of(1007, 23, "_int4")),
            "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,108,117,101]");
  EXPECT_EQ(unavailable(array_of(2951, 2950, "_uuid")), R"(["b68a35a7-17ad-35b3-af2a-ae46edb4545a"])");
  EXPECT_EQ(unavailable(kNumeric), "null");
  EXPECT_EQ(unavailable(kNumeric, with_decimal(DecimalHandling::string)), R"("__debezium_unavailable_value")");
  EXPECT_EQ(unavailable(array_of(1231, 1700, "_numeric")), "null");
  EXPECT_EQ(unavailable(type(17001, "hstore")), R"("{\"__debezium_unavailable_value\":\"__debezium_unavailable_value\"}")");
}

TEST(DebeziumTypes, ErrorsNameTheValueAndTheType) {
  std::string e = error_of(kInt4, R"("abc")");
  EXPECT_NE(e.find(R"("abc")"), std::string::npos) << e;
  EXPECT_NE(e.find("int4"), std::string::npos) << e;
  EXPECT_NE(e.find("JSON number"), std::string::npos) << e;
  EXPECT_FALSE(error_of(kInt4, "1.5").empty());
  EXPECT_FALSE(error_of(kTimestamptz, "12").empty());
  EXPECT_FALSE(error_of(kInterval, "12").empty());
  EXPECT_FALSE(error_of(kMoney, "12").empty());
  EXPECT_FALSE(error_of(kBool, "").empty());
}

// Defaults as PostgresDefaultValueConverter reads pg_get_expr's text: a literal's value converted as
// the column's, a function call's placeholder, nothing for an expression it does not read.
TEST(DebeziumTypes, DefaultsFromTheExpressionsText) {
  auto def = [](const PgType& t, std::string_view e, bool domain = false) { return default_value(t, domain, e, {}).value_or("none"); };
  const PgType int4 = type(23, "int4"), int8 = type(20, "int8"), text = type(25, "text");
  EXPECT_EQ(def(int4, "5"), "5");
  EXPECT_EQ(def(int4, "'-7'::integer"), "-7");
  EXPECT_EQ(def(int8, "nextval('t_seq_seq'::regclass)"), "0") << "a generated value: the placeholder";
  EXPECT_EQ(def(int4, "(1 + 2)"), "none") << "expressions are not evaluated";
  EXPECT_EQ(def(int4, "'99999999999'::bigint"), "none") << "out of the column's range";
  EXPECT_EQ(def(text, "'abc'::text"), R"("abc")");
  EXPECT_EQ(def(type(1043, "varchar", 24), "'it''s'::character varying"), R"("it's")");
  EXPECT_EQ(def(text, "NULL::text"), "none");
  EXPECT_EQ(def(type(16, "bool"), "true"), "true");
  EXPECT_EQ(def(type(1700, "numeric", numeric_typmod(5, 2)), "12.5"), R"("BOI=")") << "1250 at scale 2";
  EXPECT_EQ(def(type(1700, "numeric"), "12.5"), "none") << "a VariableScaleDecimal struct cannot be a default";
  EXPECT_EQ(def(type(1184, "timestamptz"), "now()"), R"("1970-01-01T00:00:00.000000Z")") << "as a value of the column";
  EXPECT_EQ(def(type(1114, "timestamp"), "CURRENT_TIMESTAMP"), "0");
  EXPECT_EQ(def(type(1114, "timestamp"), "'2024-01-02 03:04:05'::timestamp without time zone"), "1704164645000000");
  EXPECT_EQ(def(type(1082, "date"), "'2024-01-02'::date"), "19724");
  EXPECT_EQ(def(type(2950, "uuid"), "gen_random_uuid()"), R"("00000000-0000-0000-0000-000000000000")");
  EXPECT_EQ(def(type(3802, "jsonb"), R"('{"a": 1}'::jsonb)"), R"("{\"a\": 1}")");
  EXPECT_EQ(def(int4, "5", /*domain=*/true), "none") << "a domain's default is not read";
  EXPECT_EQ(def(type(17, "bytea"), "'\\x00'::bytea"), "none") << "a type without a default reader";
}

// A NOT NULL column a change does not carry (a delete's before beyond its key), without a default.
TEST(DebeziumTypes, ZerosOfTheTypes) {
  auto zero = [](const PgType& t) {
    std::string out;
    append_zero(t, {}, out);
    return out;
  };
  EXPECT_EQ(zero(type(23, "int4")), "0");
  EXPECT_EQ(zero(type(16, "bool")), "false");
  EXPECT_EQ(zero(type(25, "text")), R"("")");
  EXPECT_EQ(zero(type(701, "float8")), "0.0");
  EXPECT_EQ(zero(type(1700, "numeric", numeric_typmod(5, 2))), R"("AA==")");
  EXPECT_EQ(zero(type(1184, "timestamptz")), R"("1970-01-01T00:00:00Z")");
  EXPECT_EQ(zero(array_of(1007, 23, "_int4")), "[]");
}

}  // namespace
TEST(DebeziumTypes, HstoreAsAMapWithHstoreHandlingModeMap) {
  Modes map;
  map.hstore = HStoreHandling::map;
  const PgType hstore = type(17001, "hstore");
  EXPECT_EQ(value(hstore, R"({"a": "1", "b": null})", map), R"({"a":"1","b":null})");
  EXPECT_EQ(schema(hstore, map),
            R"({"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":true,"field":"c"})");
  EXPECT_EQ(unavailable(hstore, map), R"({"__debezium_unavailable_value":"__debezium_unavailable_value"})");
  std::string zero;
  append_zero(hstore, map, zero);
  EXPECT_EQ(zero, "{}");
}

// column.propagate.source.type: pgjdbc's lengths and scales, as Debezium's streaming reads them
// (the differential test compares every one with the connector's).
TEST(DebeziumTypes, SourceTypeParametersArePgjdbcs) {
  auto params = [](const PgType& t, std::string_view name) {
    std::string out;
    for (const auto& [k, v] : source_type_parameters(t, name, "c")) out += (out.empty() ? "" : ",") + v;
    return out;
  };
  EXPECT_EQ(params(kInt4, "int4"), "INT4,10,0,c");
  EXPECT_EQ(params(kNumeric, "numeric"), "NUMERIC,131089,0,c");
  EXPECT_EQ(params(type(1700, "numeric", numeric_typmod(10, 2)), "numeric"), "NUMERIC,10,2,c");
  EXPECT_EQ(params(type(1043, "varchar", 24), "varchar"), "VARCHAR,20,0,c");
  EXPECT_EQ(params(type(1043, "varchar"), "varchar"), "VARCHAR,2147483647,0,c");
  EXPECT_EQ(params(kTime, "time"), "TIME,15,6,c");
  EXPECT_EQ(params(type(1083, "time", 1), "time"), "TIME,11,1,c");
  EXPECT_EQ(params(type(1114, "timestamp", 0), "timestamp"), "TIMESTAMP,22,0,c");
  EXPECT_EQ(params(kTimestamptz, "timestamptz"), "TIMESTAMPTZ,35,6,c");
  EXPECT_EQ(params(kFloat4, "float4"), "FLOAT4,8,8,c");
  EXPECT_EQ(params(array_of(1007, 23, "_int4"), "_int4"), "_INT4,10,0,c");
  EXPECT_EQ(params(type(1700, "numeric", numeric_typmod(8, 3)), "price"), "PRICE,8,3,c");  // a domain
}

// include.unknown.datatypes: a type Debezium does not map as the bytes of its text (the
// differential test compares each with the connector's).
TEST(DebeziumTypes, UnknownTypesAsTheirTextsBytes) {
  Modes unknown;
  unknown.include_unknown = true;
  PgType pair = type(17010, "pair");
  pair.typtype = 'c';
  Modes hex = unknown;
  hex.binary = BinaryHandling::hex;
  auto text_of = [&](const PgType& t, std::string_view json) {  // the text sent, from its hex
    std::string h = value(t, json, hex), raw;
    for (std::size_t i = 1; i + 2 < h.size(); i += 2) raw += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return raw;
  };
  EXPECT_TRUE(omitted(pair, {}));
  EXPECT_FALSE(omitted(pair, unknown));
  EXPECT_EQ(text_of(pair, R"x("(1,\"a b\")")x"), R"x((1,"a b"))x");
  // Captured by trigger: to_jsonb's object, as record_out writes its fields.
  EXPECT_EQ(text_of(pair, R"x({"a": 1, "b": "a b"})x"), R"x((1,"a b"))x");
  EXPECT_EQ(text_of(pair, R"x({"a": null, "b": "q\"x"})x"), R"x((,"q""x"))x");
  EXPECT_EQ(text_of(pair, R"x({"a": 2, "b": ""})x"), R"x((2,""))x");
  // Geometric types: their numbers as pgjdbc's objects write them.
  EXPECT_EQ(text_of(type(603, "box"), R"x("(2.5,1e-05),(-1,0)")x"), "(2.5,1.0E-5),(-1.0,0.0)");
  EXPECT_EQ(text_of(type(718, "circle"), R"x("<(10,20),1.5>")x"), "<(10.0,20.0),1.5>");
  EXPECT_EQ(text_of(type(3615, "tsquery"), R"x("'a' & 'b'")x"), "'a' & 'b'");
  EXPECT_EQ(schema(pair, unknown), R"x({"type":"bytes","optional":true,"field":"c"})x");
  EXPECT_EQ(schema(pair, hex), R"x({"type":"string","optional":true,"field":"c"})x");
  EXPECT_EQ(value(pair, R"x("(1,x)")x", hex), R"x("28312c7829")x");
  // An array of composites: from the WAL's text, or to_jsonb's array of objects.
  PgType pairs = array_of(17011, 17010, "_pair");
  pairs.element_typtype = 'c';
  EXPECT_EQ(value(pairs, R"x("{\"(1,x)\",\"(2,)\"}")x", hex), R"x(["28312c7829","28322c29"])x");
  EXPECT_EQ(value(pairs, R"x([{"a": 1, "b": "x"}, {"a": 2, "b": null}])x", hex), R"x(["28312c7829","28322c29"])x");
  EXPECT_EQ(schema(pairs, unknown), R"x({"type":"array","items":{"type":"bytes","optional":false},"optional":true,"field":"c"})x");
  // Arrays Debezium declines stay out.
  EXPECT_TRUE(omitted(array_of(791, 790, "_money"), unknown));
  EXPECT_EQ(unavailable(pair, unknown), R"x("X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==")x");
}

// What fuzz/debezium_value_fuzz.cpp found.
TEST(DebeziumTypes, NumericBeyondADoubleIsInfinityInDoubleMode) {
  // A numeric holds up to 131072 digits; BigDecimal.doubleValue gives ±Infinity past a double's
  // range and ±0 below it. The relay wrote 0.0 for both.
  Modes dbl = with_decimal(DecimalHandling::double_);
  const std::string huge = "1" + std::string(400, '0'), tiny = "0." + std::string(400, '0') + "1";
  EXPECT_EQ(value(kNumeric, huge, dbl), R"("Infinity")");
  EXPECT_EQ(value(kNumeric, "-" + huge, dbl), R"("-Infinity")");
  EXPECT_EQ(value(kNumeric, tiny, dbl), "0.0");
  EXPECT_EQ(value(kNumeric, "-" + tiny, dbl), "-0.0");
  EXPECT_EQ(value(kNumeric, "1" + std::string(308, '0'), dbl), "1.0E308");
}

TEST(DebeziumTypes, TextPostgresqlNeverWritesIsRefusedNotOverflowed) {
  // A numeric with an exponent of a billion (PostgreSQL writes none; a float's default has a
  // double's): a few characters made a number of that many digits, taking minutes and gigabytes.
  EXPECT_FALSE(error_of(kNumeric, "-32e70813680").empty());
  EXPECT_FALSE(error_of(kNumeric, "1e1001", with_decimal(DecimalHandling::string)).empty());
  EXPECT_EQ(value(kNumeric, "1.5e3", with_decimal(DecimalHandling::string)), R"("1500")");
  // Intervals and timestamps past an int64 of microseconds overflowed (undefined behaviour);
  // PostgreSQL's end in year 294276 and at int32 months and days.
  for (const char* text : {R"("P999999999999999999Y")", R"("PT9223372036854775807H")", R"("301000000000000000 secs")",
                           R"("2562047789:00:00")", R"("2562047788 hours 2562047788 hours")", R"("@ -9223372036854775808 days ago")",
                           R"("1000000000000000000-11")"})
    EXPECT_FALSE(error_of(kInterval, text).empty()) << text;
  EXPECT_EQ(value(kInterval, R"("2562047788:00:54.775807")"), "9223372036854775807");
  EXPECT_FALSE(error_of(kTimestamp, R"("999999999-01-01T00:00:00")").empty());
  EXPECT_FALSE(error_of(kTimestamptz, R"("999999999-01-01T00:00:00+00:00")").empty());
}

}  // namespace relay::debezium
