/*
 * The GEMM peer: OpenBLAS's cblas_sgemm called directly, with no framework in between.
 * bench/gemm.ts compiles this file at run time into .bench/ (cc -O2 ... -lopenblas) and runs it
 * once per thread count.
 *
 *   gemm_openblas THREADS SAMPLES MIN_SAMPLE_MS SIZE [SIZE...]
 *
 * For each square SIZE it multiplies two float32 N x N row-major matrices (C = A B, beta 0),
 * repeating the call enough times that one sample lasts at least MIN_SAMPLE_MS, and prints one
 * JSON line: {"size", "threads", "samples": [GFLOP/s, ...], "median"}. The first line describes
 * the library: {"config", "corename", "threads"}.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a;
  double y = *(const double *)b;
  return (x > y) - (x < y);
}

static void sgemm_square(int n, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}

/* Median GFLOP/s of `samples` samples, each `reps` calls long; prints the JSON line. */
static void measure(int n, int threads, int samples, double min_sample_ms) {
  size_t count = (size_t)n * (size_t)n;
  float *a = malloc(count * sizeof(float));
  float *b = malloc(count * sizeof(float));
  float *c = malloc(count * sizeof(float));
  double *rates = malloc((size_t)samples * sizeof(double));
  if (!a || !b || !c || !rates) {
    fprintf(stderr, "gemm_openblas: out of memory for size %d\n", n);
    exit(1);
  }
  /* Values in [-1, 1), from a fixed linear congruential sequence: no denormals, no zeros. */
  unsigned state = 12345u;
  for (size_t i = 0; i < count; i++) {
    state = state * 1664525u + 1013904223u;
    a[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    state = state * 1664525u + 1013904223u;
    b[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
  }
  /* Warm-up: starts the thread pool and brings the operands into cache. */
  sgemm_square(n, a, b, c);
  double t0 = now_seconds();
  sgemm_square(n, a, b, c);
  double once = now_seconds() - t0;
  int reps = (int)(min_sample_ms / 1e3 / (once > 1e-9 ? once : 1e-9)) + 1;
  double flops = 2.0 * (double)n * (double)n * (double)n;
  for (int s = 0; s < samples; s++) {
    double start = now_seconds();
    for (int r = 0; r < reps; r++) sgemm_square(n, a, b, c);
    double elapsed = now_seconds() - start;
    rates[s] = flops * reps / elapsed / 1e9;
  }
  printf("{\"size\": %d, \"threads\": %d, \"reps\": %d, \"samples\": [", n, threads, reps);
  for (int s = 0; s < samples; s++) printf("%s%.3f", s ? ", " : "", rates[s]);
  qsort(rates, (size_t)samples, sizeof(double), compare_doubles);
  double median = samples % 2 ? rates[samples / 2]
                              : 0.5 * (rates[samples / 2 - 1] + rates[samples / 2]);
  printf("], \"median\": %.3f, \"check\": %.6g}\n", median, (double)c[count / 2]);
  free(a);
  free(b);
  free(c);
  free(rates);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s THREADS SAMPLES MIN_SAMPLE_MS SIZE [SIZE...]\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]);
  int samples = atoi(argv[2]);
  double min_sample_ms = atof(argv[3]);
  if (threads < 1 || samples < 1 || min_sample_ms <= 0) {
    fprintf(stderr, "gemm_openblas: THREADS and SAMPLES must be >= 1, MIN_SAMPLE_MS > 0\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  printf("{\"config\": \"%s\", \"corename\": \"%s\", \"threads\": %d}\n", openblas_get_config(),
         openblas_get_corename(), openblas_get_num_threads());
  for (int i = 4; i < argc; i++) measure(atoi(argv[i]), threads, samples, min_sample_ms);
  return 0;
}
