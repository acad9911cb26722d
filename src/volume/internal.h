/* Inside the volume module: the state volumes.c and content.c share. */
#ifndef COVE_VOLUME_INTERNAL_H
#define COVE_VOLUME_INTERNAL_H

#include <limits.h>

#include "volume/volume.h"

struct store;

struct volumes {
	char dir[PATH_MAX]; /* STATE_DIR/volumes */
	int dir_fd;
	struct store *store;
};

struct volume_content {
	char id[VOLUME_ID_MAX];
	int root; /* O_PATH of the volume's directory */
};

#endif
