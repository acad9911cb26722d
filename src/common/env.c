#include "common/env.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* README.md's lists of environment settings say the same (test_env checks
 * that it names each one). */
static const struct env_setting_info settings[ENV_SETTINGS_COUNT] = {
	[ENV_URL] = { "COVE_URL", COVE_DEFAULT_URL, NULL, COVE_DEFAULT_URL,
		      "coved's address, for cove's remote verbs and cove run" },
	[ENV_API_KEY] = { "COVE_API_KEY", NULL, NULL, "STATE_DIR/api-key",
			  "the API key coved requires and cove sends (X-API-KEY)" },
	[ENV_STATE_DIR] = { "COVE_STATE_DIR", COVE_DEFAULT_STATE_DIR, NULL, COVE_DEFAULT_STATE_DIR,
			    "the state database and coved's API key" },
	[ENV_RUN_DIR] = { "COVE_RUN_DIR", COVE_DEFAULT_RUN_DIR, NULL, COVE_DEFAULT_RUN_DIR,
			  "VMMs' run directories (sockets, work directories, identities)" },
	[ENV_LOG_DIR] = { "COVE_LOG_DIR", COVE_DEFAULT_LOG_DIR, NULL, COVE_DEFAULT_LOG_DIR,
			  "VMM and guest console logs" },
	[ENV_LOG] = { "COVE_LOG", NULL, NULL, "warn (cove), info (coved)", "log level: error, warn, info or debug" },
	[ENV_LOG_MAX_KIB] = { "COVE_LOG_MAX_KIB", NULL, NULL, "2048",
			      "each VMM and console log file is rotated (to NAME.1) at this many KiB" },
	[ENV_KERNEL] = { "COVE_KERNEL", NULL, "vmlinux", "BIN/../guest/vmlinux, else " COVE_SHARE_DIR "/vmlinux",
			 "the guest kernel" },
	[ENV_TEMPLATES] = { "COVE_TEMPLATES", NULL, "templates",
			    "BIN/../guest/templates, else " COVE_SHARE_DIR "/templates", "the templates directory" },
	[ENV_TEMPLATE] = { "COVE_TEMPLATE", COVE_DEFAULT_TEMPLATE, NULL, COVE_DEFAULT_TEMPLATE,
			   "the template cove run uses without --template" },
	[ENV_GUEST_BIN] = { "COVE_GUEST_BIN", NULL, NULL, "next to cove",
			    "where cove template build takes the guest programs from" },
	[ENV_GUEST_TOOLS] = { "COVE_GUEST_TOOLS", NULL, "tools", "BIN/../guest/tools, else " COVE_SHARE_DIR "/tools",
			      "the scripts cove template build runs for a Debian recipe" },
	[ENV_QEMU] = { "COVE_QEMU", NULL, NULL, "qemu-system-x86_64 on PATH", "the qemu driver's binary" },
	[ENV_FIRECRACKER] = { "COVE_FIRECRACKER", NULL, NULL, "firecracker on PATH", "the firecracker driver's binary" },
	[ENV_CLOUD_HYPERVISOR] = { "COVE_CLOUD_HYPERVISOR", NULL, NULL, "cloud-hypervisor on PATH",
				   "the cloud-hypervisor driver's binary" },
	[ENV_FIRECRACKER_MEMORY] = { "COVE_FIRECRACKER_MEMORY", NULL, NULL, "uffd where userfaultfd is usable, else file",
				     "how firecracker restores memory saved as a Diff over a template's: uffd "
				     "(cove-pager serves it) or file (merged into one file first)" },
	[ENV_FIRECRACKER_JAILER] = { "COVE_FIRECRACKER_JAILER", NULL, NULL, "auto: jailer beside firecracker, when of its version",
				     "Firecracker's own jailer to start it under: auto, off, or its path" },
	[ENV_PAGER] = { "COVE_PAGER", NULL, NULL, "cove-pager next to the program, else on PATH",
			"the page server firecracker's uffd memory backend talks to" },
	[ENV_VMM] = { "COVE_VMM", NULL, NULL, "qemu",
		      "the VMM driver: qemu, firecracker or cloud-hypervisor" },
	[ENV_VMM_IDS] = { "COVE_VMM_IDS", COVE_DEFAULT_VMM_IDS, NULL, COVE_DEFAULT_VMM_IDS,
			  "the ids VMMs run as, FIRST:COUNT (FIRST: the group all share; each VMM its own uid above it), "
			  "or off (as root)" },
	[ENV_NET_NAME] = { "COVE_NET_NAME", COVE_DEFAULT_NET_NAME, NULL, COVE_DEFAULT_NET_NAME,
			   "the network instance: nftables table inet NAME, host links NAME-N" },
	[ENV_NET_RANGE] = { "COVE_NET_RANGE", COVE_DEFAULT_NET_RANGE, NULL, COVE_DEFAULT_NET_RANGE,
			    "where the veth /31s come from" },
	[ENV_NET_DIR] = { "COVE_NET_DIR", NULL, NULL, "$COVE_RUN_DIR/netns", "where slot namespaces are mounted" },
	[ENV_NET_MAX_SLOTS] = { "COVE_NET_MAX_SLOTS", NULL, NULL, "1024", "at most this many network slots" },
	[ENV_NET_POOL] = { "COVE_NET_POOL", NULL, NULL, "0", "ready network slots kept made in the background" },
	[ENV_DNS] = { "COVE_DNS", NULL, NULL, "the host's resolv.conf less loopback",
		      "nameservers for guests, A[,B...] or none (coved --dns, cove run --dns)" },
	[ENV_PLACEMENT_SEED] = { "COVE_PLACEMENT_SEED", NULL, NULL, "random",
				 "a cluster gateway's placement seed (a decimal number): the same choices every run" },
	[ENV_VOLUME_SIZE_MIB] = { "COVE_VOLUME_SIZE_MIB", NULL, NULL, "16384",
				  "the size of each new volume's file system in MiB (coved --volume-size-mib)" },
};

const struct env_setting_info *env_setting_info(enum env_setting s)
{
	return s < ENV_SETTINGS_COUNT ? &settings[s] : NULL;
}

const char *env_get(enum env_setting s)
{
	const struct env_setting_info *info = env_setting_info(s);
	const char *v = info ? getenv(info->name) : NULL;
	return v && *v ? v : NULL;
}

const char *env_value(enum env_setting s)
{
	const char *v = env_get(s);
	return v ? v : s < ENV_SETTINGS_COUNT ? settings[s].fallback : NULL;
}

unsigned env_unsigned(enum env_setting s)
{
	const char *v = env_get(s);
	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

int env_exe_dir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(out, len, "%s", slash == exe ? "/" : exe) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int env_guest_path(enum env_setting s, char *out, size_t len)
{
	const struct env_setting_info *info = env_setting_info(s);
	if (!info || !info->guest_file || !len)
		return -EINVAL;
	const char *v = env_get(s);
	if (v) {
		snprintf(out, len, "%s", v);
		return 0;
	}
	char dir[PATH_MAX];
	if (env_exe_dir(dir, sizeof(dir)) == 0) {
		snprintf(out, len, "%s/../guest/%s", dir, info->guest_file);
		if (access(out, R_OK) == 0)
			return 0;
	}
	snprintf(out, len, COVE_SHARE_DIR "/%s", info->guest_file);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}
