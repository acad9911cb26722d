/* Unit tests for the Firecracker driver's pure parts (src/vmm/fc/
 * requests.c): the request bodies against Firecracker's swagger document
 * (src/firecracker/swagger/firecracker.yaml: each body has the schema's
 * required fields, with its types and enums, and no field it does not
 * define), the version, the save plan; and the raw disk layers
 * (src/vmm/rawdisk.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "vmm/driver.h"
#include "vmm/fc/fc.h"

/* A field of a schema: its name, JSON type, and whether required. */
struct field {
	const char *name;
	json_type type;
	bool required;
};

/* body has every required field, each field known, of its type. */
static void check_schema(json_t *body, const struct field *fields, size_t n)
{
	assert_non_null(body);
	assert_true(json_is_object(body));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(body, fields[i].name);
		if (fields[i].required)
			assert_non_null(v);
		if (v && !(fields[i].type == JSON_TRUE && json_is_boolean(v)))
			assert_int_equal(json_typeof(v), fields[i].type);
	}
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		bool known = false;
		for (size_t i = 0; i < n; i++)
			known |= strcmp(key, fields[i].name) == 0;
		if (!known)
			fail_msg("field %s is not in the schema", key);
	}
}

#define B JSON_TRUE /* boolean, either value */
static const struct field machine_config[] = {
	{ "vcpu_count", JSON_INTEGER, true }, { "mem_size_mib", JSON_INTEGER, true }, { "smt", B, false },
	{ "track_dirty_pages", B, false },   { "huge_pages", JSON_STRING, false },
};
static const struct field boot_source[] = {
	{ "kernel_image_path", JSON_STRING, true }, { "boot_args", JSON_STRING, false }, { "initrd_path", JSON_STRING, false },
};
static const struct field drive[] = {
	{ "drive_id", JSON_STRING, true },     { "is_root_device", B, true },   { "is_read_only", B, false },
	{ "path_on_host", JSON_STRING, false }, { "partuuid", JSON_STRING, false }, { "cache_type", JSON_STRING, false },
	{ "io_engine", JSON_STRING, false },
};
static const struct field network_interface[] = {
	{ "iface_id", JSON_STRING, true }, { "host_dev_name", JSON_STRING, true }, { "guest_mac", JSON_STRING, false },
};
static const struct field action[] = { { "action_type", JSON_STRING, true } };
static const struct field vm_state[] = { { "state", JSON_STRING, true } };
static const struct field snapshot_create[] = {
	{ "snapshot_path", JSON_STRING, true }, { "mem_file_path", JSON_STRING, true }, { "snapshot_type", JSON_STRING, false },
};
static const struct field snapshot_load[] = {
	{ "snapshot_path", JSON_STRING, true }, { "mem_backend", JSON_OBJECT, false }, { "resume_vm", B, false },
	{ "enable_diff_snapshots", B, false },  { "track_dirty_pages", B, false },     { "clock_realtime", B, false },
};
static const struct field memory_backend[] = {
	{ "backend_type", JSON_STRING, true }, { "backend_path", JSON_STRING, true },
};
#define CHECK(body, schema) check_schema(body, schema, sizeof(schema) / sizeof(schema[0]))

static const struct fc_machine machine = { 2, 512, "kernel", "console=ttyS0 root=/dev/vda", "rootfs", false, "tap0",
					   "06:00:ac:10:00:02" };

static void test_fc_boot_requests_follow_the_swagger(void **state)
{
	(void)state;
	struct fc_request r[FC_BOOT_REQUESTS];
	int n = fc_boot_requests(&machine, r);
	assert_int_equal(n, 5);
	assert_string_equal(r[0].path, "/machine-config");
	CHECK(r[0].body, machine_config);
	assert_int_equal(json_integer_value(json_object_get(r[0].body, "vcpu_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(r[0].body, "mem_size_mib")), 512);
	assert_true(json_is_false(json_object_get(r[0].body, "smt")));
	assert_string_equal(r[1].path, "/boot-source");
	CHECK(r[1].body, boot_source);
	assert_string_equal(json_string_value(json_object_get(r[1].body, "boot_args")), "console=ttyS0 root=/dev/vda");
	/* The path's id is the body's (Firecracker refuses a mismatch). */
	assert_string_equal(r[2].path, "/drives/rootfs");
	CHECK(r[2].body, drive);
	assert_string_equal(json_string_value(json_object_get(r[2].body, "drive_id")), "rootfs");
	assert_true(json_is_true(json_object_get(r[2].body, "is_root_device")));
	assert_true(json_is_false(json_object_get(r[2].body, "is_read_only")));
	assert_string_equal(r[3].path, "/network-interfaces/eth0");
	CHECK(r[3].body, network_interface);
	assert_string_equal(json_string_value(json_object_get(r[3].body, "iface_id")), "eth0");
	assert_string_equal(json_string_value(json_object_get(r[3].body, "host_dev_name")), "tap0");
	assert_string_equal(json_string_value(json_object_get(r[3].body, "guest_mac")), "06:00:ac:10:00:02");
	assert_string_equal(r[4].path, "/actions");
	CHECK(r[4].body, action);
	assert_string_equal(json_string_value(json_object_get(r[4].body, "action_type")), "InstanceStart");
	fc_requests_clear(r, n);
}

static void test_fc_boot_requests_without_network(void **state)
{
	(void)state;
	struct fc_machine m = machine;
	m.tap = NULL;
	struct fc_request r[FC_BOOT_REQUESTS];
	int n = fc_boot_requests(&m, r);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++)
		assert_null(strstr(r[i].path, "network"));
	assert_string_equal(r[3].path, "/actions");
	fc_requests_clear(r, n);
}

static void test_fc_control_requests(void **state)
{
	(void)state;
	json_t *b = fc_vm_state(true);
	CHECK(b, vm_state);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "Paused");
	json_decref(b);
	b = fc_vm_state(false);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "Resumed");
	json_decref(b);
	b = fc_action("SendCtrlAltDel");
	CHECK(b, action);
	json_decref(b);
	b = fc_snapshot_create("fc/vmstate.new", "memory", false);
	CHECK(b, snapshot_create);
	assert_string_equal(json_string_value(json_object_get(b, "snapshot_type")), "Full");
	assert_string_equal(json_string_value(json_object_get(b, "mem_file_path")), "memory");
	json_decref(b);
	b = fc_snapshot_create("fc/vmstate.new", "fc/memory.new", true);
	CHECK(b, snapshot_create);
	assert_string_equal(json_string_value(json_object_get(b, "snapshot_type")), "Diff");
	json_decref(b);
	b = fc_snapshot_load("restore.vmstate", FC_BACKEND_FILE, "memory", false);
	CHECK(b, snapshot_load);
	CHECK(json_object_get(b, "mem_backend"), memory_backend);
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "mem_backend"), "backend_type")), "File");
	assert_true(json_is_true(json_object_get(b, "resume_vm")));
	assert_true(json_is_false(json_object_get(b, "track_dirty_pages")));
	json_decref(b);
	/* A Diff's restore: faults to the page server's socket, and dirty
	 * pages tracked for the next Diff. */
	b = fc_snapshot_load("restore.vmstate", FC_BACKEND_UFFD, "fc/uffd.sock", true);
	CHECK(b, snapshot_load);
	CHECK(json_object_get(b, "mem_backend"), memory_backend);
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "mem_backend"), "backend_type")), "Uffd");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "mem_backend"), "backend_path")),
			    "fc/uffd.sock");
	assert_true(json_is_true(json_object_get(b, "track_dirty_pages")));
	json_decref(b);
}

static void test_fc_backend_choose(void **state)
{
	(void)state;
	enum fc_backend b;
	assert_int_equal(fc_backend_choose(NULL, true, &b), 0);
	assert_int_equal(b, FC_BACKEND_UFFD);
	assert_int_equal(fc_backend_choose("auto", false, &b), 0);
	assert_int_equal(b, FC_BACKEND_FILE);
	assert_int_equal(fc_backend_choose("", false, &b), 0);
	assert_int_equal(b, FC_BACKEND_FILE);
	assert_int_equal(fc_backend_choose("file", true, &b), 0);
	assert_int_equal(b, FC_BACKEND_FILE);
	/* Asked for: a host without userfaultfd then fails the load, saying so. */
	assert_int_equal(fc_backend_choose("uffd", false, &b), 0);
	assert_int_equal(b, FC_BACKEND_UFFD);
	assert_int_equal(fc_backend_choose("mmap", true, &b), -EINVAL);
}

static void test_fc_instance_state(void **state)
{
	(void)state;
	enum vmm_state s;
	json_t *info = json_pack("{s:s, s:s, s:s, s:s}", "app_name", "Firecracker", "id", "sb-1", "state", "Paused",
				 "vmm_version", "1.10.1");
	assert_int_equal(fc_instance_state(info, &s), 0);
	assert_int_equal(s, VMM_STATE_PAUSED);
	json_object_set_new(info, "state", json_string("Running"));
	assert_int_equal(fc_instance_state(info, &s), 0);
	assert_int_equal(s, VMM_STATE_RUNNING);
	json_object_set_new(info, "state", json_string("Not started"));
	assert_int_equal(fc_instance_state(info, &s), -EPROTO);
	json_decref(info);
	assert_int_equal(fc_instance_state(NULL, &s), -EPROTO);
}

static void test_fc_parse_version(void **state)
{
	(void)state;
	char v[16];
	assert_int_equal(fc_parse_version("Firecracker v1.10.1\n\nExiting successfully\n", v, sizeof(v)), 0);
	assert_string_equal(v, "1.10.1");
	assert_int_equal(fc_parse_version("Firecracker v1.14.4-dev\n", v, sizeof(v)), 0);
	assert_string_equal(v, "1.14.4");
	assert_int_equal(fc_parse_version("QEMU emulator version 7.2.0\n", v, sizeof(v)), -EPROTO);
	assert_int_equal(fc_parse_version("Firecracker v\n", v, sizeof(v)), -EPROTO);
	assert_int_equal(fc_parse_version("Firecracker v1.10.1", v, 4), -EPROTO);
}

static void test_fc_instance_id(void **state)
{
	(void)state;
	char id[FC_ID_MAX + 1], jv[16];
	fc_instance_id("mhwbua6u7zk3l7da49wc", id);
	assert_string_equal(id, "mhwbua6u7zk3l7da49wc");
	fc_instance_id("tpl_base.snap/1", id);
	assert_string_equal(id, "tpl-base-snap-1");
	fc_instance_id("", id);
	assert_string_equal(id, "cove");
	char longer[100];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	fc_instance_id(longer, id);
	assert_int_equal(strlen(id), FC_ID_MAX);
	assert_int_equal(fc_parse_jailer_version("Jailer v1.14.0\n", jv, sizeof(jv)), 0);
	assert_string_equal(jv, "1.14.0");
	assert_int_equal(fc_parse_jailer_version("Firecracker v1.14.0\n", jv, sizeof(jv)), -EPROTO);
}

/* A program in dir printing line for --version. */
static void fake(const char *dir, const char *name, const char *line)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho '%s'\n", line);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

/* COVE_FIRECRACKER_JAILER: auto finds the jailer beside firecracker when
 * their versions match; a named one must be there and match. */
static void test_fc_jailer_find(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_fc.jailer.XXXXXX", fc[512], out[512], named[600];
	assert_non_null(mkdtemp(dir));
	snprintf(fc, sizeof(fc), "%s/firecracker", dir);
	fake(dir, "firecracker", "Firecracker v1.14.0");
	struct cove_err err = { 0 };
	assert_int_equal(fc_jailer_find(NULL, fc, out, sizeof(out), &err), 0); /* none beside it */
	fake(dir, "jailer", "Jailer v1.14.0");
	assert_int_equal(fc_jailer_find(NULL, fc, out, sizeof(out), &err), 1);
	assert_non_null(strstr(out, "/jailer"));
	assert_int_equal(fc_jailer_find("auto", fc, out, sizeof(out), &err), 1);
	assert_int_equal(fc_jailer_find("off", fc, out, sizeof(out), &err), 0);
	snprintf(named, sizeof(named), "%s/jailer", dir);
	assert_int_equal(fc_jailer_find(named, fc, out, sizeof(out), &err), 1);
	assert_string_equal(out, named);
	/* Another version (the file changed, so its mtime: no cached
	 * answer): auto goes without, a named one is an error naming both. */
	fake(dir, "jailer", "Jailer v1.13.10");
	assert_int_equal(fc_jailer_find(NULL, fc, out, sizeof(out), &err), 0);
	assert_int_equal(fc_jailer_find(named, fc, out, sizeof(out), &err), -EPROTO);
	assert_non_null(strstr(err.msg, "1.13.10"));
	assert_non_null(strstr(err.msg, "1.14.0"));
	/* Not a jailer at all. */
	fake(dir, "jailer", "something else");
	assert_true(fc_jailer_find(named, fc, out, sizeof(out), &err) < 0);
	assert_non_null(strstr(err.msg, "no version"));
	assert_int_equal(fc_jailer_find("/nonexistent/jailer", fc, out, sizeof(out), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/jailer"));
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_fc_save_plan(void **state)
{
	(void)state;
	struct fc_save_plan p;
	/* A template snapshot: the memory into its shared mem_file. */
	struct vmm_snapshot_files f = { .state = "/s/snapshot.state" };
	fc_save_plan(&f, true, false, &p);
	assert_false(p.state_dir);
	assert_int_equal(p.memory, FC_MEMORY_MEM_FILE);
	assert_false(p.ram_in_state);
	/* A fork's save: all the RAM to the ram file. */
	f = (struct vmm_snapshot_files){ .state = "/s/state", .ram = "/s/memory" };
	fc_save_plan(&f, false, true, &p);
	assert_false(p.state_dir);
	assert_int_equal(p.memory, FC_MEMORY_RAM);
	assert_false(p.diff);
	assert_false(p.ram_in_state);
	/* Over a base memory, dirty pages tracked since the load: a Diff. */
	f = (struct vmm_snapshot_files){ .state = "/s/state", .base_memory = "/s/memory" };
	fc_save_plan(&f, false, true, &p);
	assert_true(p.state_dir);
	assert_int_equal(p.memory, FC_MEMORY_STATE);
	assert_true(p.diff);
	assert_false(p.ram_in_state);
	/* Not tracked (its record gone after a Full one): all of it with the state. */
	fc_save_plan(&f, false, false, &p);
	assert_true(p.state_dir);
	assert_false(p.diff);
	assert_true(p.ram_in_state);
	/* A cold-booted VM: the RAM is the state's anyway. */
	f = (struct vmm_snapshot_files){ .state = "/s/state" };
	fc_save_plan(&f, false, true, &p);
	assert_true(p.state_dir);
	assert_int_equal(p.memory, FC_MEMORY_STATE);
	assert_false(p.diff);
	assert_false(p.ram_in_state);
}

static void write_at(const char *path, off_t off, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, text, strlen(text), off), (ssize_t)strlen(text));
	close(fd);
}

static void read_at(const char *path, off_t off, const char *want)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, strlen(want), off), (ssize_t)strlen(want));
	close(fd);
	assert_string_equal(buf, want);
}

static void test_raw_layers(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-fc-XXXXXX", image[64], layer[64], own[64], out[64];
	assert_non_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s/rootfs", dir);
	snprintf(layer, sizeof(layer), "%s/layer.raw", dir);
	snprintf(own, sizeof(own), "%s/disk.raw", dir);
	snprintf(out, sizeof(out), "%s/flat", dir);
	/* 64 MiB, two islands of data in holes. */
	write_at(image, 4096, "first");
	write_at(image, 64 << 20, "end");
	assert_int_equal(vmm_raw_disk_create(layer, NULL), 0);
	struct stat st;
	assert_int_equal(stat(layer, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* An empty layer stands for the image; filled, it is a copy. */
	const char *chain[] = { layer, NULL, image };
	assert_ptr_equal(vmm_raw_disk_image(chain, 3), image);
	const char *under[] = { NULL, image };
	assert_int_equal(vmm_raw_disk_fill(layer, under, 2, NULL), 0);
	read_at(layer, 4096, "first");
	read_at(layer, 64 << 20, "end");
	assert_int_equal(stat(layer, &st), 0);
	assert_int_equal(st.st_size, (64 << 20) + 3);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* holes kept */
	/* A VMM's own disk: a clone of the layer, then written. */
	assert_int_equal(vmm_raw_clone(layer, own, false, NULL), 0);
	write_at(own, 4096, "FIRST");
	read_at(layer, 4096, "first");
	assert_int_equal(vmm_raw_clone(layer, own, false, NULL), -EEXIST);
	/* Flattened: the own disk, the first of the chain with bytes. */
	assert_int_equal(vmm_raw_disk_flatten(image, layer, own, out, NULL), 0);
	read_at(out, 4096, "FIRST");
	read_at(out, 64 << 20, "end");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fc_boot_requests_follow_the_swagger),
		cmocka_unit_test(test_fc_boot_requests_without_network),
		cmocka_unit_test(test_fc_control_requests),
		cmocka_unit_test(test_fc_backend_choose),
		cmocka_unit_test(test_fc_instance_state),
		cmocka_unit_test(test_fc_parse_version),
		cmocka_unit_test(test_fc_instance_id),
		cmocka_unit_test(test_fc_jailer_find),
		cmocka_unit_test(test_fc_save_plan),
		cmocka_unit_test(test_raw_layers),
	};
	return cmocka_run_group_tests_name("fc", tests, NULL, NULL);
}
