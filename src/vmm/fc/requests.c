/* The Firecracker driver's pure parts (fc.h): request bodies as the
 * swagger document defines them (firecracker.yaml: MachineConfiguration,
 * BootSource, Drive, NetworkInterface, InstanceActionInfo, Vm,
 * SnapshotCreateParams, SnapshotLoadParams), the version, the save plan. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/driver.h"
#include "vmm/fc/fc.h"

void fc_requests_clear(struct fc_request *r, int n)
{
	for (int i = 0; i < n; i++) {
		json_decref(r[i].body);
		r[i].body = NULL;
	}
}

int fc_boot_requests(const struct fc_machine *m, struct fc_request out[FC_BOOT_REQUESTS])
{
	int n = 0;
	/* smt off: one thread per vCPU, as Cove's other VMMs give it. */
	out[n++] = (struct fc_request){ "/machine-config",
					json_pack("{s:I, s:I, s:b}", "vcpu_count", (json_int_t)m->vcpus, "mem_size_mib",
						  (json_int_t)m->mem_mib, "smt", 0) };
	out[n++] = (struct fc_request){ "/boot-source", json_pack("{s:s, s:s}", "kernel_image_path", m->kernel,
								  "boot_args", m->boot_args) };
	out[n++] = (struct fc_request){ "/drives/rootfs",
					json_pack("{s:s, s:s, s:b, s:b}", "drive_id", "rootfs", "path_on_host", m->rootfs,
						  "is_root_device", 1, "is_read_only", m->rootfs_read_only) };
	if (m->tap)
		out[n++] = (struct fc_request){ "/network-interfaces/eth0",
						json_pack("{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name", m->tap,
							  "guest_mac", m->mac) };
	out[n++] = (struct fc_request){ "/actions", fc_action("InstanceStart") };
	for (int i = 0; i < n; i++)
		if (!out[i].body) {
			fc_requests_clear(out, n);
			return -ENOMEM;
		}
	return n;
}

json_t *fc_action(const char *type)
{
	return json_pack("{s:s}", "action_type", type);
}

json_t *fc_vm_state(bool paused)
{
	return json_pack("{s:s}", "state", paused ? "Paused" : "Resumed");
}

json_t *fc_snapshot_create(const char *state, const char *memory, bool diff)
{
	return json_pack("{s:s, s:s, s:s}", "snapshot_type", diff ? "Diff" : "Full", "snapshot_path", state,
			 "mem_file_path", memory);
}

/* A File backend is mapped privately (MAP_PRIVATE): pages load from the
 * page cache as the guest touches them, shared by every VMM over the same
 * file, and writes stay the VMM's: Cove's private mem_file. It is what a
 * restore from a template's memory, or from a whole memory file, uses.
 * A Uffd backend has a page server (cove-pager) answer each fault: what a
 * restore from a Diff over the template's memory uses, serving the pages
 * from the two files as they are, where a File backend needs them merged
 * into one file first (a copy of all of the memory). The reference host
 * (E2B) serves every restore through its own page server, from remote
 * storage. */
json_t *fc_snapshot_load(const char *state, enum fc_backend backend, const char *memory, bool track)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:b, s:b}", "snapshot_path", state, "mem_backend", "backend_type",
			 backend == FC_BACKEND_UFFD ? "Uffd" : "File", "backend_path", memory, "track_dirty_pages", track,
			 "resume_vm", 1);
}

int fc_instance_state(json_t *info, enum vmm_state *ret)
{
	const char *s = json_string_value(json_object_get(info, "state"));
	if (s && strcmp(s, "Running") == 0)
		*ret = VMM_STATE_RUNNING;
	else if (s && strcmp(s, "Paused") == 0)
		*ret = VMM_STATE_PAUSED;
	else
		return -EPROTO;
	return 0;
}

static int parse_version(const char *out, const char *prefix, char *buf, size_t len)
{
	const char *p = strstr(out, prefix);
	if (!p)
		return -EPROTO;
	p += strlen(prefix);
	size_t n = strspn(p, "0123456789.");
	if (n == 0 || n >= len || p[0] == '.')
		return -EPROTO;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int fc_parse_version(const char *out, char *buf, size_t len)
{
	return parse_version(out, "Firecracker v", buf, len);
}

int fc_parse_jailer_version(const char *out, char *buf, size_t len)
{
	return parse_version(out, "Jailer v", buf, len);
}

void fc_instance_id(const char *id, char out[FC_ID_MAX + 1])
{
	size_t n = 0;
	for (; id && id[n] && n < FC_ID_MAX; n++) {
		char c = id[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
		out[n] = ok ? c : '-';
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, FC_ID_MAX + 1, "cove");
}

/* A Diff needs the VM loaded over the file base_memory links to, with
 * dirty pages tracked since (dirty_tracked); else the RAM goes whole into
 * the state (report.ram_in_state), which the contract allows. A fork's
 * RAM (files->ram) is always whole: its children map it privately. */
void fc_save_plan(const struct vmm_snapshot_files *files, bool shared_mem_file, bool dirty_tracked,
		  struct fc_save_plan *p)
{
	*p = (struct fc_save_plan){ 0 };
	if (shared_mem_file) {
		p->memory = FC_MEMORY_MEM_FILE;
	} else if (files->ram) {
		p->memory = FC_MEMORY_RAM;
	} else {
		p->memory = FC_MEMORY_STATE;
		p->state_dir = true;
		p->diff = files->base_memory && dirty_tracked;
		p->ram_in_state = files->base_memory && !p->diff;
	}
}

int fc_backend_choose(const char *setting, bool uffd_usable, enum fc_backend *ret)
{
	if (!setting || !*setting || strcmp(setting, "auto") == 0)
		*ret = uffd_usable ? FC_BACKEND_UFFD : FC_BACKEND_FILE;
	else if (strcmp(setting, "uffd") == 0)
		*ret = FC_BACKEND_UFFD;
	else if (strcmp(setting, "file") == 0)
		*ret = FC_BACKEND_FILE;
	else
		return -EINVAL;
	return 0;
}
