/* The FMA peak of one CPU core, independent of any library: the hardware limit the bench compares to.
 *
 *   gcc -O2 -mavx512f -o /tmp/fma_peak bench/fma_peak.c && /tmp/fma_peak      (AVX-512 CPUs)
 *   gcc -O2 -mavx2 -mfma -DUSE_AVX2 -o /tmp/fma_peak bench/fma_peak.c && /tmp/fma_peak
 *
 * Twelve independent chains of fused multiply-adds keep both FMA pipes busy; the best of five
 * rounds is reported (a shared machine's other jobs only ever slow a round down).
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#ifdef USE_AVX2
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define STORE _mm256_storeu_ps
#else
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define STORE _mm512_storeu_ps
#endif

#define CHAINS 12

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    vec acc[CHAINS];
    const vec mul = SET1(0.999999f), add = SET1(1e-6f);
    const long iterations = 100000000;
    double best = 1e30;
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i);
    for (int round = 0; round < 5; round++) {
        double start = now();
        for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], mul, add);
        }
        double seconds = now() - start;
        if (seconds < best) best = seconds;
    }
    float sink[LANES], total = 0;
    for (int i = 0; i < CHAINS; i++) {
        STORE(sink, acc[i]);
        total += sink[0];
    }
    printf("%.1f GFLOP/s per core (fp32 FMA, %d lanes; checksum %g)\n",
           2.0 * LANES * CHAINS * iterations / best / 1e9, LANES, total);
    return 0;
}
