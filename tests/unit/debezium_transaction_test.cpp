#include "format/debezium_transaction.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace relay::debezium {
namespace {

std::string listed(const TransactionCounts& counts) {
  std::string out;
  for (const auto& [collection, n] : counts.collections()) out += (out.empty() ? "" : ",") + collection;
  return out;
}

TEST(DebeziumTransaction, EventsAreCountedInTheirTransactionAndCollection) {
  TransactionCounts c;
  c.begin();
  EXPECT_EQ(c.next("public.t1"), (std::pair<std::int64_t, std::int64_t>{1, 1}));
  EXPECT_EQ(c.next("public.t2"), (std::pair<std::int64_t, std::int64_t>{2, 1}));
  EXPECT_EQ(c.next("public.t1"), (std::pair<std::int64_t, std::int64_t>{3, 2}));
  EXPECT_EQ(c.total(), 3);
  c.begin();
  EXPECT_EQ(c.total(), 0);
  EXPECT_TRUE(c.collections().empty());
}

// The order java.util.HashMap lists its keys in (printed by Java 17 for these keys), a resize included.
TEST(DebeziumTransaction, CollectionsComeInTheOrderOfJavasHashMap) {
  TransactionCounts c;
  c.begin();
  for (const char* k : {"public.zeta", "public.t2", "public.t1"}) c.next(k);
  EXPECT_EQ(listed(c), "public.zeta,public.t2,public.t1");
  c.begin();
  for (const char* k : {"s1.a", "public.orders", "public.customers", "inventory.items", "public.t", "public.u", "public.v",
                        "public.w", "public.x", "public.y", "public.z", "public.aa", "public.bb", "public.cc", "public.dd",
                        "sch.\xc3\xa9"})
    c.next(k);
  EXPECT_EQ(listed(c), "s1.a,public.orders,public.customers,public.w,public.x,public.u,public.v,public.y,public.z,sch.\xc3\xa9,"
                       "public.t,public.aa,public.bb,public.cc,public.dd,inventory.items");
}

TEST(DebeziumTransaction, BeginAndEndRecordsAreDebeziums) {
  std::string key, value;
  append_transaction_record(transaction_id(771, 24023128), nullptr, 1724345678000, false, key, value);
  EXPECT_EQ(key, R"({"id":"771:24023128"})");
  EXPECT_EQ(value, R"({"status":"BEGIN","id":"771:24023128","event_count":null,"data_collections":null,"ts_ms":1724345678000})");
  TransactionCounts c;
  c.begin();
  c.next("public.t");
  c.next("public.t");
  key.clear();
  value.clear();
  append_transaction_record("771:24023480", &c, 1724345678000, true, key, value);
  EXPECT_EQ(key, R"({"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}],"optional":false,)"
                 R"("name":"io.debezium.connector.common.TransactionMetadataKey","version":1},"payload":{"id":"771:24023480"}})");
  EXPECT_NE(value.find(R"("payload":{"status":"END","id":"771:24023480","event_count":2,)"
                       R"("data_collections":[{"data_collection":"public.t","event_count":2}],"ts_ms":1724345678000}})"),
            std::string::npos)
      << value;
}

}  // namespace
}  // namespace relay::debezium
