/* The page server: guest memory served through userfaultfd, as
 * Firecracker's Uffd memory backend asks of "a page fault handler"
 * (docs/snapshotting/handling-page-faults-on-snapshot-resume.md in
 * Firecracker's tree). Cove runs one per restored Firecracker VM whose
 * memory is a chain of files (a Diff snapshot's dirty pages over a
 * template's memory): cove-pager (src/pager/main.c) is handed a listening
 * socket and the chain's files as descriptors, accepts the VMM's one
 * connection, receives the userfaultfd and the guest's memory regions, and
 * answers each fault with the page from the topmost file that has data
 * there (else a zero page), until the VMM exits. Its files:
 *   mappings.c  the handshake's JSON (pure; fuzz_uffd_mappings)
 *   layers.c    the chain of files and which one holds a page
 *   serve.c     the socket, the descriptor passing and the fault loop */
#ifndef COVE_VMM_PAGER_PAGER_H
#define COVE_VMM_PAGER_PAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define PAGER_MAX_REGIONS 32
#define PAGER_MAX_LAYERS 4
/* The handshake's JSON: a few regions, each a line of numbers. */
#define PAGER_HANDSHAKE_MAX (64 * 1024)

/* One of Firecracker's GuestRegionUffdMapping: the guest memory at host
 * address base (size bytes, in pages of page_size) has its contents at
 * offset in the memory file. */
struct pager_region {
	uint64_t base, size, offset, page_size;
};

/* Parses the handshake: a JSON array of {base_host_virt_addr, size,
 * offset, page_size} (page_size_kib, also in bytes despite its name, for
 * Firecracker before 1.12). Checks what the server relies on: page sizes
 * a power of two from 4 KiB to 1 GiB, bases, sizes and offsets aligned to
 * them, no overflow, no two regions overlapping in the VMM's memory.
 * 0, or -EINVAL/-E2BIG with a message naming what is wrong. */
int pager_parse_mappings(const char *text, size_t len, struct pager_region *out, size_t max, size_t *n,
			 struct cove_err *err);

/* The chain of memory files, top first; the descriptors are borrowed and
 * must stay open while it is used. */
struct pager_layers;
int pager_layers_open(const int *fds, size_t n, struct pager_layers **ret, struct cove_err *err);
void pager_layers_free(struct pager_layers *l);
/* Fills buf (len bytes, a multiple of 4 KiB) with the memory at offset:
 * each 4 KiB from the topmost file with data there, else zeros. Returns
 * the layer that gave the first 4 KiB (0 = top), or PAGER_ZERO. */
#define PAGER_ZERO (-1)
int pager_layers_read(const struct pager_layers *l, uint64_t offset, void *buf, size_t len);

/* What a server counted (its log line when it ends). */
struct pager_stats {
	uint64_t faults, from_layer[PAGER_MAX_LAYERS], zero, removed, eexist;
};

struct pager_options {
	int listen_fd;        /* the socket the VMM connects to */
	pid_t vmm_pid;        /* the one process allowed to connect; its exit ends the server */
	int accept_timeout_ms;
};
/* Serves until the VMM exits: 0, or a negative errno with a message (no
 * connection in time, a handshake that does not parse, a fault it cannot
 * answer). */
int pager_serve(const struct pager_options *o, const struct pager_layers *l, struct pager_stats *stats,
		struct cove_err *err);

#endif
