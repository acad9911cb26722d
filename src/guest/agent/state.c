#include "agent/state.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "agent/cacert.h"
#include "agent/mounts.h"
#include "agent/resolv.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/secret.h"
#include "proto/utf8.h"

#define TOKEN_MAX 1024
#define ENV_MAX 1024
/* A guest clock further off than this is stepped to the host's. */
#define CLOCK_SLACK_MS 50
#define RESEED_BYTES 32

static struct {
	pthread_rwlock_t lock;
	bool set_clock;
	bool mount_volumes;
	pthread_mutex_t mounting;     /* one /init's mounts at a time */
	const char *resolv_conf;      /* NULL: nameservers are not written */
	const char *ca_root;          /* NULL: caBundle is not installed */
	struct agent_ca_installed ca; /* what processes are pointed at */
	char *token;
	char **envs;
	size_t nenvs;
	char *workdir;
	char *user;
} st = { .lock = PTHREAD_RWLOCK_INITIALIZER, .mounting = PTHREAD_MUTEX_INITIALIZER };

void agent_state_setup(bool set_clock, bool mount_volumes, const char *resolv_conf, const char *ca_root)
{
	st.set_clock = set_clock;
	st.mount_volumes = mount_volumes;
	st.resolv_conf = resolv_conf;
	st.ca_root = ca_root;
}

bool agent_token_ok(const char *presented)
{
	pthread_rwlock_rdlock(&st.lock);
	bool ok = !st.token || secret_equal(presented ? presented : "", st.token);
	pthread_rwlock_unlock(&st.lock);
	return ok;
}

/* envd's v1 signature: "v1_" + base64(sha256("path:op:user:token[:exp]"))
 * with the base64 padding removed. */
static void signature_v1(const char *path, const char *op, const char *user, const char *token, const char *exp,
			 char out[64])
{
	struct sha256_ctx h;
	sha256_init(&h);
	const char *parts[] = { path, op, user, token, exp };
	for (size_t i = 0; i < 5 && parts[i]; i++) {
		if (i)
			sha256_update(&h, 1, (const uint8_t *)":");
		sha256_update(&h, strlen(parts[i]), (const uint8_t *)parts[i]);
	}
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_digest(&h, sizeof(digest), digest);
	memcpy(out, "v1_", 3);
	size_t n = BASE64_ENCODE_RAW_LENGTH(sizeof(digest)); /* 44 with padding */
	base64_encode_raw((char *)out + 3, sizeof(digest), digest);
	while (n > 0 && out[3 + n - 1] == '=')
		n--;
	out[3 + n] = '\0';
}

int agent_files_authorize(const struct agent_files_auth *a, char *why, size_t len)
{
	pthread_rwlock_rdlock(&st.lock);
	int rc = 0;
	if (!st.token) {
		/* No token: nothing to check (envd too). */
	} else if (a->header_token) {
		if (!secret_equal(a->header_token, st.token)) {
			snprintf(why, len, "access token present in header but does not match");
			rc = -EACCES;
		}
	} else if (!a->signature) {
		snprintf(why, len, "missing X-Access-Token or signature query parameter");
		rc = -EACCES;
	} else {
		/* As envd: the expiration is an integer, signed as its decimal. */
		char *end = NULL, exp_text[32];
		errno = 0;
		long long exp = a->expiration ? strtoll(a->expiration, &end, 10) : 0;
		if (a->expiration && (end == a->expiration || *end || errno)) {
			snprintf(why, len, "signature_expiration must be an integer (Unix seconds)");
			rc = -EACCES;
		} else {
			snprintf(exp_text, sizeof(exp_text), "%lld", exp);
			char expected[64];
			signature_v1(a->path ? a->path : "", a->operation, a->user ? a->user : "", st.token,
				     a->expiration ? exp_text : NULL, expected);
			if (!secret_equal(a->signature, expected)) {
				snprintf(why, len, "invalid signature");
				rc = -EACCES;
			} else if (a->expiration && exp < (long long)time(NULL)) {
				snprintf(why, len, "signature is already expired");
				rc = -EACCES;
			}
		}
	}
	pthread_rwlock_unlock(&st.lock);
	return rc;
}

static int set_string(json_t *req, const char *field, char **slot, size_t max, struct cove_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || strlen(s) > max)
		return cove_errf(err, -EINVAL, "%s must be a string of at most %zu characters", field, max);
	char *copy = strdup(s);
	if (!copy)
		return cove_errf(err, -ENOMEM, "out of memory");
	if (!*s) { /* an empty string unsets */
		free(copy);
		copy = NULL;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

/* As envd's: the variables are added to those set before (a name given
 * again takes the new value), so that a sandbox created from a snapshot
 * gets the create's on top of the snapshot's. */
static int set_envs(json_t *req, struct cove_err *err)
{
	json_t *v = json_object_get(req, "envVars");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v) || json_object_size(v) > ENV_MAX)
		return cove_errf(err, -EINVAL, "envVars must be an object of at most %d strings", ENV_MAX);
	char **envs = calloc(st.nenvs + json_object_size(v) + 1, sizeof(char *));
	size_t n = 0;
	const char *key;
	json_t *val;
	int r = envs ? 0 : cove_errf(err, -ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < st.nenvs; i++) {
		char name[512];
		size_t len = strcspn(st.envs[i], "=");
		snprintf(name, sizeof(name), "%.*s", (int)len, st.envs[i]);
		if (len < sizeof(name) && json_object_get(v, name))
			continue; /* given again */
		if (n >= ENV_MAX)
			r = cove_errf(err, -EINVAL, "envVars: more than %d variables with those set before", ENV_MAX);
		else if (!(envs[n] = strdup(st.envs[i])))
			r = cove_errf(err, -ENOMEM, "out of memory");
		else
			n++;
	}
	json_object_foreach(v, key, val) {
		if (r < 0)
			break;
		if (!json_is_string(val) || !*key || strchr(key, '='))
			r = cove_errf(err, -EINVAL, "envVars.%s is not a valid variable", key);
		else if (n >= ENV_MAX)
			r = cove_errf(err, -EINVAL, "envVars: more than %d variables with those set before", ENV_MAX);
		else if (asprintf(&envs[n], "%s=%s", key, json_string_value(val)) < 0)
			r = cove_errf(err, -ENOMEM, "out of memory");
		else
			n++;
	}
	if (r < 0) {
		for (size_t i = 0; envs && i < n; i++)
			free(envs[i]);
		free(envs);
		return r;
	}
	for (size_t i = 0; i < st.nenvs; i++)
		free(st.envs[i]);
	free(st.envs);
	st.envs = envs;
	st.nenvs = n;
	return 0;
}

/* The host's clock, so the guest's is right after a restore or boot. */
static int set_clock(json_t *req, struct cove_err *err)
{
	const char *ts = json_string_value(json_object_get(req, "timestamp"));
	if (!ts)
		return 0;
	struct tm tm = { 0 };
	const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return cove_errf(err, -EINVAL, "timestamp '%s' is not RFC 3339", ts);
	long nsec = 0;
	if (*rest == '.') {
		long scale = 100000000;
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			nsec += (*rest - '0') * scale;
	}
	struct timespec host = { .tv_sec = timegm(&tm), .tv_nsec = nsec };
	if (!st.set_clock)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long off_ms = ((long long)host.tv_sec - now.tv_sec) * 1000 + (host.tv_nsec - now.tv_nsec) / 1000000;
	if ((off_ms > CLOCK_SLACK_MS || off_ms < -CLOCK_SLACK_MS) && clock_settime(CLOCK_REALTIME, &host) < 0)
		return cove_errno(err, -errno, "set the clock");
	return 0;
}

/* Guests restored from one snapshot start with the same kernel RNG state:
 * each gets fresh bytes from the host's virtio-rng (and its own new token)
 * mixed in, and the kernel's CRNG reseeded at once. */
static void reseed_rng(const char *token)
{
	size_t tlen = token ? strlen(token) : 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	struct rand_pool_info *info = calloc(1, sizeof(*info) + RESEED_BYTES + tlen + sizeof(ts));
	if (!info)
		return;
	uint8_t *p = (uint8_t *)info->buf;
	size_t n = 0;
	int hw = open("/dev/hwrng", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (hw >= 0) {
		ssize_t got = read(hw, p, RESEED_BYTES);
		n = got > 0 ? (size_t)got : 0;
		close(hw);
	}
	info->entropy_count = (int)(n * 8); /* only the host's random bytes count */
	if (tlen)
		memcpy(p + n, token, tlen);
	memcpy(p + n + tlen, &ts, sizeof(ts));
	info->buf_size = (int)(n + tlen + sizeof(ts));
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && (ioctl(fd, RNDADDENTROPY, info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0))
		log_warn("op=init msg=\"reseeding the RNG: %s\"", strerror(errno));
	if (fd >= 0)
		close(fd);
	free(info);
}

/* The guest's resolv.conf, when /init names nameservers and the agent
 * was given the file (--resolv-conf). A file it cannot write leaves the
 * guest without names, not without its sandbox: a warning. */
static void set_nameservers(const struct agent_nameservers *ns)
{
	struct cove_err err = { 0 };
	if (!ns->count || !st.resolv_conf)
		return;
	if (agent_resolv_conf_write(st.resolv_conf, ns, &err) < 0)
		log_warn("op=init msg=\"%s\"", err.msg);
}

/* The egress authority in the guest's trust store, when /init gives it
 * and the agent was given the tree (--ca-root). What it could not do it
 * logged: TLS through the egress proxy fails, nothing else. */
static void set_ca(const char *pem)
{
	if (pem && st.ca_root)
		agent_ca_install(st.ca_root, pem, &st.ca);
}

/* volumeMounts, before anything else of the /init is changed and outside
 * st.lock (a mount may wait seconds for the server; every request reads
 * the token under it). Never on a host: an agent run there for tests
 * refuses them. */
static int set_mounts(const struct agent_mounts *m, struct cove_err *err)
{
	if (!m->count)
		return 0;
	if (!st.mount_volumes)
		return cove_errf(err, -EOPNOTSUPP,
				 "volumeMounts: this agent does not mount volumes (it was started without --mount-volumes)");
	pthread_mutex_lock(&st.mounting);
	int r = agent_mounts_apply(m, err);
	pthread_mutex_unlock(&st.mounting);
	return r;
}

int agent_init_apply(json_t *req, struct cove_err *err)
{
	struct agent_nameservers ns;
	struct agent_mounts mounts = { 0 };
	_cleanup_free_ char *ca = NULL;
	int r = agent_nameservers_parse(req, &ns, err);
	if (r == 0)
		r = agent_ca_parse(req, &ca, err);
	if (r == 0)
		r = agent_mounts_parse(req, &mounts, err);
	if (r == 0)
		r = set_mounts(&mounts, err);
	agent_mounts_free(&mounts);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&st.lock);
	r = set_string(req, "accessToken", &st.token, TOKEN_MAX, err);
	if (r == 0)
		r = set_envs(req, err);
	if (r == 0)
		r = set_string(req, "defaultWorkdir", &st.workdir, 4096, err);
	if (r == 0)
		r = set_string(req, "defaultUser", &st.user, 63, err);
	if (r == 0)
		r = set_clock(req, err);
	if (r == 0)
		set_nameservers(&ns);
	if (r == 0)
		set_ca(ca);
	/* Only as a sandbox's agent (which sets the clock), not in host tests. */
	if (r == 0 && st.set_clock)
		reseed_rng(st.token);
	pthread_rwlock_unlock(&st.lock);
	return r;
}

void agent_default_user(char *buf, size_t len)
{
	pthread_rwlock_rdlock(&st.lock);
	snprintf(buf, len, "%s", st.user ? st.user : "");
	pthread_rwlock_unlock(&st.lock);
}

json_t *agent_envs_json(void)
{
	json_t *j = json_object();
	pthread_rwlock_rdlock(&st.lock);
	for (size_t i = 0; j && i < st.nenvs; i++) {
		/* Keys and values came from /init's JSON, so they are UTF-8: a
		 * failure here is memory. */
		const char *eq = strchr(st.envs[i], '=');
		char *key = strndup(st.envs[i], (size_t)(eq - st.envs[i]));
		if (!key || json_object_set_new(j, key, json_string_lossy(eq + 1)) < 0) {
			json_decref(j);
			j = NULL;
		}
		free(key);
	}
	pthread_rwlock_unlock(&st.lock);
	return j;
}

/* The trust store's variables, unless /init's envVars set them. */
static size_t ca_envs(const char *out[4])
{
	const char *all[4];
	size_t n = 0;
	agent_ca_envs(&st.ca, all);
	for (size_t i = 0; all[i]; i++) {
		size_t len = strcspn(all[i], "=") + 1;
		bool set = false;
		for (size_t j = 0; j < st.nenvs && !set; j++)
			set = strncmp(st.envs[j], all[i], len) == 0;
		if (!set)
			out[n++] = all[i];
	}
	out[n] = NULL;
	return n;
}

void agent_defaults_get(struct agent_defaults *out)
{
	pthread_rwlock_rdlock(&st.lock);
	const char *ca[4];
	size_t nca = ca_envs(ca);
	out->envs = calloc(nca + st.nenvs + 1, sizeof(char *));
	for (size_t i = 0; out->envs && i < nca; i++)
		out->envs[i] = strdup(ca[i]);
	for (size_t i = 0; out->envs && i < st.nenvs; i++)
		out->envs[nca + i] = strdup(st.envs[i]);
	out->workdir = st.workdir ? strdup(st.workdir) : NULL;
	pthread_rwlock_unlock(&st.lock);
}

void agent_defaults_free(struct agent_defaults *d)
{
	for (size_t i = 0; d->envs && d->envs[i]; i++)
		free(d->envs[i]);
	free(d->envs);
	free(d->workdir);
	d->envs = NULL;
	d->workdir = NULL;
}
