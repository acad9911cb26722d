/* Checking an uploaded COPY archive without extracting it (see files.h).
 * libarchive reads gzip and every tar flavour node-tar writes (ustar with
 * PAX headers for long names); we never parse tar ourselves. */
#include "build/files.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/internal.h"

/* What one pass over an archive has seen. */
struct scan {
	const char *what;
	const struct files_limits *limits;
	uint64_t entries, content;
	la_int64_t entries_end; /* where the last entry's data ended (tar bytes) */
	void *symlinks; /* tsearch tree of the symlinks' names (owned copies) */
};

/* libarchive's last error; it has none for some inputs (an empty one). */
static const char *why(struct archive *a)
{
	const char *s = archive_error_string(a);
	return s ? s : "no archive in it";
}

static void scan_free(struct scan *s)
{
	tdestroy(s->symlinks, free);
	s->symlinks = NULL;
}

static int tree_compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* name without "." and empty components ("./a//b/" is "a/b"), in a new
 * string; NULL when out of memory. Names are compared in this form. */
static char *name_canonical(const char *name)
{
	char *out = malloc(strlen(name) + 1), *w = out;
	if (!out)
		return NULL;
	for (const char *c = name; *c;) {
		size_t len = strcspn(c, "/");
		if (len && !(len == 1 && c[0] == '.')) {
			if (w != out)
				*w++ = '/';
			memcpy(w, c, len);
			w += len;
		}
		c += len;
		c += *c == '/';
	}
	*w = '\0';
	return out;
}

/* The symlink of the archive that canonical name lies below, if any ("a/b"
 * for "a/b/c" when a/b is one): extracting name would write through it. */
static const char *below_symlink(const struct scan *s, char *name)
{
	const char *found = NULL;
	for (char *slash = strchr(name, '/'); s->symlinks && slash && !found; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		void *hit = tfind(name, &s->symlinks, tree_compare);
		found = hit ? *(const char **)hit : NULL;
		*slash = '/';
	}
	return found;
}

/* Remembers the symlink of canonical name (taking it). */
static int symlink_add(struct scan *s, char *name, struct cove_err *err)
{
	void *hit = tsearch(name, &s->symlinks, tree_compare);
	if (!hit) {
		free(name);
		return cove_errf(err, -ENOMEM, "out of memory");
	}
	if (*(char **)hit != name)
		free(name); /* there already */
	return 0;
}

/* Where name (checked relative) may go, given the symlinks before it. */
static int entry_place(struct scan *s, const char *name, bool is_symlink, struct cove_err *err)
{
	char *canon = name_canonical(name);
	if (!canon)
		return cove_errf(err, -ENOMEM, "out of memory");
	const char *link = below_symlink(s, canon);
	if (link) {
		int r = cove_errf(err, -EINVAL, "files %s: entry '%.128s' is below the archive's symlink '%.128s'",
				  s->what, name, link);
		free(canon);
		return r;
	}
	if (!is_symlink || !*canon) {
		int r = is_symlink ? cove_errf(err, -EINVAL, "files %s: entry '%.128s' is a symlink in place of the "
						"archive's top", s->what, name) : 0;
		free(canon);
		return r;
	}
	return symlink_add(s, canon, err);
}

static int entry_check(struct scan *s, struct archive_entry *e, struct cove_err *err)
{
	const char *name = archive_entry_pathname(e);
	if (!name)
		return cove_errf(err, -EINVAL, "files %s: entry %llu has no readable name", s->what,
				 (unsigned long long)s->entries);
	if (!*name || !build_relative_ok(name))
		return cove_errf(err, -EINVAL, "files %s: entry '%.128s' is not a relative name without '..'", s->what,
				 name);
	if (archive_entry_hardlink(e))
		return cove_errf(err, -EINVAL, "files %s: entry '%.128s' is a hard link (only files, directories and "
				 "symlinks)", s->what, name);
	mode_t type = archive_entry_filetype(e);
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return cove_errf(err, -EINVAL, "files %s: entry '%.128s' is a device, fifo or socket (only files, "
				 "directories and symlinks)", s->what, name);
	return entry_place(s, name, type == AE_IFLNK, err);
}

/* Reads the entry's data to its end, counting it against max_content (the
 * sizes in headers can lie; the bytes cannot). */
static int entry_data(struct scan *s, struct archive *a, const char *name, struct cove_err *err)
{
	const void *buf;
	size_t len;
	la_int64_t offset;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &len, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return cove_errf(err, -EINVAL, "files %s: reading '%.128s': %s", s->what, name,
					 why(a));
		s->content += len;
		if (s->content > s->limits->max_content)
			return cove_errf(err, -EFBIG, "files %s: more than %llu bytes of files unpacked", s->what,
					 (unsigned long long)s->limits->max_content);
	}
}

/* libarchive takes a tar that stops after any entry as whole (some writers
 * leave out the end marker); a cut upload must not pass for a smaller
 * archive, so the marker, a zero block, must follow the last entry. */
static int end_check(struct scan *s, struct archive *a, struct cove_err *err)
{
	if (archive_filter_bytes(a, 0) - s->entries_end >= 512)
		return 0;
	return cove_errf(err, -EINVAL, "files %s: not a whole tar or tar.gz archive: it stops after entry %llu, "
			 "without tar's end marker", s->what, (unsigned long long)s->entries);
}

static int scan_entries(struct scan *s, struct archive *a, struct cove_err *err)
{
	struct archive_entry *e;
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			return end_check(s, a, err);
		if (r < ARCHIVE_WARN)
			return cove_errf(err, -EINVAL, "files %s: not a whole tar or tar.gz archive: %s", s->what,
					 why(a));
		if (++s->entries > s->limits->max_entries)
			return cove_errf(err, -EFBIG, "files %s: more than %llu entries", s->what,
					 (unsigned long long)s->limits->max_entries);
		if ((r = entry_check(s, e, err)) < 0)
			return r;
		if ((r = entry_data(s, a, archive_entry_pathname(e), err)) < 0)
			return r;
		/* Past the data's padding too, to where the next header starts. */
		if (archive_read_data_skip(a) < ARCHIVE_WARN)
			return cove_errf(err, -EINVAL, "files %s: not a whole tar or tar.gz archive: %s", s->what,
					 why(a));
		s->entries_end = archive_filter_bytes(a, 0);
	}
}

int files_archive_check(int fd, const char *what, const struct files_limits *limits, struct cove_err *err)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return cove_errno(err, -errno, "files %s: seek", what);
	struct archive *a = archive_read_new();
	if (!a)
		return cove_errf(err, -ENOMEM, "out of memory");
	/* gzip or nothing (node-tar's two); tar in any of its flavours. */
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	struct scan s = { .what = what, .limits = limits };
	int r;
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
		r = cove_errf(err, -EINVAL, "files %s: not a tar or tar.gz archive: %s", what, why(a));
	else
		r = scan_entries(&s, a, err);
	scan_free(&s);
	archive_read_free(a);
	return r;
}
