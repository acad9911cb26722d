/* VM configuration: defaults, validation, and the guest kernel command line. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm/internal.h"

void vmm_config_init(struct vmm_config *config)
{
	*config = (struct vmm_config){
		.driver = VMM_DEFAULT_DRIVER,
		.vcpus = VMM_DEFAULT_VCPUS,
		.mem_mib = VMM_DEFAULT_MEM_MIB,
		.accel = VMM_ACCEL_AUTO,
		.init = VMM_DEFAULT_INIT,
		.hostname = "cove",
		.run_dir = VMM_DEFAULT_RUN_DIR,
		.log_dir = VMM_DEFAULT_LOG_DIR,
		.netns_fd = -1,
		.tap_fd = -1,
	};
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n >= VMM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* The command line must stay a list of words: no value may break out of it. */
static bool cmdline_safe(const char *s)
{
	for (; *s; s++)
		if (*s == ' ' || *s == '\n' || *s == '"' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static bool valid_ipv4(const char *s)
{
	struct in_addr a;
	return s && inet_pton(AF_INET, s, &a) == 1;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Exactly six groups of two hex digits separated by ':'. */
static bool valid_mac(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !is_hex(s[i]))
			return false;
	return true;
}

/* An IPv4 address whose set bits are contiguous from the top. */
static bool valid_netmask(const char *s)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return false;
	uint32_t m = ntohl(a.s_addr);
	return m != 0 && (~m & (~m + 1)) == 0;
}

static int check_file(const char *field, const char *path, struct cove_err *err)
{
	struct stat st;
	if (!path || !*path)
		return cove_errf(err, -EINVAL, "config: %s is required", field);
	if (stat(path, &st) < 0)
		return cove_errno(err, -errno, "config: %s %s", field, path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return cove_errf(err, -EINVAL, "config: %s %s is not a regular file", field, path);
	return 0;
}

static int check_net(const struct vmm_config *c, struct cove_err *err)
{
	if (c->tap_fd < 0)
		return 0;
	if (!valid_ipv4(c->net.address))
		return cove_errf(err, -EINVAL, "config: net.address '%s' is not an IPv4 address", c->net.address ? c->net.address : "");
	if (!valid_ipv4(c->net.gateway))
		return cove_errf(err, -EINVAL, "config: net.gateway '%s' is not an IPv4 address", c->net.gateway ? c->net.gateway : "");
	if (!valid_netmask(c->net.netmask))
		return cove_errf(err, -EINVAL, "config: net.netmask '%s' is not an IPv4 netmask", c->net.netmask ? c->net.netmask : "");
	if (!valid_mac(c->net.mac))
		return cove_errf(err, -EINVAL, "config: net.mac '%s' is not a MAC address", c->net.mac ? c->net.mac : "");
	return 0;
}

static bool valid_tag(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n == 0 || n > VMM_SHARE_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return false;
	return true;
}

/* Shares: a directory each, distinct tags, and guest RAM virtiofsd can map
 * (a private mapping of a file or a restored snapshot's it cannot). */
static int check_shares(const struct vmm_config *c, struct cove_err *err)
{
	if (c->nshares > VMM_MAX_SHARES)
		return cove_errf(err, -E2BIG, "config: %zu shares (at most %d)", c->nshares, VMM_MAX_SHARES);
	if (!c->nshares)
		return 0;
	if (c->restore_state)
		return cove_errf(err, -EOPNOTSUPP, "config: a VM with shares cannot be restored from a snapshot "
						   "(QEMU cannot migrate a vhost-user-fs device); it must boot");
	if (c->mem_file && !c->mem_shared)
		return cove_errf(err, -EINVAL, "config: shares need guest RAM shared with virtiofsd, not a private mem_file");
	for (size_t i = 0; i < c->nshares; i++) {
		const struct vmm_share *s = &c->shares[i];
		struct stat st;
		if (!valid_tag(s->tag))
			return cove_errf(err, -EINVAL, "config: shares[%zu].tag '%s' must be 1-%d characters of a-z, 0-9, "
						       "'-' and '_'", i, s->tag ? s->tag : "", VMM_SHARE_TAG_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->shares[j].tag, s->tag) == 0)
				return cove_errf(err, -EINVAL, "config: shares[%zu].tag '%s' is also shares[%zu]'s", i,
						 s->tag, j);
		if (!s->host_dir || s->host_dir[0] != '/')
			return cove_errf(err, -EINVAL, "config: shares[%zu].host_dir '%s' must be an absolute path", i,
					 s->host_dir ? s->host_dir : "");
		if (stat(s->host_dir, &st) < 0)
			return cove_errno(err, -errno, "config: shared directory %s", s->host_dir);
		if (!S_ISDIR(st.st_mode))
			return cove_errf(err, -ENOTDIR, "config: shared directory %s is not a directory", s->host_dir);
	}
	return 0;
}

int vmm_config_validate(const struct vmm_config *c, struct cove_err *err)
{
	if (!c->driver || !*c->driver)
		return cove_errf(err, -EINVAL, "config: driver is required");
	if (!c->id || !valid_id(c->id))
		return cove_errf(err, -EINVAL, "config: id '%s' must be 1-%d characters of a-z, 0-9 and '-'",
				 c->id ? c->id : "", VMM_ID_MAX - 1);
	if (c->vcpus < 1 || c->vcpus > VMM_MAX_VCPUS)
		return cove_errf(err, -EINVAL, "config: vcpus %u is out of range 1-%d", c->vcpus, VMM_MAX_VCPUS);
	if (c->mem_mib < VMM_MIN_MEM_MIB || c->mem_mib > VMM_MAX_MEM_MIB)
		return cove_errf(err, -EINVAL, "config: mem_mib %u is out of range %d-%d", c->mem_mib,
				 VMM_MIN_MEM_MIB, VMM_MAX_MEM_MIB);
	if (c->accel != VMM_ACCEL_AUTO && c->accel != VMM_ACCEL_KVM && c->accel != VMM_ACCEL_TCG)
		return cove_errf(err, -EINVAL, "config: accel %d is not auto, kvm or tcg", (int)c->accel);
	if (!c->init || c->init[0] != '/' || !cmdline_safe(c->init))
		return cove_errf(err, -EINVAL, "config: init '%s' must be an absolute path without spaces", c->init ? c->init : "");
	if (!c->hostname || !*c->hostname || strlen(c->hostname) > 63 || !cmdline_safe(c->hostname) ||
	    strchr(c->hostname, ':'))
		return cove_errf(err, -EINVAL, "config: hostname '%s' is not a valid host name", c->hostname ? c->hostname : "");
	if (c->extra_cmdline && (strchr(c->extra_cmdline, '\n') || strlen(c->extra_cmdline) > 1024))
		return cove_errf(err, -EINVAL, "config: extra_cmdline must be one line of at most 1024 characters");
	if (!c->run_dir || c->run_dir[0] != '/')
		return cove_errf(err, -EINVAL, "config: run_dir '%s' must be an absolute path", c->run_dir ? c->run_dir : "");
	if (!c->log_dir || c->log_dir[0] != '/')
		return cove_errf(err, -EINVAL, "config: log_dir '%s' must be an absolute path", c->log_dir ? c->log_dir : "");
	/* sun_path holds 108 bytes: RUN_DIR/ID/qmp.sock must fit. */
	if (strlen(c->run_dir) + strlen(c->id) + sizeof("/qmp.sock") + 1 > 108)
		return cove_errf(err, -ENAMETOOLONG, "config: run_dir '%s' is too long for a control socket path", c->run_dir);
	if ((c->netns_fd >= 0) != (c->tap_fd >= 0))
		return cove_errf(err, -EINVAL, "config: netns_fd and tap_fd go together");
	int r = check_net(c, err);
	r = r ?: check_shares(c, err);
	if (r < 0)
		return r;
	r = check_file("kernel", c->kernel, err);
	if (r < 0)
		return r;
	/* A driver that saves a state as several files makes it a directory
	 * (struct vmm_snapshot_files). */
	struct stat st;
	if (c->restore_state && !(stat(c->restore_state, &st) == 0 && S_ISDIR(st.st_mode)) &&
	    (r = check_file("restore_state", c->restore_state, err)) < 0)
		return r;
	if (c->disk_layer && !c->disk_overlay)
		return cove_errf(err, -EINVAL, "config: a disk_layer needs a disk_overlay over it");
	if (c->disk_overlay && (r = check_file("disk_overlay", c->disk_overlay, err)) < 0)
		return r;
	if (c->disk_layer && (r = check_file("disk_layer", c->disk_layer, err)) < 0)
		return r;
	if (c->mem_file && c->mem_file[0] != '/')
		return cove_errf(err, -EINVAL, "config: mem_file '%s' must be an absolute path", c->mem_file);
	return check_file("rootfs", c->rootfs, err);
}

int vmm_kernel_cmdline(const struct vmm_config *c, char *buf, size_t len, struct cove_err *err)
{
	/* quiet: every console line costs time under TCG (measured: ~0.6 s to
	 * init quiet). panic=-1 with the VMM's no-reboot turns a guest panic into
	 * a VMM exit instead of a hang. */
	int n = snprintf(buf, len, "console=ttyS0 quiet panic=-1 root=/dev/vda rootfstype=ext4 rw init=%s",
			 c->init);
	if (n < 0 || (size_t)n >= len)
		return cove_errf(err, -ENAMETOOLONG, "kernel command line longer than %zu bytes", len);
	size_t used = (size_t)n;
	if (c->tap_fd >= 0) {
		/* The kernel's own static configuration (Documentation/admin-guide/
		 * nfs/nfsroot.rst): ip=client:server:gw:netmask:hostname:device:autoconf */
		n = snprintf(buf + used, len - used, " ip=%s::%s:%s:%s:eth0:off", c->net.address, c->net.gateway,
			     c->net.netmask, c->hostname);
	} else {
		n = snprintf(buf + used, len - used, " cove.hostname=%s", c->hostname);
	}
	if (n < 0 || (size_t)n >= len - used)
		return cove_errf(err, -ENAMETOOLONG, "kernel command line longer than %zu bytes", len);
	used += (size_t)n;
	if (c->extra_cmdline && *c->extra_cmdline) {
		n = snprintf(buf + used, len - used, " %s", c->extra_cmdline);
		if (n < 0 || (size_t)n >= len - used)
			return cove_errf(err, -ENAMETOOLONG, "kernel command line longer than %zu bytes", len);
	}
	return 0;
}

int vmm_guest_cmdline(const struct vmm_config *c, enum vmm_accel accel, unsigned tsc_khz, char *buf, size_t len,
		      struct cove_err *err)
{
	/* The extra arguments go last: after a "--" in them, the rest is
	 * init's, so the TSC parameters must come before. */
	struct vmm_config base = *c;
	base.extra_cmdline = NULL;
	int r = vmm_kernel_cmdline(&base, buf, len, err);
	if (r < 0)
		return r;
	/* Under TCG the guest reads the host's TSC; see tsc.c for why it must
	 * be told the frequency. That TSC is the host's, invariant and the same
	 * on every vCPU, but the guest's boot-time sync test between vCPUs
	 * fails under TCG's scheduling, and a guest that marks its TSC unstable
	 * falls back to the jiffies clocksource: 4 ms clock resolution, and a
	 * tick on every vCPU 250 times a second even when idle (measured: an
	 * idle 2-vCPU guest cost 10% of a host core; with tsc=reliable, 1%). */
	size_t used = strlen(buf);
	if (accel == VMM_ACCEL_TCG && tsc_khz &&
	    (size_t)snprintf(buf + used, len - used, " tsc=reliable tsc_early_khz=%u", tsc_khz) >= len - used)
		return cove_errf(err, -ENAMETOOLONG, "kernel command line longer than %zu bytes", len);
	used = strlen(buf);
	if (c->extra_cmdline && *c->extra_cmdline &&
	    (size_t)snprintf(buf + used, len - used, " %s", c->extra_cmdline) >= len - used)
		return cove_errf(err, -ENAMETOOLONG, "kernel command line longer than %zu bytes", len);
	return 0;
}
