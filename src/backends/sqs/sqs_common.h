// What the SQS sink and the SQS source share: where the queue is, the credentials, how a request of
// the JSON protocol is signed, and what a failed start-up check means.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config_section.h"
#include <string>
#include <string_view>

#include "http/curl_client.h"
#include "relay/result.h"

namespace relay::sqs {

struct Endpoint {
  std::string queue_url;
  std::string queue_name;  // the last path segment of the URL
  std::string endpoint;    // where requests go: endpoint_url, else the queue URL's origin
  std::string region, access_key, secret_key, session_token;
  bool fifo = false;       // the queue name ends in .fifo
};

// "https://host[:port]/path" → "https://host[:port]/".
std::string origin_of(const std::string& url);
// The region in an SQS host name: sqs.<region>.amazonaws.com, sqs.<region>.localhost, <region>.queue.amazonaws.com.
std::string region_of(const std::string& url);

// Reads queue_url, endpoint_url, region (else AWS_REGION, AWS_DEFAULT_REGION, the queue URL's host)
// and the credentials (the config's keys, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) of a sink or source section. `who` starts the error messages ("sqs sink").
// relay_credentials: whether the relay's own AWS_* variables may stand in for missing credentials
// (not for a pipeline defined in SQL: its admin would sign requests with the relay's identity).
Result<Endpoint> read_endpoint(const ConfigSection& config, std::string_view who, bool relay_credentials);

// A request of the JSON protocol (`X-Amz-Target: AmazonSQS.<action>`), SigV4-signed by libcurl.
// `body` is not copied: it must outlive the transfer.
http::ClientRequest request(const Endpoint& e, std::string_view action, std::string_view body, long timeout_ms);

// The body of GetQueueAttributes for the given attribute names (a JSON array text, e.g. ["QueueArn"]).
std::string get_queue_attributes_body(const Endpoint& e, std::string_view names_json);

// What a failed start-up check (GetQueueAttributes) means: fatal for a queue that does not exist
// or credentials, region or permissions that are wrong; retriable for anything that may pass.
Error start_error(const Endpoint& e, const http::ClientResponse& answer);

}  // namespace relay::sqs
