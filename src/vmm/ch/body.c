/* The Cloud Hypervisor driver's request bodies (ch.h): pure, so that unit
 * tests check them against the published API without a VMM. Field names
 * and enums are CH's OpenAPI document's (VmConfig, RestoreConfig,
 * VmSnapshotConfig). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "vmm/ch/ch.h"
#include "vmm/driver.h"

static json_t *memory_config(const struct vmm_config *c, const struct ch_paths *p)
{
	json_int_t size = (json_int_t)(c->mem_mib ? c->mem_mib : VMM_DEFAULT_MEM_MIB) << 20;
	/* virtiofsd maps the guest's RAM: it must be shared memory. */
	if (!p->memory)
		return c->nshares ? json_pack("{s:I, s:b}", "size", size, "shared", true) : json_pack("{s:I}", "size", size);
	/* MemoryConfig has no file: a file-backed VM is one memory zone, the
	 * VM's own size 0 (CH's docs/memory.md). */
	return json_pack("{s:I, s:b, s:[{s:s, s:I, s:s, s:b}]}", "size", (json_int_t)0, "shared", p->memory_shared,
			 "zones", "id", CH_MEMORY_ZONE, "size", size, "file", p->memory, "shared", p->memory_shared);
}

static json_t *disk_config(const struct ch_paths *p)
{
	json_t *d = json_pack("{s:s, s:b}", "path", p->disk, "readonly", p->disk_readonly);
	/* Off by default: CH opens a qcow2 image's backing file only when told. */
	if (d && p->disk_qcow2 && json_object_set_new(d, "backing_files", json_true()) < 0)
		d = (json_decref(d), NULL);
	return d;
}

static json_t *net_config(const struct vmm_config *c, const struct ch_paths *p)
{
	if (!p->tap)
		return json_array();
	/* No ip or mask: those would have CH (which has no capabilities)
	 * configure the TAP, which Cove's network slot already did. */
	json_t *n = c->net.mac ? json_pack("[{s:s, s:s}]", "tap", p->tap, "mac", c->net.mac)
			       : json_pack("[{s:s}]", "tap", p->tap);
	return n;
}

/* FsConfig per share: its tag and the socket CH connects to (virtiofsd's,
 * share.c); one request queue of CH's default size. */
static json_t *fs_config(const struct vmm_config *c, const struct ch_paths *p)
{
	json_t *fs = json_array();
	for (size_t i = 0; fs && i < c->nshares; i++) {
		json_t *one = p->fs_socket[i] ? json_pack("{s:s, s:s, s:i, s:i}", "tag", c->shares[i].tag, "socket",
							  p->fs_socket[i], "num_queues", 1, "queue_size", 1024)
					      : NULL;
		if (!one || json_array_append_new(fs, one) < 0)
			fs = (json_decref(fs), NULL);
	}
	return fs;
}

int ch_vm_config(const struct vmm_config *c, const struct ch_paths *p, json_t **ret, struct cove_err *err)
{
	json_int_t vcpus = c->vcpus ? c->vcpus : VMM_DEFAULT_VCPUS;
	for (size_t i = 0; i < c->nshares; i++)
		if (!p->fs_socket[i])
			return cove_errf(err, -EINVAL, "cloud-hypervisor: VmConfig of %s: share %zu (%s) has no socket",
					 c->id, i, c->shares[i].tag);
	/* The guest's ttyS0 goes to CH's stdout (the logs' FIFO); no
	 * virtio-console. */
	json_t *v = json_pack("{s:{s:I, s:I}, s:o*, s:{s:s, s:s}, s:[o*], s:o*, s:{s:s}, s:{s:s}}", "cpus", "boot_vcpus",
			      vcpus, "max_vcpus", vcpus, "memory", memory_config(c, p), "payload", "kernel", p->kernel,
			      "cmdline", p->cmdline, "disks", disk_config(p), "net", net_config(c, p), "serial", "mode",
			      "Tty", "console", "mode", "Off");
	if (v && c->nshares && json_object_set_new(v, "fs", fs_config(c, p)) < 0)
		v = (json_decref(v), NULL);
	if (!v || !json_object_get(v, "memory") || json_array_size(json_object_get(v, "disks")) != 1 ||
	    !json_object_get(v, "net")) {
		json_decref(v);
		return cove_errf(err, -ENOMEM, "cloud-hypervisor: VmConfig of %s: out of memory", c->id);
	}
	*ret = v;
	return 0;
}

json_t *ch_restore_config(json_t *saved, json_t *fresh)
{
	json_t *v = json_deep_copy(saved);
	if (!v || !json_is_object(v))
		return json_decref(v), NULL;
	/* Paths in the work directory, the TAP's name and the memory's backing
	 * are this VMM's; the guest's shape (cpus, devices' ids) is the saved. */
	static const char *const own[] = { "payload", "disks", "net", "memory", "serial", "console" };
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		json_t *f = json_object_get(fresh, own[i]);
		/* Copies: the ids set below must not reach fresh. */
		int r = f ? json_object_set_new(v, own[i], json_deep_copy(f)) : json_object_del(v, own[i]);
		if (r < 0 && f)
			return json_decref(v), NULL;
	}
	/* Keep the saved devices' ids: CH names its state by them. */
	json_t *saved_disks = json_object_get(saved, "disks"), *disks = json_object_get(v, "disks");
	for (size_t i = 0; i < json_array_size(disks) && i < json_array_size(saved_disks); i++) {
		json_t *id = json_object_get(json_array_get(saved_disks, i), "id");
		if (id)
			json_object_set(json_array_get(disks, i), "id", id);
	}
	json_t *saved_net = json_object_get(saved, "net"), *net = json_object_get(v, "net");
	for (size_t i = 0; i < json_array_size(net) && i < json_array_size(saved_net); i++) {
		json_t *id = json_object_get(json_array_get(saved_net, i), "id");
		if (id)
			json_object_set(json_array_get(net, i), "id", id);
	}
	return v;
}

static json_t *file_url(const char *key, const char *dir)
{
	char url[PATH_MAX + 16];
	if (snprintf(url, sizeof(url), "file://%s", dir) >= (int)sizeof(url))
		return NULL;
	return json_pack("{s:s}", key, url);
}

json_t *ch_restore_body(const char *dir, bool on_demand)
{
	json_t *b = file_url("source_url", dir);
	if (b && json_object_set_new(b, "prefault", json_false()) < 0)
		return json_decref(b), NULL;
	if (b && on_demand && json_object_set_new(b, "memory_restore_mode", json_string("OnDemand")) < 0)
		return json_decref(b), NULL;
	return b;
}

json_t *ch_snapshot_body(const char *dir)
{
	return file_url("destination_url", dir);
}

int ch_version_parse(const char *out, char *buf, size_t len)
{
	const char *p = strstr(out, "cloud-hypervisor v");
	if (p)
		p += strlen("cloud-hypervisor v");
	else if ((p = strstr(out, "cloud-hypervisor ")))
		p += strlen("cloud-hypervisor ");
	else
		return -EPROTO;
	size_t n = strspn(p, "0123456789.");
	while (n && p[n - 1] == '.')
		n--;
	if (n == 0 || n >= len || p[0] == '.')
		return -EPROTO;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

enum ch_ranges_fate ch_ranges_fate(const struct vmm_config *c, const struct vmm_snapshot_files *files,
				   off_t ranges_size, off_t mem_size)
{
	if (files->ram)
		return CH_RANGES_TO_RAM;
	/* A template snapshot: its RAM is the shared memory file, which CH
	 * wrote out again whole (one zone, its ranges in file order). Only
	 * when the sizes agree is it surely the same bytes. */
	if (c->mem_file && c->mem_shared && !files->base_memory && mem_size > 0 && ranges_size == mem_size)
		return CH_RANGES_DROP;
	/* base_memory: CH cannot leave out the pages a file holds; all of
	 * the RAM stays (ram_in_state). */
	return CH_RANGES_KEEP;
}

const char *ch_restore_ranges(const struct vmm_config *c, const char *saved_ranges, bool saved_exists)
{
	if (saved_exists)
		return saved_ranges;
	return c->mem_file;
}
