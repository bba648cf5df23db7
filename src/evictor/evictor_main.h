// The kvtier-evictor command line, callable from other binaries too: the
// `kvtier` CLI implements `kvtier evict --once ROOT` by forwarding its
// arguments here (argv[0] is only used in messages).
//
// Exit codes: 0 success (or --help), 1 runtime failure (root vanished,
// HTTP port taken), 2 invalid configuration. Nothing is deleted unless the
// configuration validated.
#ifndef KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_
#define KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_

#include <string>

#include "evictor/http_server.h"

namespace kvtier::evictor {

class Evictor;

int EvictorMain(int argc, char** argv);

// The daemon's HTTP endpoints: /metrics (Prometheus text), /healthz (200
// once a scan of the root succeeded, else 503), 404 otherwise.
HttpResponse ServeEvictorHttp(const Evictor& ev, const std::string& path);

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_
