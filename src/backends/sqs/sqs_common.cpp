#include "backends/sqs/sqs_common.h"

#include <fmt/format.h>

#include <cstdlib>

#include "backends/sqs/sqs_encode.h"
#include "util/json_escape.h"

namespace relay::sqs {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool http_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

}  // namespace

std::string origin_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  auto slash = url.find('/', scheme + 3);
  return (slash == std::string::npos ? url : url.substr(0, slash)) + "/";
}

std::string region_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  std::string host = url.substr(scheme + 3);
  host = host.substr(0, host.find_first_of(":/"));
  if (host.rfind("sqs.", 0) == 0) {
    auto dot = host.find('.', 4);
    if (dot != std::string::npos) return host.substr(4, dot - 4);
  }
  if (auto q = host.find(".queue."); q != std::string::npos) return host.substr(0, q);
  return {};
}

Result<Endpoint> read_endpoint(const ConfigSection& c, std::string_view who, bool relay_credentials) {
  Endpoint e;
  e.queue_url = c.text("queue_url");
  if (!http_url(e.queue_url))
    return fatal(fmt::format("{}: queue_url \"{}\" must be the queue's URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
                             who, e.queue_url));
  e.queue_name = e.queue_url.substr(e.queue_url.find_last_of('/') + 1);
  e.fifo = e.queue_name.size() > 5 && e.queue_name.ends_with(".fifo");
  e.endpoint = c.text("endpoint_url");
  if (e.endpoint.empty()) e.endpoint = origin_of(e.queue_url);
  else if (!http_url(e.endpoint))
    return fatal(fmt::format("{}: endpoint_url \"{}\" must start with http:// or https://", who, e.endpoint));
  e.region = c.text("region");
  if (e.region.empty()) e.region = env("AWS_REGION");
  if (e.region.empty()) e.region = env("AWS_DEFAULT_REGION");
  if (e.region.empty()) e.region = region_of(e.queue_url);
  if (e.region.empty())
    return fatal(fmt::format("{}: region is not set and cannot be read from queue_url; set region (or AWS_REGION)", who));
  e.access_key = c.text("access_key_id");
  e.secret_key = c.text("secret_access_key");
  e.session_token = c.text("session_token");
  if (e.access_key.empty() && e.secret_key.empty() && !relay_credentials)
    return fatal(fmt::format("{}: no credentials: a pipeline defined in SQL does not sign with the relay's own AWS_* "
                             "credentials; set access_key_id and secret_access_key, e.g. \"${{ENV:RELAY_SQL_AWS_ACCESS_KEY_ID}}\" "
                             "with the relay's --sql-secrets-env-prefix RELAY_SQL_", who));
  if (e.access_key.empty() && e.secret_key.empty()) {
    e.access_key = env("AWS_ACCESS_KEY_ID");
    e.secret_key = env("AWS_SECRET_ACCESS_KEY");
    if (e.session_token.empty()) e.session_token = env("AWS_SESSION_TOKEN");
  }
  if (e.access_key.empty() || e.secret_key.empty())
    return fatal(fmt::format("{}: no credentials: set access_key_id and secret_access_key, or the AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY environment variables", who));
  return e;
}

http::ClientRequest request(const Endpoint& e, std::string_view action, std::string_view body, long timeout_ms) {
  http::ClientRequest req;
  req.url = e.endpoint;
  req.body = body;
  req.timeout_ms = timeout_ms;
  req.headers.push_back("Content-Type: application/x-amz-json-1.0");
  req.headers.push_back(fmt::format("X-Amz-Target: AmazonSQS.{}", action));
  if (!e.session_token.empty()) req.headers.push_back("X-Amz-Security-Token: " + e.session_token);
  req.aws_sigv4 = "aws:amz:" + e.region + ":sqs";
  req.username = e.access_key;
  req.password = e.secret_key;
  return req;
}

std::string get_queue_attributes_body(const Endpoint& e, std::string_view names_json) {
  std::string body = "{\"QueueUrl\":";
  util::append_json_string(body, e.queue_url);
  body += ",\"AttributeNames\":";
  body += names_json;
  body += '}';
  return body;
}

Error start_error(const Endpoint& e, const http::ClientResponse& answer) {
  if (!answer.answered()) return retriable(fmt::format("SQS: cannot reach {}: {}", e.endpoint, answer.error));
  std::string code = error_code(answer.body);
  std::string text = fmt::format("SQS: GetQueueAttributes of {} failed: HTTP {} {} {}", e.queue_url, answer.status, code,
                                 error_message(answer.body));
  if (code == "QueueDoesNotExist" || code == "AWS.SimpleQueueService.NonExistentQueue")
    return fatal(fmt::format("SQS: the queue {} does not exist (create it, or check queue_url and region)", e.queue_url));
  if (classify_request_error(answer.status, code) == Fault::setup)
    return fatal(text + " (check the credentials, region and the queue's permissions)");
  return retriable(text);
}

}  // namespace relay::sqs
