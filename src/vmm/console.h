/* A VMM's two logs (its guest's serial console, LOG_DIR/ID.console.log, and
 * its own stdout/stderr, LOG_DIR/ID.vmm.log), written by Cove, capped and
 * rotated, so that a guest flooding its console can fill neither the
 * host's disk nor coved's memory, and slows only itself.
 *
 * The VMM opens no log file: it is handed descriptors (it may be confined
 * where no host path reaches). Its console is a unix stream socket coved
 * listens on (RUN_DIR/ID/console.sock), handed to the VMM as a listening
 * descriptor; coved connects to it and reads. Its stdout/stderr are the
 * write end of a FIFO (RUN_DIR/ID/vmm.out) coved reads. Both have paths,
 * so a coved that restarts and adopts the VMM reads them again; meanwhile
 * the VMM drops console output (no client) and gets EPIPE on stderr.
 *
 * One reader thread per VMM (not one for all): each VMM's logs are its
 * own, so a guest that floods its console keeps only its own reader busy,
 * and ownership is the VMM's (started with it, joined when it goes). The
 * reader writes synchronously and at most VMM_LOG_RATE bytes a second:
 * when it falls behind, the socket's buffer fills and the guest's serial
 * port stalls (backpressure), and nothing is buffered beyond the kernel's
 * socket and pipe buffers.
 *
 * Each file holds at most the cap (COVE_LOG_MAX_KIB, default
 * VMM_LOG_DEFAULT_MAX); when the next bytes would not fit, it is renamed
 * PATH.1 (replacing the one before) and a new PATH begun: at most twice
 * the cap per log. Part of the driver-support layer (driver.h). */
#ifndef COVE_VMM_CONSOLE_H
#define COVE_VMM_CONSOLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VMM_LOG_DEFAULT_MAX (2u << 20)
#define VMM_LOG_MIN_MAX 4096u
/* What the reader writes of one VMM's logs at most, bytes a second. */
#define VMM_LOG_RATE (1u << 20)
#define VMM_LOG_ROTATED_SUFFIX ".1"

/* A log file capped at cap bytes, rotated to PATH.1. */
struct log_file {
	char path[PATH_MAX];
	int fd; /* -1: closed */
	uint64_t size, cap;
	bool failed; /* a write failed (said once); later bytes are dropped */
};

/* Opens path (fresh: emptied, with PATH.1 removed; else appended to). */
int log_file_open(struct log_file *f, const char *path, uint64_t cap, bool fresh, struct cove_err *err);
/* Appends len bytes, rotating as often as they need. */
int log_file_write(struct log_file *f, const void *buf, size_t len, struct cove_err *err);
void log_file_close(struct log_file *f);
/* Removes path and PATH.1. */
void log_file_remove(const char *path);
/* The cap: COVE_LOG_MAX_KIB KiB, else VMM_LOG_DEFAULT_MAX; at least
 * VMM_LOG_MIN_MAX. */
uint64_t log_file_cap(void);

struct vmm;

/* Before launch: the console socket (listening; *console_fd, which the
 * VMM gets) and the FIFO (*output_fd, its write end, the VMM's stdout and
 * stderr) in the run directory. Both stay the logs' own (closed by
 * vmm_logs_start or vmm_logs_stop). */
int vmm_logs_prepare(struct vmm *vm, int *console_fd, int *output_fd, struct cove_err *err);
/* After launch: connects, opens both logs afresh, starts the reader. */
int vmm_logs_start(struct vmm *vm, struct cove_err *err);
/* For an adopted VMM: reopens the socket and the FIFO by their paths,
 * appends to the logs. A VMM started without them (an older Cove) is
 * left as it is: -ENOENT. */
int vmm_logs_adopt(struct vmm *vm, struct cove_err *err);
/* Stops the reader after it wrote what is pending (all of it when the VMM
 * has exited: to the end of both streams) and frees. NULL-safe. */
void vmm_logs_stop(struct vmm *vm);

#endif
