// A small persistent thread pool and `parallel_for`.
//
// Work is split statically: chunk c of a job always covers the same index range for a given
// thread count, and every output element is written by exactly one chunk, so results do not
// depend on scheduling. Chunks are claimed dynamically (the caller takes part), so a worker the
// OS is slow to schedule costs throughput, not a stall. Workers spin briefly after a job (the
// engine issues many small kernels back to back) and then sleep on a condition variable.
#pragma once

#include <cstdint>

namespace sx {

// Runs `call(ctx, task)` for every task in [0, ntasks) on the caller and up to ntasks - 1 workers.
// Runs everything inline when called from inside a job or while another thread owns the pool
// (nested kernels, Node worker threads).
void pool_run(int ntasks, void (*call)(void*, int), void* ctx);
int pool_threads();
void pool_set_threads(int n);
// True on a pool worker or on the caller while it runs a job: nested work should stay serial.
bool pool_in_job();

// Calls fn(begin, end) over [0, n) in at most pool_threads() contiguous chunks of at least
// `grain` indices each; runs fn(0, n) inline when the range is too small to be worth splitting.
template <typename F>
void parallel_for(std::int64_t n, std::int64_t grain, const F& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  std::int64_t chunks = n / grain;
  const int threads = pool_threads();
  if (chunks > threads) chunks = threads;
  if (chunks <= 1 || pool_in_job()) {
    fn(std::int64_t{0}, n);
    return;
  }
  struct Ctx {
    const F* fn;
    std::int64_t n;
    std::int64_t chunks;
  } ctx{&fn, n, chunks};
  pool_run(
      static_cast<int>(chunks),
      [](void* p, int c) {
        const Ctx& x = *static_cast<const Ctx*>(p);
        const std::int64_t b = x.n * c / x.chunks;
        const std::int64_t e = x.n * (c + 1) / x.chunks;
        if (b < e) (*x.fn)(b, e);
      },
      &ctx);
}

}  // namespace sx
