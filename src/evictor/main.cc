// kvtier-evictor: see evictor_main.h.
#include "evictor/evictor_main.h"

int main(int argc, char** argv) { return kvtier::evictor::EvictorMain(argc, argv); }
