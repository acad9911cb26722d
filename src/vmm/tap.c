/* A TAP handed over by name, for VMMs that open theirs themselves
 * (driver.h, vmm_tap_by_name). */
#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/driver.h"

int vmm_tap_by_name(struct vmm *vm, gid_t group, char name[16], struct cove_err *err)
{
	struct vmm_config *c = &vm->cfg.c;
	if (c->tap_fd < 0)
		return cove_errf(err, -EINVAL, "vmm %s: no TAP to hand over", c->id);
	struct ifreq ifr = { 0 };
	int r = 0;
	if (ioctl(c->tap_fd, TUNGETIFF, &ifr) < 0)
		r = cove_errno(err, -errno, "vmm %s: the name of its TAP", c->id);
	/* Owner and group: a process unprivileged in the network namespace
	 * attaches only as that uid with that gid among its groups. */
	else if (vm->confined && (ioctl(c->tap_fd, TUNSETOWNER, (unsigned long)vm->uid) < 0 ||
				  ioctl(c->tap_fd, TUNSETGROUP, (unsigned long)group) < 0))
		r = cove_errno(err, -errno, "vmm %s: give TAP %.16s to uid %u", c->id, ifr.ifr_name, (unsigned)vm->uid);
	close(c->tap_fd);
	c->tap_fd = -1;
	if (r < 0)
		return r;
	snprintf(name, 16, "%.15s", ifr.ifr_name);
	vm->tap_by_name = true;
	return 0;
}
