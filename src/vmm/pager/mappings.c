/* The page server's handshake (pager.h): Firecracker's memory regions as
 * it sends them with the userfaultfd, parsed and checked before anything
 * is served. */
#include <errno.h>
#include <jansson.h>

#include "vmm/pager/pager.h"

#define MIN_PAGE 4096ull
#define MAX_PAGE (1ull << 30)

static int number(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int region(json_t *o, size_t i, struct pager_region *r, struct cove_err *err)
{
	if (!json_is_object(o))
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu is not an object", i);
	if (number(o, "base_host_virt_addr", &r->base) < 0 || number(o, "size", &r->size) < 0 ||
	    number(o, "offset", &r->offset) < 0)
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu lacks base_host_virt_addr, size or offset "
					       "as numbers", i);
	if (number(o, "page_size", &r->page_size) < 0 && number(o, "page_size_kib", &r->page_size) < 0)
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu has no page_size", i);
	uint64_t ps = r->page_size;
	if (ps < MIN_PAGE || ps > MAX_PAGE || (ps & (ps - 1)))
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu: page size %llu is not a power of two "
					       "from 4 KiB to 1 GiB", i, (unsigned long long)ps);
	if (r->size == 0 || (r->base | r->size | r->offset) & (ps - 1))
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu: base, size and offset must be whole "
					       "pages of %llu bytes, and size not 0", i, (unsigned long long)ps);
	if (r->base + r->size < r->base || r->offset + r->size < r->offset)
		return cove_errf(err, -EINVAL, "uffd handshake: region %zu runs past the end of the address space", i);
	return 0;
}

int pager_parse_mappings(const char *text, size_t len, struct pager_region *out, size_t max, size_t *n,
			 struct cove_err *err)
{
	*n = 0;
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return cove_errf(err, -EINVAL, "uffd handshake: not JSON: %s", je.text);
	int r = 0;
	if (!json_is_array(root) || json_array_size(root) == 0)
		r = cove_errf(err, -EINVAL, "uffd handshake: expected a non-empty array of memory regions");
	else if (json_array_size(root) > max)
		r = cove_errf(err, -E2BIG, "uffd handshake: %zu memory regions, at most %zu are served",
			      json_array_size(root), max);
	for (size_t i = 0; r == 0 && i < json_array_size(root); i++)
		r = region(json_array_get(root, i), i, &out[i], err);
	for (size_t i = 0; r == 0 && i < json_array_size(root); i++)
		for (size_t j = 0; r == 0 && j < i; j++)
			if (out[i].base < out[j].base + out[j].size && out[j].base < out[i].base + out[i].size)
				r = cove_errf(err, -EINVAL, "uffd handshake: regions %zu and %zu overlap", j, i);
	if (r == 0)
		*n = json_array_size(root);
	json_decref(root);
	return r;
}
