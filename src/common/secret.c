/* Comparing secrets (see secret.h). */
#include "common/secret.h"

#include <string.h>

bool secret_equal(const char *given, const char *secret)
{
	size_t ng = strlen(given), ns = strlen(secret);
	unsigned char diff = ng != ns;
	for (size_t i = 0; i < ng; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)(i < ns ? secret[i] : 0);
	return diff == 0;
}
