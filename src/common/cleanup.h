/* Scope-bound cleanup (systemd and crun style): a local declared with one of
 * these attributes is released on every return path, and TAKE_PTR / TAKE_FD
 * hand ownership on without releasing it. */
#ifndef COVE_COMMON_CLEANUP_H
#define COVE_COMMON_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Defines func##p(type *p), which calls func(*p) unless *p is NULL: the
 * cleanup for a pointer type and its free function (systemd's macro of the
 * same name), e.g. DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir) makes
 * closedirp for _cleanup_(closedirp). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                         \
	static inline void func##p(type *p)                             \
	{                                                               \
		if (*p)                                                 \
			func(*p);                                       \
	}

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
