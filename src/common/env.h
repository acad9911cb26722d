/* Cove's settings read from the environment, in one place: a table of every
 * COVE_* variable the host programs (cove, coved) read, with its default and
 * what it means, and accessors for them. No other host code calls getenv()
 * for a Cove setting. (The guest programs read the kernel command line and
 * their own flags instead.)
 *
 * A variable set to the empty string counts as unset everywhere. The
 * defaults that are plain values are the COVE_DEFAULT_* below; the modules
 * that apply them (store, net, vmm, client) name these, so each default is
 * written once. */
#ifndef COVE_COMMON_ENV_H
#define COVE_COMMON_ENV_H

#include <stddef.h>

#define COVE_DEFAULT_URL "http://127.0.0.1:49982"
#define COVE_DEFAULT_STATE_DIR "/var/lib/cove"
#define COVE_DEFAULT_RUN_DIR "/run/cove"
#define COVE_DEFAULT_LOG_DIR "/var/log/cove"
#define COVE_DEFAULT_TEMPLATE "base"
#define COVE_DEFAULT_NET_NAME "cove"
#define COVE_DEFAULT_NET_RANGE "10.200.0.0/16"
#define COVE_DEFAULT_NET_MAX_SLOTS 1024
/* 0x70000000: far above the users of a distribution and of subuid ranges
 * (100000 on), below the 2^31 some tools still choke on. */
#define COVE_DEFAULT_VMM_IDS "1879048192:65536"
/* Where an installed Cove keeps its guest files (kernel, templates, tools)
 * when they are not next to the binary (BIN/../guest/, as a build has them). */
#define COVE_SHARE_DIR "/usr/local/share/cove"

enum env_setting {
	ENV_URL,
	ENV_API_KEY,
	ENV_STATE_DIR,
	ENV_RUN_DIR,
	ENV_LOG_DIR,
	ENV_LOG,
	ENV_LOG_MAX_KIB,
	ENV_KERNEL,
	ENV_TEMPLATES,
	ENV_TEMPLATE,
	ENV_GUEST_BIN,
	ENV_GUEST_TOOLS,
	ENV_QEMU,
	ENV_FIRECRACKER,
	ENV_CLOUD_HYPERVISOR,
	ENV_FIRECRACKER_MEMORY,
	ENV_FIRECRACKER_JAILER,
	ENV_PAGER,
	ENV_VMM,
	ENV_VMM_IDS,
	ENV_NET_NAME,
	ENV_NET_RANGE,
	ENV_NET_DIR,
	ENV_NET_MAX_SLOTS,
	ENV_NET_POOL,
	ENV_DNS,
	ENV_PLACEMENT_SEED,
	ENV_VOLUME_SIZE_MIB,
	ENV_SETTINGS_COUNT
};

struct env_setting_info {
	const char *name;       /* the variable, "COVE_RUN_DIR" */
	const char *fallback;   /* the default when unset, a plain value; NULL: see default_text */
	const char *guest_file; /* a guest file: its name next to the binary or in COVE_SHARE_DIR */
	const char *default_text; /* the default as a person reads it */
	const char *meaning;    /* one line on what it is for */
};

const struct env_setting_info *env_setting_info(enum env_setting s);

/* The variable's value; NULL when unset or empty. */
const char *env_get(enum env_setting s);

/* The value, else the table's plain default (NULL for a setting without
 * one). */
const char *env_value(enum env_setting s);

/* The value as a decimal number (strtoul), 0 when unset. */
unsigned env_unsigned(enum env_setting s);

/* A guest file (COVE_KERNEL, COVE_TEMPLATES, COVE_GUEST_TOOLS): the value,
 * else BIN/../guest/NAME next to the running binary when it is there, else
 * COVE_SHARE_DIR/NAME. 0 when the value is set or the file found is
 * readable, -ENOENT otherwise; out holds the path either way. */
int env_guest_path(enum env_setting s, char *out, size_t len);

/* The directory of the running binary (/proc/self/exe). */
int env_exe_dir(char *out, size_t len);

#endif
