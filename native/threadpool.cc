// Thread pool implementation: each worker has its own wake-up word, so a job only wakes the
// workers it needs; tasks are then claimed from one epoch-tagged counter.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SX_PAUSE() _mm_pause()
#else
#define SX_PAUSE() std::this_thread::yield()
#endif

namespace sx {
namespace {

thread_local bool t_in_job = false;

// How long an idle worker keeps polling before it sleeps: long enough to bridge the gap
// between consecutive small kernels, short enough not to starve other processes.
constexpr auto kSpin = std::chrono::microseconds(100);

struct Worker {
  std::atomic<std::uint64_t> seq{0};
  std::atomic<bool> sleeping{false};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  std::thread thread;
};

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("SEXTANT_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    resize(std::max(1, n));
  }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    std::lock_guard<std::mutex> own(owner_);
    n = std::max(1, std::min(n, 256));
    while (threads() > n) {
      std::unique_ptr<Worker> w = std::move(workers_.back());
      workers_.pop_back();
      {
        std::lock_guard<std::mutex> lk(w->mu);
        w->stop.store(true);
      }
      w->cv.notify_all();
      w->thread.join();
    }
    while (threads() < n) {
      auto w = std::make_unique<Worker>();
      Worker* raw = w.get();
      w->thread = std::thread([this, raw] { loop(raw); });
      workers_.push_back(std::move(w));
    }
  }

  void run(int ntasks, void (*call)(void*, int), void* ctx) {
    std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
    if (!own.owns_lock() || t_in_job || ntasks <= 1 || ntasks > 0xffff) {
      for (int t = 0; t < ntasks; ++t) call(ctx, t);
      return;
    }
    std::uint64_t epoch;
    do epoch = ++epoch_ & 0xffffffffu;  // 32-bit tag; 0 is a worker's "nothing seen yet"
    while (epoch == 0);
    call_.store(call, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    claim_.store(epoch << 32 | std::uint64_t(ntasks) << 16, std::memory_order_release);
    const int helpers = std::min(ntasks, threads()) - 1;
    for (int i = 0; i < helpers; ++i) {
      Worker* w = workers_[i].get();
      w->seq.store(epoch, std::memory_order_seq_cst);
      if (w->sleeping.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lk(w->mu);
        w->cv.notify_one();
      }
    }
    t_in_job = true;
    work(epoch);
    t_in_job = false;
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < ntasks) {
      if (++spins < 20000) {
        SX_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  // Claims and runs tasks of job `epoch` until none are left. Tasks are claimed dynamically, so
  // a worker the OS has not scheduled yet simply gets fewer (the caller takes them); which
  // thread runs a task never changes what the task computes.
  void work(std::uint64_t epoch) {
    std::uint64_t v = claim_.load(std::memory_order_acquire);
    for (;;) {
      // Epoch and task count live in the claim word itself, so a worker that wakes after its
      // job is over sees a foreign epoch and stops, whatever else is being published.
      const std::uint64_t next = v & 0xffffu, ntasks = (v >> 16) & 0xffffu;
      if ((v >> 32) != epoch || next >= ntasks) return;
      if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      // Holding an unfinished task of this job pins call_/ctx_: the next job cannot start.
      call_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), int(next));
      done_.fetch_add(1, std::memory_order_release);
      v = claim_.load(std::memory_order_acquire);
    }
  }

  void loop(Worker* w) {
    t_in_job = true;  // anything a worker calls is nested work: keep it serial
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t s = w->seq.load(std::memory_order_acquire);
      if (s == seen) {
        auto until = std::chrono::steady_clock::now() + kSpin;
        int k = 0;
        while ((s = w->seq.load(std::memory_order_acquire)) == seen && !w->stop.load()) {
          SX_PAUSE();
          if ((++k & 63) == 0 && std::chrono::steady_clock::now() > until) break;
        }
        if (s == seen) {
          std::unique_lock<std::mutex> lk(w->mu);
          w->sleeping.store(true, std::memory_order_seq_cst);
          while ((s = w->seq.load(std::memory_order_seq_cst)) == seen && !w->stop.load()) {
            w->cv.wait(lk);
          }
          w->sleeping.store(false, std::memory_order_relaxed);
        }
      }
      if (w->stop.load()) return;
      seen = s;
      work(s);
    }
  }

  std::mutex owner_;  // held by the thread running a job (or resizing)
  std::vector<std::unique_ptr<Worker>> workers_;
  // Current job. Atomics because a worker that wakes late may read them while the next job is
  // being published; its claim then fails on the epoch tag and it runs nothing.
  std::uint64_t epoch_ = 0;
  std::atomic<void (*)(void*, int)> call_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<std::uint64_t> claim_{0};  // epoch << 32 | ntasks << 16 | next unclaimed task
  std::atomic<int> done_{0};             // tasks of the current job finished
};

// Never destroyed: at process exit the workers simply stop existing, which avoids joining
// threads from a static destructor while Node tears down.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

void pool_run(int ntasks, void (*call)(void*, int), void* ctx) { pool().run(ntasks, call, ctx); }
int pool_threads() { return pool().threads(); }
void pool_set_threads(int n) { pool().resize(n); }
bool pool_in_job() { return t_in_job; }

}  // namespace sx
