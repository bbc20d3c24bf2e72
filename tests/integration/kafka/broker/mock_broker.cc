// A standalone Kafka for tests and benchmarks: librdkafka's mock cluster (real Kafka protocol on
// real sockets) hosted until the process is killed. Built and started by scripts/servers/kafka.sh.
//
//   mock_broker <port> <control fifo>
//
// The broker listens on 127.0.0.1:<port> (0: any free port) and prints its bootstrap address on
// stdout. Commands written to the fifo, one per line:
//   down | up                          take the broker down / bring it back
//   topic <name> <partitions>          create a topic (auto-created topics get 4 partitions)
//   fail <error code> <count>          the next <count> Produce requests fail with that error
#include <dlfcn.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {
int g_port = 0;  // the port the next "any port" listener gets; 0 leaves the choice to the kernel
}

// The mock cluster has no setting for its listen port: it binds port 0. This program's own bind()
// (the library's calls resolve to it) turns that into the fixed port asked for, so scripts and
// benchmark configs can name the broker.
extern "C" int bind(int fd, const struct sockaddr* addr, socklen_t len) {
  using bind_fn = int (*)(int, const struct sockaddr*, socklen_t);
  static bind_fn real = reinterpret_cast<bind_fn>(dlsym(RTLD_NEXT, "bind"));
  if (g_port > 0 && addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in) &&
      reinterpret_cast<const sockaddr_in*>(addr)->sin_port == 0) {
    sockaddr_in fixed = *reinterpret_cast<const sockaddr_in*>(addr);
    fixed.sin_port = htons(static_cast<uint16_t>(g_port++));
    return real(fd, reinterpret_cast<const sockaddr*>(&fixed), sizeof fixed);
  }
  return real(fd, addr, len);
}

// A Kafka broker answers with TCP_NODELAY set (Kafka's socket server does); the mock cluster does
// not, so with several requests in flight (an idempotent producer sends one per partition) each
// later response waited for the client's delayed ACK, some 40 ms. Its accepted connections get it here.
extern "C" int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  using accept_fn = int (*)(int, struct sockaddr*, socklen_t*);
  static accept_fn real = reinterpret_cast<accept_fn>(dlsym(RTLD_NEXT, "accept"));
  int conn = real(fd, addr, len);
  if (conn >= 0) {
    int one = 1;
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return conn;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <port> <control fifo>\n", argv[0]);
    return 2;
  }
  g_port = std::atoi(argv[1]);
  const char* fifo = argv[2];
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "cannot create the client handle: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, 1);
  if (!cluster) {
    std::fprintf(stderr, "cannot start the mock cluster (port %s in use?)\n", argv[1]);
    return 1;
  }
  g_port = 0;
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);

  ::unlink(fifo);
  if (::mkfifo(fifo, 0600) != 0) {
    std::perror("mkfifo");
    return 1;
  }
  // Opened read-write so that the fifo never reports end-of-file when a writer closes it.
  FILE* control = ::fdopen(::open(fifo, O_RDWR), "r");
  if (!control) {
    std::perror("open control fifo");
    return 1;
  }
  char line[1024];
  while (std::fgets(line, sizeof line, control)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "down") {
      e = rd_kafka_mock_broker_set_down(cluster, 1);
    } else if (cmd == "up") {
      e = rd_kafka_mock_broker_set_up(cluster, 1);
    } else if (cmd == "topic") {
      std::string name;
      int partitions = 1;
      in >> name >> partitions;
      e = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1);
    } else if (cmd == "fail") {
      int code = 0;
      size_t count = 1;
      in >> code >> count;
      std::vector<rd_kafka_resp_err_t> errors(count, static_cast<rd_kafka_resp_err_t>(code));
      rd_kafka_mock_push_request_errors_array(cluster, 0 /* Produce */, count, errors.data());
    } else if (!cmd.empty()) {
      std::fprintf(stderr, "unknown command: %s", line);
    }
    if (e) std::fprintf(stderr, "%s failed: %s\n", cmd.c_str(), rd_kafka_err2str(e));
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
