/*
 * cpu_bound SECONDS [EXIT_CODE]
 *
 * Deterministic CPU-bound workload for profiler tests. Burns about SECONDS
 * of thread CPU time (fractional allowed), then exits with EXIT_CODE
 * (default 0). The time split and call structure are fixed so tests can
 * assert on them:
 *
 *   main -> run_workload -> caller_a -> hot_a   (~70% of samples)
 *                        -> caller_b -> hot_b   (~30% of samples)
 *
 * Build: cc -O2 -g -fno-omit-frame-pointer -no-pie -o cpu_bound cpu_bound.c
 * (non-PIE so ELF symbol addresses equal runtime addresses).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* One unit is ~100us of work, so a 7+3 unit slice is ~1ms: fine enough
 * that the 70/30 split holds even for 0.5s runs. */
#define ITERS_PER_UNIT 90000
#define UNITS_A 7
#define UNITS_B 3

/* Results are stored here so the compiler must compute them. */
static volatile uint64_t sink;

/* hot_a and hot_b run this identical loop, so a unit costs the same in
 * both. The accumulator is volatile: every step is a load and store in the
 * caller's stack frame, which -O2 cannot fold away, and needing a frame
 * makes gcc set up %rbp even in these leaf functions (otherwise it skips it,
 * and frame-pointer unwinding would drop caller_a/caller_b from the chain). */
static inline __attribute__((always_inline)) void burn(int units)
{
	volatile uint64_t x = sink;
	for (long i = 0; i < (long)units * ITERS_PER_UNIT; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline)) void hot_a(void) { burn(UNITS_A); }
__attribute__((noinline)) void hot_b(void) { burn(UNITS_B); }

/* The asm barriers keep these frames from being turned into tail calls,
 * so each caller stays on the stack below its hot function. */
__attribute__((noinline)) void caller_a(void) { hot_a(); __asm__ volatile(""); }
__attribute__((noinline)) void caller_b(void) { hot_b(); __asm__ volatile(""); }

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time (not wall time) bounds the run, so the amount of work and the
 * sample count stay stable even if a profiler competes for the CPU. */
__attribute__((noinline)) void run_workload(double seconds)
{
	double end = cpu_seconds() + seconds;
	while (cpu_seconds() < end) {
		caller_a();
		caller_b();
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: cpu_bound SECONDS [EXIT_CODE]\n");
		return 2;
	}
	run_workload(atof(argv[1]));
	return argc == 3 ? atoi(argv[2]) : 0;
}
