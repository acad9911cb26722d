/* pager-bench: make bench's measure of the two ways Firecracker's driver
 * restores memory saved as a Diff over a template's memory
 * (src/vmm/fc/memory.c), on the same files, cold (their pages dropped from
 * the page cache first), interleaved:
 *   uffd        every page of the memory touched once through cove-pager
 *               (a Uffd backend: each first touch a fault it answers);
 *   file_merge  the File backend's preparation: the template's memory
 *               copied and the Diff applied onto the copy;
 *   file_touch  then every page touched once through a private mapping of
 *               the merged file (what Firecracker's File backend maps).
 * The uffd figure is the page server's real cost; the VMM's side is the
 * test double's handshake (tests/tools/vmmdouble/uffd.c), as Firecracker
 * does it.
 *
 *   pager-bench COVE_PAGER SIZE_MIB RUNS
 * The memory: a page in two with data (a booted guest's), the Diff a page
 * in twenty; touched whole, then a page in a hundred. Prints one line per
 * measure: median and p99 in ms. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "vmmdouble/vmmdouble.h"

#define PAGE 4096
#define MAX_RUNS 100

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "pager-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void make_file(const char *path, uint64_t size, unsigned every, char fill)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die(path);
	char page[PAGE];
	for (uint64_t off = 0; off < size; off += (uint64_t)PAGE * every) {
		memset(page, fill + (char)(off / PAGE % 13), PAGE);
		if (pwrite(fd, page, PAGE, (off_t)off) != PAGE)
			die(path);
	}
	fsync(fd);
	close(fd);
}

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Every stride-th page, in an order that hops about (a guest's working
 * set, not a scan). */
static uint64_t touch(const volatile uint8_t *mem, uint64_t size, unsigned stride)
{
	uint64_t sum = 0, pages = size / PAGE, n = pages / stride;
	for (uint64_t i = 0; i < n; i++)
		sum += mem[(i * 7919 % n) * stride * PAGE];
	return sum;
}

/* One uffd run: a child plays the VMM (the server ends with it). */
static double run_uffd(const char *pager, const char *dir, const char *base, const char *diff, uint64_t size,
		       unsigned stride)
{
	char sock[256];
	snprintf(sock, sizeof(sock), "%s/pager.sock", dir);
	unlink(sock);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		die("listen");
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	pid_t vmm = fork();
	if (vmm == 0) {
		/* The server's parent is the "VMM", as coved starts it for one. */
		pid_t server = fork();
		if (server == 0) {
			int fds[3] = { dup(l), open(diff, O_RDONLY), open(base, O_RDONLY) };
			for (int i = 0; i < 3; i++)
				if (dup2(fds[i], 100 + i) < 0)
					_exit(127);
			for (int i = 0; i < 3; i++)
				dup2(100 + i, 3 + i);
			char vpid[16];
			snprintf(vpid, sizeof(vpid), "%d", (int)getppid());
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 2);
			execl(pager, pager, "--vmm-pid", vpid, "--layers", "2", (char *)NULL);
			_exit(127);
		}
		void *mem;
		int uffd;
		struct cove_err err = { 0 };
		if (vmmdouble_uffd_connect(sock, size, &mem, &uffd, &err) < 0) {
			fprintf(stderr, "pager-bench: %s\n", err.msg);
			_exit(1);
		}
		double t0 = now_ms();
		touch(mem, size, stride);
		double ms = now_ms() - t0;
		if (write(p[1], &ms, sizeof(ms)) != sizeof(ms))
			_exit(1);
		_exit(0);
	}
	double ms = -1;
	if (read(p[0], &ms, sizeof(ms)) != sizeof(ms))
		ms = -1;
	int status;
	waitpid(vmm, &status, 0);
	close(p[0]);
	close(p[1]);
	close(l);
	unlink(sock);
	return ms;
}

static void run_file(const char *dir, const char *base, const char *diff, uint64_t size, unsigned stride,
		     double *merge_ms, double *touch_ms)
{
	char merged[256];
	snprintf(merged, sizeof(merged), "%s/merged", dir);
	unlink(merged);
	double t0 = now_ms();
	struct cove_err err = { 0 };
	if (fs_copy_file(base, merged, false, &err) < 0) {
		fprintf(stderr, "pager-bench: %s\n", err.msg);
		exit(1);
	}
	int in = open(diff, O_RDONLY), out = open(merged, O_WRONLY);
	if (in < 0 || out < 0 || fs_overlay_fd(in, out) < 0)
		die("merge");
	close(in);
	close(out);
	double t1 = now_ms();
	*merge_ms = t1 - t0;
	int fd = open(merged, O_RDONLY);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (fd < 0 || mem == MAP_FAILED)
		die("map");
	t1 = now_ms();
	touch(mem, size, stride);
	*touch_ms = now_ms() - t1;
	munmap(mem, size);
	close(fd);
	unlink(merged);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n, uint64_t size)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	double p99 = v[(int)(n * 0.99 + 0.999) - 1];
	(void)size;
	printf("  %-12s n=%-3d median=%8.1f ms  p99=%8.1f ms\n", name, n, med, p99);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: pager-bench COVE_PAGER SIZE_MIB RUNS\n");
		return 2;
	}
	const char *pager = argv[1];
	uint64_t size = strtoull(argv[2], NULL, 10) << 20;
	int runs = atoi(argv[3]);
	if (size == 0 || runs < 1 || runs > MAX_RUNS)
		return 2;
	char dir[] = "/var/tmp/cove-pager-bench.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char base[256], diff[256];
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	make_file(base, size, 2, 'a');
	make_file(diff, size, 20, 'A');
	printf("pager-bench: %llu MiB of memory (a page in 2 with data, the Diff a page in 20), %d runs, cold\n",
	       (unsigned long long)(size >> 20), runs);
	/* All of it, then a page in a hundred: what a resumed guest touches
	 * is usually a part, and only the page server's cost follows it
	 * (each fault brings up to 128 KiB). */
	static const unsigned strides[] = { 1, 100 };
	for (size_t k = 0; k < 2; k++) {
		double uffd[MAX_RUNS], merge[MAX_RUNS], file[MAX_RUNS];
		unsigned stride = strides[k];
		for (int i = 0; i < runs; i++) {
			drop_cache(base);
			drop_cache(diff);
			uffd[i] = run_uffd(pager, dir, base, diff, size, stride);
			drop_cache(base);
			drop_cache(diff);
			run_file(dir, base, diff, size, stride, &merge[i], &file[i]);
			if (uffd[i] < 0) {
				fprintf(stderr, "pager-bench: a uffd run failed\n");
				return 1;
			}
		}
		printf("touching a page in %u:\n", stride);
		report("uffd", uffd, runs, size);
		report("file_merge", merge, runs, size);
		report("file_touch", file, runs, size);
		for (int i = 0; i < runs; i++)
			merge[i] += file[i];
		report("file_total", merge, runs, size);
	}
	unlink(base);
	unlink(diff);
	rmdir(dir);
	return 0;
}
