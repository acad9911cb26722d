#include "client/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/curl.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define CALL_TIMEOUT_MS 120000 /* a create under load takes a while */
#define CONNECT_TIMEOUT_MS 3000
#define REPLY_MAX (16 * 1024 * 1024)

struct client {
	char url[512];
	char key[256];
	char next_token[64]; /* X-Next-Token of the last answer */
};

static int read_key_file(const char *path, char *key, size_t len, struct cove_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cove_errno(err, -errno, "read the API key %s", path);
	ssize_t n = read(fd, key, len - 1);
	if (n <= 0)
		return cove_errf(err, -ENOKEY, "the API key file %s is empty", path);
	key[n] = '\0';
	key[strcspn(key, "\r\n")] = '\0';
	return key[0] ? 0 : cove_errf(err, -ENOKEY, "the API key file %s is empty", path);
}

int client_open(const struct client_config *cfg, struct client **ret, struct cove_err *err)
{
	cove_curl_init();
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return cove_errf(err, -ENOMEM, "client: out of memory");
	const char *url = cfg && cfg->url ? cfg->url : env_get(ENV_URL);
	snprintf(c->url, sizeof(c->url), "%s", url && *url ? url : CLIENT_DEFAULT_URL);
	size_t n = strlen(c->url);
	while (n && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	const char *key = cfg && cfg->api_key ? cfg->api_key : env_get(ENV_API_KEY);
	int r = 0;
	if (key && *key) {
		snprintf(c->key, sizeof(c->key), "%s", key);
	} else {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/api-key", env_value(ENV_STATE_DIR));
		struct cove_err why = { 0 };
		r = read_key_file(path, c->key, sizeof(c->key), &why);
		if (r < 0)
			r = cove_errf(err, -ENOKEY, "no API key: give --api-key or COVE_API_KEY (%s)", why.msg);
	}
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void client_close(struct client *c)
{
	free(c);
}

const char *client_url(const struct client *c)
{
	return c->url;
}

struct reply_buf {
	char *data;
	size_t len, cap;
	bool too_large;
};

static size_t keep(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n + 1 > REPLY_MAX) {
		b->too_large = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* A handle for coved at path with the usual limits; the API key goes only
 * to coved's own routes (with_key), never towards a guest. */
static CURL *easy_for(struct client *c, const char *path, bool with_key, struct curl_slist **headers)
{
	char url[1024], line[300];
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	CURL *easy = curl_easy_init();
	if (with_key)
		snprintf(line, sizeof(line), "X-API-KEY: %s", c->key);
	else
		snprintf(line, sizeof(line), "User-Agent: cove");
	*headers = curl_slist_append(NULL, line);
	if (!easy || !*headers) {
		curl_slist_free_all(*headers);
		*headers = NULL;
		curl_easy_cleanup(easy);
		return NULL;
	}
	curl_easy_setopt(easy, CURLOPT_URL, url);
	cove_curl_cloexec(easy);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)CALL_TIMEOUT_MS);
	return easy;
}

static int errno_for_status(long status)
{
	switch (status) {
	case 400: return -EINVAL;
	case 401: case 403: return -EACCES;
	case 404: return -ENOENT;
	case 409: return -EALREADY;
	case 413: return -EFBIG;
	case 429: return -EAGAIN;
	case 502: return -ENOENT; /* envd routing: the sandbox is not running */
	default: return -EIO;
	}
}

/* The transfer's outcome: 0, or why it failed, naming coved's address. */
static int transfer(struct client *c, CURL *easy, const struct reply_buf *b, long *status, struct cove_err *err)
{
	CURLcode rc = curl_easy_perform(easy);
	*status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
	if (rc == CURLE_COULDNT_CONNECT)
		return cove_errf(err, -ECONNREFUSED, "coved does not answer at %s (is it running? 'coved' starts it)",
				 c->url);
	if (b && b->too_large)
		return cove_errf(err, -EFBIG, "coved's answer is larger than %d bytes", REPLY_MAX);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && *status >= 400))
		return cove_errf(err, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO, "coved at %s: %s", c->url,
				 curl_easy_strerror(rc));
	return 0;
}

static int status_error(long status, const char *body, struct cove_err *err)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	int r = cove_errf(err, errno_for_status(status), "%s", msg && *msg ? msg : "");
	if (!msg || !*msg)
		cove_errf(err, r, "coved answered HTTP %ld", status);
	json_decref(j);
	return r;
}

bool client_reachable(struct client *c, int timeout_ms)
{
	struct curl_slist *headers;
	CURL *easy = easy_for(c, "/health", true, &headers);
	if (!easy)
		return false;
	struct reply_buf b = { 0 };
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms * 2);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(easy);
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(easy);
	free(b.data);
	return rc == CURLE_OK && status > 0;
}

static size_t header_seen(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct client *c = userdata;
	size_t n = size * nitems;
	static const char name[] = "x-next-token:";
	if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		const char *v = buf + sizeof(name) - 1;
		size_t vlen = n - (sizeof(name) - 1);
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		snprintf(c->next_token, sizeof(c->next_token), "%.*s", (int)vlen, v);
	}
	return n;
}

const char *client_next_token(const struct client *c)
{
	return c->next_token;
}

int client_call(struct client *c, const char *method, const char *path, json_t *body, long *status,
		json_t **reply, struct cove_err *err)
{
	c->next_token[0] = '\0';
	if (reply)
		*reply = NULL;
	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = easy_for(c, path, true, &headers);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	/* Appending keeps the list's head: headers stays the list to free. */
	struct curl_slist *more = headers ? curl_slist_append(headers, "Content-Type: application/json") : NULL;
	if (!easy || !more || (body && !text))
		return cove_errf(err, -ENOMEM, "client: out of memory");
	struct reply_buf b = { 0 };
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	if (text)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, text);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_seen);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, c);
	long st = 0;
	int r = transfer(c, easy, &b, &st, err);
	if (r == 0 && st >= 400)
		r = status_error(st, b.data, err);
	if (r == 0 && reply && b.len) {
		json_error_t je;
		*reply = json_loads(b.data, 0, &je);
		if (!*reply)
			r = cove_errf(err, -EPROTO, "coved's answer to %s %s is not JSON: %s", method, path, je.text);
	}
	if (status)
		*status = st;
	free(b.data);
	return r;
}

/* Headers that route a request to the sandbox's agent, with its token. */
static struct curl_slist *envd_headers(struct curl_slist *h, const char *sandbox, const char *token)
{
	char line[200];
	snprintf(line, sizeof(line), "E2b-Sandbox-Id: %s", sandbox);
	struct curl_slist *n = curl_slist_append(h, line);
	if (!n)
		return NULL;
	snprintf(line, sizeof(line), "X-Access-Token: %s", token);
	return curl_slist_append(n, line);
}

static char *files_path(CURL *easy, const char *guest_path)
{
	char *escaped = curl_easy_escape(easy, guest_path, 0);
	if (!escaped)
		return NULL;
	char *p = NULL;
	if (asprintf(&p, "/files?path=%s", escaped) < 0)
		p = NULL;
	curl_free(escaped);
	return p;
}

struct download {
	CURL *easy;
	int fd;
	struct reply_buf *error; /* the body of an error answer */
};

/* The file goes to fd; an error answer (short, JSON) is kept instead. */
static size_t to_fd(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct download *d = userdata;
	long status = 0;
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400)
		return keep(ptr, size, nmemb, d->error);
	return fs_write_all(d->fd, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

/* A transfer of a file: the status decides; an error body is read as JSON. */
static int files_transfer(struct client *c, const char *sandbox, const char *token, const char *guest_path,
			  bool upload, int fd, struct cove_err *err)
{
	_cleanup_curl_ CURL *probe = curl_easy_init();
	_cleanup_free_ char *path = probe ? files_path(probe, guest_path) : NULL;
	_cleanup_curl_slist_ struct curl_slist *headers = NULL;
	_cleanup_curl_ CURL *easy = path ? easy_for(c, path, false, &headers) : NULL;
	/* Appending keeps the list's head: headers stays the list to free. */
	struct curl_slist *more = headers ? envd_headers(headers, sandbox, token) : NULL;
	if (more && upload)
		more = curl_slist_append(more, "Content-Type: application/octet-stream");
	if (!easy || !more)
		return cove_errf(err, -ENOMEM, "client: out of memory");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 0L); /* files may be large */
	struct reply_buf errbody = { 0 };
	struct download down = { easy, fd, &errbody };
	_cleanup_fclose_ FILE *in = NULL;
	if (upload) {
		struct stat st;
		_cleanup_close_ int copy = fstat(fd, &st) == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
		if (copy < 0 || !(in = fdopen(copy, "rb")))
			return cove_errno(err, -errno, "read the file to copy");
		TAKE_FD(copy); /* in holds it now */
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_READDATA, in);
		if (S_ISREG(st.st_mode))
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, &errbody);
	} else {
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, to_fd);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, &down);
	}
	long status = 0;
	int r = transfer(c, easy, &errbody, &status, err);
	if (r == 0 && status >= 400)
		r = status_error(status, errbody.data, err);
	if (r < 0)
		cove_err_prefix(err, "%s %s:%s", upload ? "copy to" : "copy from", sandbox, guest_path);
	free(errbody.data);
	return r;
}

int client_download(struct client *c, const char *sandbox, const char *token, const char *guest_path, int fd,
		    struct cove_err *err)
{
	return files_transfer(c, sandbox, token, guest_path, false, fd, err);
}

int client_upload(struct client *c, const char *sandbox, const char *token, int fd, const char *guest_path,
		  struct cove_err *err)
{
	return files_transfer(c, sandbox, token, guest_path, true, fd, err);
}
