// Channels of the qlinear clients (qlinear-cli, qlinear-bench): one target
// syntax, client-side load balancing over every address it names, and the
// retry policy for idempotent calls (docs/deploy.md, "Load balancing gRPC
// across replicas"). The Python client (clients/python) uses the same
// service config; clients/python/tests checks that they agree.
//
// Thread-safe (no shared state).
#ifndef QLINEAR_CLIENTS_COMMON_CHANNEL_H_
#define QLINEAR_CLIENTS_COMMON_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qlinear::clients {

// How a channel spreads its calls over the addresses of its target.
enum class Balancing {
  kRoundRobin,  // every call to the next ready address
  kPickFirst,   // every call to one address (e.g. to read one replica's
                // statistics)
};

// The gRPC service config of the clients: `balancing`; client-side health
// checking of the server ("" in grpc.health.v1, which turns NOT_SERVING
// when a replica starts to drain, so round_robin stops picking it before it
// closes; a server without the health service counts as healthy); and for
// the idempotent unary calls (Forward, Matmul, GetModel, ModelInfer,
// ModelMetadata, ModelConfig, ModelStatistics, ModelReady) up to 5 attempts
// on UNAVAILABLE, with exponential backoff from 10 ms to 300 ms. A draining
// replica answers UNAVAILABLE before it computes anything, so a retry on
// another replica repeats no work. Streams and the repository RPCs are not
// retried.
std::string ServiceConfigJson(Balancing balancing);

// The gRPC target for a --target value:
//   - gRPC name syntax, as is: dns:///NAME:PORT (every address DNS returns,
//     e.g. a headless Service), ipv4:IP:PORT,IP:PORT, ipv6:[IP]:PORT,...,
//     unix:PATH;
//   - one HOST:PORT, as is (gRPC resolves it by DNS);
//   - several comma-separated IP:PORT: an ipv4: or ipv6: target.
// Errors: INVALID_ARGUMENT naming the entry: empty, a host name or a
// missing port in a list, IPv4 and IPv6 mixed.
absl::StatusOr<std::string> ChannelTarget(absl::string_view targets);

// Channel arguments of a client channel: ServiceConfigJson(balancing),
// retries on, reconnection backoff from 200 ms to 1 s (a restarted replica
// gets traffic again within about a second), no limit on received messages.
grpc::ChannelArguments ClientChannelArguments(
    Balancing balancing = Balancing::kRoundRobin);

// Calls and call attempts of every client channel in this process, from
// gRPC's channelz: attempts - calls is the number of retries (transparent
// ones included). Counts of a subchannel that gRPC has dropped (its address
// left the resolver's results) are not included. Costs a JSON dump of the
// channel tree: call it between load points, not per request.
struct CallCounts {
  int64_t calls = 0;
  int64_t attempts = 0;
};
CallCounts ChannelzCallCounts();

}  // namespace qlinear::clients

#endif  // QLINEAR_CLIENTS_COMMON_CHANNEL_H_
