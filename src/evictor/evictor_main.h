// The kvtier-evictor command line, callable from other binaries too: the
// `kvtier` CLI implements `kvtier evict --once ROOT` by forwarding its
// arguments here (argv[0] is only used in messages).
//
// Exit codes: 0 success (or --help), 1 runtime failure (root vanished,
// HTTP port taken), 2 invalid configuration. Nothing is deleted unless the
// configuration validated.
#ifndef KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_
#define KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_

namespace kvtier::evictor {

int EvictorMain(int argc, char** argv);

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_EVICTOR_MAIN_H_
