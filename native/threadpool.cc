// Thread pool implementation: one slot per worker, each with its own job sequence number, so a
// job only wakes the workers it needs and the caller knows exactly whom to wait for.
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
  int index = 0;  // task index this worker runs (1..)
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
      w->index = threads();
      Worker* raw = w.get();
      w->thread = std::thread([this, raw] { loop(raw); });
      workers_.push_back(std::move(w));
    }
  }

  void run(int ntasks, void (*call)(void*, int), void* ctx) {
    std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
    if (!own.owns_lock() || t_in_job || ntasks <= 1) {
      for (int t = 0; t < ntasks; ++t) call(ctx, t);
      return;
    }
    ntasks = std::min(ntasks, threads());
    call_ = call;
    ctx_ = ctx;
    done_.store(0, std::memory_order_relaxed);
    const int helpers = ntasks - 1;
    for (int i = 0; i < helpers; ++i) {
      Worker* w = workers_[i].get();
      w->seq.fetch_add(1, std::memory_order_seq_cst);
      if (w->sleeping.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lk(w->mu);
        w->cv.notify_one();
      }
    }
    t_in_job = true;
    call(ctx, 0);
    t_in_job = false;
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < helpers) {
      if (++spins < 20000) {
        SX_PAUSE();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
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
      call_(ctx_, w->index);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  std::mutex owner_;  // held by the thread running a job (or resizing)
  std::vector<std::unique_ptr<Worker>> workers_;
  void (*call_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int> done_{0};
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
