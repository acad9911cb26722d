/* The sandbox's environment variables, from the guest agent's GET /envs
 * (E2B envd's route: the envVars the sandbox was created with), and the
 * code each kernel language runs to set and unset variables. */
#ifndef COVE_INTERPRETER_ENVS_H
#define COVE_INTERPRETER_ENVS_H

#include <jansson.h>

#include "common/err.h"

/* GET http://ADDR/envs with token as X-Access-Token (NULL: none), where
 * ADDR is host:port (the agent's, 127.0.0.1:49983). The object of strings
 * in *ret. -EACCES: the agent refused the token; -ECONNREFUSED etc.: no
 * agent. */
int envs_fetch(const char *addr, const char *token, json_t **ret, struct cove_err *err);

/* Code that sets vars (an object of strings) in a kernel of language, or
 * with unset, sets those in keep and removes the other names in vars.
 * NULL: the language has no such code (or out of memory). malloc'd. */
char *envs_code_set(const char *language, json_t *vars);
char *envs_code_restore(const char *language, json_t *vars, json_t *keep);

#endif
