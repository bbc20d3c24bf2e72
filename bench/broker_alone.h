// What a broker takes on its own on this machine, with nothing else running: the ceiling a relay
// draining into it cannot pass, printed beside the relay's figure.
#pragma once

#include <string>

namespace bench {

// Messages/s nats-server stores (PubAck received) from a native client publishing `messages`
// envelopes the size of the relay's, each with its own Nats-Msg-Id, through nats.c's asynchronous
// JetStream publish (4,000 in flight) into a new file-storage stream. Negative when not measured.
double nats_publish_alone(const std::string& url, int messages);

}  // namespace bench
