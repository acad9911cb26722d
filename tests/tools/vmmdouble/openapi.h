/* The VMM test doubles' request checker: a published OpenAPI document
 * (Swagger 2.0 for Firecracker, OpenAPI 3 for Cloud Hypervisor) read once
 * with libyaml into jansson values, and every request checked against it:
 * the method and path (templates like /drives/{drive_id}) and the body
 * against the operation's request schema ($ref, type, required, properties,
 * enum, items, minimum/maximum, integer vs number, nested objects). Unknown
 * properties are refused unless the schema says additionalProperties, as
 * both VMMs deserialize with unknown fields denied. Pure: no I/O but the
 * document's load, so the unit tests check it whole. */
#ifndef COVE_TESTS_VMMDOUBLE_OPENAPI_H
#define COVE_TESTS_VMMDOUBLE_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

struct openapi;

/* Reads the document at path; base is the prefix every request path has
 * before the document's paths ("" for Firecracker, "/api/v1" for Cloud
 * Hypervisor). */
int openapi_load(const char *path, const char *base, struct openapi **ret, struct cove_err *err);
/* The same from the document's text (a double carries its own, built in). */
int openapi_parse(const char *text, size_t len, const char *base, struct openapi **ret, struct cove_err *err);
struct openapi *openapi_free(struct openapi *api);

/* The document's info.version, e.g. "1.14.4". */
const char *openapi_version(const struct openapi *api);

/* Checks one request. 0 when it matches; then *body_json (may be NULL) gets
 * the parsed body (NULL when there is none), a new reference. Otherwise
 * -ENOENT (no such path), -EOPNOTSUPP (no such method on it) or -EINVAL
 * (the body), with the reason in err. */
int openapi_check(const struct openapi *api, const char *method, const char *path, const char *body, size_t len,
		  json_t **body_json, struct cove_err *err);

/* YAML text to a jansson value: plain scalars become booleans, null,
 * integers and reals where YAML 1.1's core forms say so, all else strings. */
int openapi_yaml_to_json(const char *text, size_t len, json_t **ret, struct cove_err *err);

#endif
