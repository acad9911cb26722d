/* The rule for a volume's name (pure: the API's parsers use it too). */
#include <errno.h>
#include <string.h>

#include "volume/volume.h"

int volume_name_check(const char *name, struct cove_err *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > VOLUME_NAME_MAX)
		return cove_errf(err, -EINVAL, "name: a volume name is 1 to %d characters", VOLUME_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return cove_errf(err, -EINVAL, "name: '%s': a volume name has only letters, digits and '-'", name);
	}
	return 0;
}
