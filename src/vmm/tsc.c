/* The host's TSC frequency, for TCG guests.
 *
 * Under TCG the guest's RDTSC returns the host's TSC. QEMU's microvm has no
 * HPET or ACPI PM timer, so the guest kernel can calibrate its TSC only
 * against the PIT, and under TCG that calibration is disturbed by host
 * scheduling: measured here, 1 boot in 6 failed it, marked the TSC unstable
 * and then hung. Telling the guest the frequency (tsc_early_khz=) skips the
 * calibration altogether. The host's frequency is measured once per process
 * against CLOCK_MONOTONIC_RAW over ~10 ms, to within a few parts per million. */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "vmm/driver.h"

#define MEASURE_NS 10000000L

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static int64_t raw_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A clock reading bracketed by two TSC reads; the tightest of a few tries. */
static void sample(uint64_t *tsc, int64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t a = rdtsc();
		int64_t t = raw_ns();
		uint64_t b = rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = t;
		}
	}
}

static unsigned measured_khz;

static void measure(void)
{
	uint64_t c0, c1;
	int64_t t0, t1;
	sample(&c0, &t0);
	struct timespec pause = { 0, MEASURE_NS };
	nanosleep(&pause, NULL);
	sample(&c1, &t1);
	if (t1 > t0 && c1 > c0)
		measured_khz = (unsigned)((c1 - c0) * 1000000 / (uint64_t)(t1 - t0));
}

unsigned vmm_host_tsc_khz(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, measure);
	return measured_khz;
}
#else
unsigned vmm_host_tsc_khz(void)
{
	return 0;
}
#endif
