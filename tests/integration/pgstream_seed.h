// postgres-stream's seed (003): its tables, its two subscriptions and its writes as written, and
// the events the seed says a sink receives. Shared by the pgstream tests of each sink.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace relay::test::pgstream_seed {

using json = nlohmann::json;

// The seed's two tables and its two subscriptions (section 4 and 6), as written.
inline void seed_subscriptions(TestDb& db) {
  db.exec("CREATE TABLE public.users (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 123) PRIMARY KEY, email text NOT NULL, "
          "email_verified boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL DEFAULT '2024-12-12 10:30:00+00')");
  db.exec("CREATE TABLE public.orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, total numeric(10,2) NOT NULL)");
  db.exec(R"sql(
insert into pgstream.subscriptions (
  key,
  stream_id,
  operation,
  schema_name,
  table_name,
  when_clause,
  column_names,
  payload_extensions
) values (
  'user-signup',                          -- Unique identifier
  1,                                      -- Stream ID from config
  'INSERT',                               -- Operation: INSERT, UPDATE, or DELETE
  'public',                               -- Schema name
  'users',                                -- Table name
  'new.email_verified = true',            -- Optional filter (SQL expression)
  array['id', 'email', 'created_at'],     -- Columns to include in payload
  '[]'::jsonb                             -- Payload extensions (see below)
);)sql");
  db.exec(R"sql(
insert into pgstream.subscriptions (
  key, stream_id, operation, schema_name, table_name,
  when_clause, column_names, payload_extensions
) values (
  'order-notification',
  1,
  'INSERT',
  'public',
  'orders',
  null,
  array['id', 'user_id', 'total'],
  '[
    {"json_path": "group_id", "expression": "new.user_id::text"},
    {"json_path": "queue_name", "expression": "''orders-high-priority''"}
  ]'::jsonb
);)sql");
}

// The seed's writes: a verified signup (an event), an unverified one (none), an order (an event).
inline void seed_writes(TestDb& db) {
  db.exec("insert into users (email, email_verified) values ('user@example.com', true)");
  db.exec("insert into users (email, email_verified) values ('later@example.com', false)");
  db.exec("insert into orders (id, user_id, total) values (456, 123, 99.99)");
}

// What the seed says the sink receives, less the timestamp (checked apart).
inline void expect_seed_events(const std::vector<json>& events) {
  ASSERT_EQ(events.size(), 2u);
  json signup = events[0], order = events[1];
  ASSERT_TRUE(signup["timestamp"].is_number_integer()) << signup.dump();
  ASSERT_TRUE(order["timestamp"].is_number_integer()) << order.dump();
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(signup["timestamp"].get<long long>()), static_cast<double>(now_ms), 120000.0);
  signup.erase("timestamp");
  order.erase("timestamp");
  EXPECT_EQ(signup, json::parse(R"({"tg_name": "user-signup", "tg_op": "INSERT", "tg_table_name": "users",
                                    "tg_table_schema": "public", "new": {"id": 123, "email": "user@example.com",
                                    "created_at": "2024-12-12T10:30:00+00:00"}, "old": null})"));
  EXPECT_EQ(order, json::parse(R"({"tg_name": "order-notification", "tg_op": "INSERT", "tg_table_name": "orders",
                                   "tg_table_schema": "public", "new": {"id": 456, "user_id": 123, "total": 99.99},
                                   "old": null, "group_id": "123", "queue_name": "orders-high-priority"})"));
}

}  // namespace relay::test::pgstream_seed
