/* The VMM drivers Cove has, by name, and what is asked of one before any
 * VMM exists: the names and making of its disk files. The one place the
 * generic code meets the drivers' tables. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "vmm/internal.h"
#include "vmm/fc/fc.h"
#include "vmm/ch/ch.h"
#include "vmm/qemu/qemu.h"

static const struct vmm_driver *const drivers[] = {
	&vmm_driver_qemu,
	&vmm_driver_firecracker,
	&vmm_driver_ch,
};

const struct vmm_driver *vmm_driver_find(const char *name)
{
	if (!name)
		name = VMM_DEFAULT_DRIVER;
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

void vmm_driver_names(char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(drivers) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", drivers[i]->name);
}

const char *vmm_disk_name(const char *driver, enum vmm_disk_file file)
{
	const struct vmm_driver *d = vmm_driver_find(driver);
	if (!d || !(d->features & VMM_FEATURE_DISK_LAYERS))
		return NULL;
	switch (file) {
	case VMM_DISK_LAYER: return d->disk.layer;
	case VMM_DISK_OVERLAY: return d->disk.overlay;
	case VMM_DISK_OWN: return d->disk.own;
	}
	return NULL;
}

int vmm_disk_create(const char *driver, const char *path, enum vmm_disk_file file, uint64_t size,
		    struct cove_err *err)
{
	const struct vmm_driver *d = vmm_driver_find(driver);
	if (!d)
		return cove_errf(err, -EINVAL, "disk %s: driver '%s' is unknown", path, driver);
	if (!(d->features & VMM_FEATURE_DISK_LAYERS))
		return cove_errf(err, -EOPNOTSUPP, "disk %s: driver %s has no disk layers", path, d->name);
	if (file != VMM_DISK_LAYER && file != VMM_DISK_OVERLAY)
		return cove_errf(err, -EINVAL, "disk %s: only a layer or an overlay is made empty", path);
	return d->disk_create(path, file, size, err);
}

int vmm_disk_flatten(const char *driver, const char *rootfs, const char *layer, const char *own, const char *out,
		     struct cove_err *err)
{
	const struct vmm_driver *d = vmm_driver_find(driver);
	if (!d)
		return cove_errf(err, -EINVAL, "disk %s: driver '%s' is unknown", own, driver);
	if (!(d->features & VMM_FEATURE_DISK_LAYERS))
		return cove_errf(err, -EOPNOTSUPP, "disk %s: driver %s has no disk layers", own, d->name);
	return d->disk_flatten(rootfs, layer, own, out, err);
}

int vmm_describe(const char *driver, const char *binary, char *buf, size_t len, struct cove_err *err)
{
	const struct vmm_driver *d = vmm_driver_find(driver);
	if (!d)
		return cove_errf(err, -EINVAL, "vmm: driver '%s' is unknown", driver);
	char version[64];
	int r = d->version(binary, version, sizeof(version), err);
	if (r == 0 && snprintf(buf, len, "%s %s", d->name, version) >= (int)len)
		r = cove_errf(err, -ENAMETOOLONG, "vmm: version too long");
	return r;
}

int vmm_driver_check(const char *name, struct cove_err *err)
{
	if (vmm_driver_find(name))
		return 0;
	char have[128];
	vmm_driver_names(have, sizeof(have));
	return cove_errf(err, -EINVAL, "VMM '%.64s' is unknown (this Cove has: %s)", name, have);
}
