/*
 * sleeper SECONDS
 *
 * Long-running, mostly idle process for attach tests (`record -p PID`).
 * For SECONDS of wall time it alternates ~5ms of CPU work in spin() with
 * ~5ms of nanosleep, then exits 0. The busy half guarantees samples
 * whenever a profiler attaches; the sleeps exercise context switches.
 *
 * Build: cc -O2 -g -fno-omit-frame-pointer -no-pie -o sleeper sleeper.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BURST_NS 5000000L
#define SLEEP_NS 5000000L

static volatile uint64_t sink;

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burns BURST_NS of this thread's CPU time. The volatile accumulator keeps
 * -O2 from folding the loop and gives spin a real frame for unwinding. */
__attribute__((noinline)) void spin(void)
{
	int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + BURST_NS;
	volatile uint64_t x = sink;
	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sleeper SECONDS\n");
		return 2;
	}
	int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)(atof(argv[1]) * 1e9);
	const struct timespec pause = { 0, SLEEP_NS };
	while (now_ns(CLOCK_MONOTONIC) < end) {
		spin();
		nanosleep(&pause, NULL);
	}
	return 0;
}
