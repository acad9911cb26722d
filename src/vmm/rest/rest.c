#include "vmm/rest/rest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/curl.h"
#include "vmm/driver.h"

struct rest {
	CURL *easy;
	char name[32];
	char path[108];
};

struct buf {
	char *data;
	size_t len;
	bool too_long;
};

static size_t collect(char *ptr, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t add = size * n;
	if (b->len + add > REST_MAX_REPLY) {
		b->too_long = true;
		return 0; /* curl stops: CURLE_WRITE_ERROR */
	}
	char *d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, ptr, add);
	b->len += add;
	d[b->len] = '\0';
	b->data = d;
	return add;
}

int rest_status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400: return -EINVAL;
	case 404: return -ENOENT;
	case 405:
	case 501: return -EOPNOTSUPP;
	case 409: return -EBUSY;
	default: return -EIO;
	}
}

int rest_open(const char *name, const char *path, int pidfd, int timeout_ms, struct rest **ret, struct cove_err *err)
{
	int fd = vmm_unix_connect(path, pidfd, timeout_ms, err);
	if (fd < 0)
		return cove_err_prefix(err, "%s API", name);
	close(fd); /* it listens: curl makes its own connection */
	cove_curl_init();
	struct rest *c = calloc(1, sizeof(*c));
	if (!c || !(c->easy = curl_easy_init())) {
		free(c);
		return cove_errf(err, -ENOMEM, "%s API: out of memory", name);
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->path, sizeof(c->path), "%s", path);
	*ret = c;
	return 0;
}

static int transport_errno(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT: return -ENOTCONN;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	default: return -ECONNRESET; /* sent or received nothing whole: it broke the connection */
	}
}

/* The VMM's own words for a refusal: Firecracker's fault_message, or the
 * body as text (Cloud Hypervisor), on one line. */
static void refusal_text(const struct buf *b, char *out, size_t len)
{
	json_t *j = b->data ? json_loads(b->data, 0, NULL) : NULL;
	const char *fault = json_string_value(json_object_get(j, "fault_message"));
	snprintf(out, len, "%s", fault ? fault : b->data ? b->data : "(no body)");
	json_decref(j);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int rest_call(struct rest *c, const char *method, const char *path, json_t *body, json_t **reply, int timeout_ms,
	      struct cove_err *err)
{
	if (reply)
		*reply = NULL;
	if (!c)
		return cove_errf(err, -ENOTCONN, "%s %s: no API connection", method, path);
	char url[256], *text = NULL;
	if (snprintf(url, sizeof(url), "http://localhost%s", path) >= (int)sizeof(url))
		return cove_errf(err, -ENAMETOOLONG, "%s API: path %s too long", c->name, path);
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return cove_errf(err, -ENOMEM, "%s API: out of memory", c->name);
	_cleanup_curl_slist_ struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
	if (text)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	/* curl would send "Expect: 100-continue" for a large body and wait. */
	headers = curl_slist_append(headers, "Expect:");
	struct buf b = { 0 };
	CURL *e = c->easy;
	curl_easy_reset(e);
	cove_curl_cloexec(e);
	curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (text) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode code = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	int r = 0;
	if (b.too_long)
		r = cove_errf(err, -EMSGSIZE, "%s API: %s %s: reply over %d bytes", c->name, method, path, REST_MAX_REPLY);
	else if (code != CURLE_OK)
		r = cove_errf(err, transport_errno(code), "%s API: %s %s: %s", c->name, method, path,
			      curl_easy_strerror(code));
	else if ((r = rest_status_errno(status)) < 0) {
		char why[512];
		refusal_text(&b, why, sizeof(why));
		cove_errf(err, r, "%s API: %s %s: HTTP %ld: %s", c->name, method, path, status, why);
	} else if (reply && b.len) {
		json_error_t je;
		if (!(*reply = json_loadb(b.data, b.len, 0, &je)))
			r = cove_errf(err, -EPROTO, "%s API: %s %s: reply is not JSON: %s", c->name, method, path, je.text);
	}
	free(text);
	free(b.data);
	return r;
}

struct rest *rest_close(struct rest *c)
{
	if (c) {
		curl_easy_cleanup(c->easy);
		free(c);
	}
	return NULL;
}
