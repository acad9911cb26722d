/* Comparing secrets (API keys, access tokens) a client presents. */
#ifndef COVE_COMMON_SECRET_H
#define COVE_COMMON_SECRET_H

#include <stdbool.h>

/* Whether given equals secret, in a time that tells nothing of where they
 * first differ (it depends on given's length alone). */
bool secret_equal(const char *given, const char *secret);

#endif
