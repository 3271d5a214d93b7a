# Builds build/Release/sextant_native.node. OpenBLAS is used when native/detect-blas.js finds it
# (set SEXTANT_NO_BLAS=1 to force the built-in GEMM); otherwise only Node's toolchain is needed.
{
  'targets': [
    {
      'target_name': 'sextant_native',
      'sources': [
        'native/addon.cc',
        'native/addon_nn.cc',
        'native/cpu.cc',
        'native/threadpool.cc',
        'native/gemm.cc',
        'native/elementwise.cc',
        'native/reduce.cc',
        'native/nn.cc',
        'native/attention.cc',
        'native/optim.cc',
        'native/simd.cc',
      ],
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
      ],
      'defines': [
        'NAPI_VERSION=8',
        '<!@(node native/detect-blas.js defines)',
      ],
      'include_dirs': [
        '<!@(node native/detect-blas.js include_dirs)',
      ],
      'libraries': [
        '<!@(node native/detect-blas.js libraries)',
        '-lpthread',
      ],
      'ldflags': [
        '<!@(node native/detect-blas.js ldflags)',
        '-pthread',
      ],
      # Portable code (no -march=native); AVX2 / AVX-512 copies of the hot kernels are chosen at
      # run time (native/cpu.h). No -ffast-math: it would break NaN propagation, which the
      # kernels promise. -fno-trapping-math only drops FP-exception-flag fidelity (nothing reads
      # those flags) and lets the compiler turn per-element selects into vector blends.
      'cflags': ['-O3', '-fno-math-errno', '-fno-trapping-math', '-pthread',
                 '-fvisibility=hidden'],
      'cflags!': ['-O2'],
      'cflags_cc': ['-std=gnu++17', '-O3', '-fno-math-errno', '-fno-trapping-math', '-pthread',
                    '-Wall', '-Wextra', '-Wno-unused-parameter'],
      'cflags_cc!': ['-std=gnu++20', '-std=gnu++14'],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'gnu++17',
        'OTHER_CFLAGS': ['-O3', '-fno-math-errno', '-fno-trapping-math'],
      },
    },
  ],
}
