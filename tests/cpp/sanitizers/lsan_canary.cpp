// Leaks one allocation on purpose. `make sanitize` runs it under the same ASAN_OPTIONS/LSAN_OPTIONS as
// the unit tests and expects LeakSanitizer's report: proof that the runtime options (e.g.
// intercept_tls_get_addr=0, see the Makefile) and the suppressions leave leak detection on.
// The leaked block is last referenced from a thread that has exited, the way a per-stream object
// would be, so the check also covers threads' stacks and TLS no longer being roots.
#include <cstdlib>
#include <thread>

namespace {
void* volatile sink = nullptr;  // volatile: the compiler may not drop the allocation
}

int main() {
  std::thread([] {
    sink = std::malloc(4096);
    sink = nullptr;  // the only pointer is gone: a leak LeakSanitizer must report at exit
  }).join();
  return 0;
}
