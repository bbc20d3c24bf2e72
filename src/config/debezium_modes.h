// How format "debezium" writes values, as Debezium's handling modes name them (the pipeline options
// decimal_handling, time_precision, binary_handling and interval_handling), with its defaults.
#pragma once

namespace relay::debezium {

enum class DecimalHandling { precise, double_, string };                     // decimal.handling.mode
enum class TimePrecision { adaptive, adaptive_time_microseconds, connect };  // time.precision.mode
enum class BinaryHandling { bytes, base64, base64_url_safe, hex };          // binary.handling.mode
enum class IntervalHandling { numeric, string };                            // interval.handling.mode

struct Modes {
  DecimalHandling decimal = DecimalHandling::precise;
  TimePrecision time = TimePrecision::adaptive;
  BinaryHandling binary = BinaryHandling::bytes;
  IntervalHandling interval = IntervalHandling::numeric;
};

}  // namespace relay::debezium
