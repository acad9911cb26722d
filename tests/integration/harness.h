/* Shared by the integration tests: each boots real QEMU guests with the
 * kernel and image the build made (COVE_KERNEL, COVE_ROOTFS, set by
 * tests/run.sh), in run and log directories of its own, and checks that it
 * leaves nothing behind. */
#ifndef COVE_TEST_HARNESS_H
#define COVE_TEST_HARNESS_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/env.h"
#include "sandbox/sandbox.h"

struct harness {
	char base[64];
	char run_dir[96];
	char log_dir[96];
	const char *kernel;
	const char *rootfs;
	struct net_slots *net;
};

struct capture {
	char out[65536];
	size_t out_len;
	char err[65536];
	size_t err_len;
};

static inline int capture_output(void *ctx, enum process_stream stream, const uint8_t *data, size_t len)
{
	struct capture *c = ctx;
	char *buf = stream == PROCESS_STDERR ? c->err : c->out;
	size_t *n = stream == PROCESS_STDERR ? &c->err_len : &c->out_len;
	size_t room = sizeof(c->out) - 1 - *n;
	size_t take = len < room ? len : room;
	memcpy(buf + *n, data, take);
	*n += take;
	buf[*n] = '\0';
	return 0;
}

/* Skips the whole program (TAP "1..0 # SKIP") when a guest cannot be booted
 * here, saying why; otherwise prepares fresh directories. */
static inline int harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	h->kernel = env_get(ENV_KERNEL);
	h->rootfs = getenv("COVE_ROOTFS");
	if (!h->kernel || access(h->kernel, R_OK) || !h->rootfs || access(h->rootfs, R_OK)) {
		printf("1..0 # SKIP no guest kernel/image (COVE_KERNEL, COVE_ROOTFS); run 'make' first\n");
		return -1;
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for namespaces and TAP devices\n");
		return -1;
	}
	snprintf(h->base, sizeof(h->base), "/tmp/cove-test.XXXXXX");
	if (!mkdtemp(h->base))
		return -1;
	snprintf(h->run_dir, sizeof(h->run_dir), "%s/run", h->base);
	snprintf(h->log_dir, sizeof(h->log_dir), "%s/log", h->base);
	/* The tests' own network instance (tests/run.sh sets COVE_NET_NAME and
	 * the rest), so a Cove running on this host is never touched. */
	struct net_config nc;
	net_config_from_env(&nc);
	struct cove_err err = { 0 };
	if (net_slots_open(&nc, &h->net, NULL, &err) < 0) {
		printf("Bail out! network slots: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Slot namespaces mounted for this instance (0 when all were released). */
static inline int harness_slots_left(void)
{
	const char *dir = env_get(ENV_NET_DIR);
	int n = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static inline void harness_fini(struct harness *h)
{
	h->net = net_slots_close(h->net);
}

static inline void harness_config(const struct harness *h, struct sandbox_config *c)
{
	memset(c, 0, sizeof(*c));
	c->net = h->net;
	c->policy.internet = true;
	c->kernel = h->kernel;
	c->rootfs = h->rootfs;
	c->accel = VMM_ACCEL_AUTO;
	c->run_dir = h->run_dir;
	c->log_dir = h->log_dir;
	c->die_with_parent = true;
	c->cancel_fd = -1;
	c->agent_timeout_ms = 60000;
}

/* Entries left in a directory (0 when it is missing). */
static inline int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Processes whose command line mentions text (our run dir is in QEMU's). */
static inline int processes_mentioning(const char *text)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) == getpid())
			continue;
		char path[64], buf[8192];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, text))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Mounts in the host's namespace whose mount point lies under path. */
static inline int mounts_under(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, path))
			n++;
	if (f)
		fclose(f);
	return n;
}

#endif
