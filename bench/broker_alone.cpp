#include "broker_alone.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

#if RELAY_WITH_NATS
#include <nats/nats.h>
#endif

namespace bench {

#if RELAY_WITH_NATS
namespace {
void count_failure(jsCtx*, jsPubAckErr*, void* failures) { ++*static_cast<long*>(failures); }
}  // namespace
#endif

double nats_publish_alone(const std::string& url, int messages) {
#if RELAY_WITH_NATS
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return -1;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4000;
  long failures = 0;  // messages the server did not store
  jo.PublishAsync.ErrHandler = count_failure;
  jo.PublishAsync.ErrHandlerClosure = &failures;
  jsCtx* js = nullptr;
  double rate = -1;
  std::string name = fmt::format("alone_{}", getpid());
  std::string subjects = name + ".>";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subject_list;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  if (natsConnection_JetStream(&js, nc, &jo) == NATS_OK && js_AddStream(nullptr, js, &sc, nullptr, nullptr) == NATS_OK) {
    std::string subject = name + ".insert";
    auto start = std::chrono::steady_clock::now();
    bool ok = true;
    for (int i = 1; i <= messages && ok; ++i) {
      // The shape and size of the relay's envelope for one row of the forward backlog.
      std::string body = fmt::format(
          R"({{"dedup_key":"outbox_bench:{0}:0","stream_table":"bench","op":"insert","outbox_id":{0},"refresh_id":null,)"
          R"("key":"{0}","timestamp":"2026-11-22T13:44:38.069Z","is_full_refresh":false,)"
          R"("payload":{{"id":{0},"name":"customer-{0}","amount":{1}}}}})",
          i, i * 1.5);
      std::string id = fmt::format("outbox_bench:{}:0", i);
      natsMsg* m = nullptr;
      ok = natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())) == NATS_OK &&
           natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str()) == NATS_OK && js_PublishMsgAsync(js, &m, nullptr) == NATS_OK;
      if (m) natsMsg_Destroy(m);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (ok && js_PublishAsyncComplete(js, &po) == NATS_OK && failures == 0)
      rate = messages / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    js_DeleteStream(js, name.c_str(), nullptr, nullptr);
  }
  if (js) jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return rate;
#else
  (void)url;
  (void)messages;
  return -1;
#endif
}

}  // namespace bench
