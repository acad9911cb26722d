#include "interpreter/context.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/proc.h"

struct context {
	char id[CONTEXT_ID_MAX + 1];
	char language[KERNEL_LANGUAGE_MAX];
	char cwd[PATH_MAX];
	bool is_default, removed;
	unsigned refs;          /* the table's, and each user's */
	uint64_t next, serving; /* tickets */
	uint64_t *abandoned;    /* tickets given up before their turn */
	size_t nabandoned;
	pthread_cond_t turn;
	/* Owned by the turn's holder: */
	struct kernel *kernel;   /* set and cleared under lock too */
	struct kernel_spec spec;
	json_t *applied_envs;
	struct context *link;
};

/* The table, every context's refs, tickets and removed flag. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct context *table;
static char default_cwd[PATH_MAX] = "/";
static int start_ms = 120000;

void contexts_setup(const char *cwd, int kernel_start_ms)
{
	snprintf(default_cwd, sizeof(default_cwd), "%s", cwd);
	start_ms = kernel_start_ms;
}

static void context_free(struct context *c)
{
	kernel_stop(c->kernel);
	kernel_spec_clear(&c->spec);
	json_decref(c->applied_envs);
	pthread_cond_destroy(&c->turn);
	free(c->abandoned);
	free(c);
}

void context_put(struct context *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last)
		context_free(c);
}

static struct context *find_locked(const char *id)
{
	for (struct context *c = table; c; c = c->link)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

struct context *context_get(const char *id)
{
	pthread_mutex_lock(&lock);
	struct context *c = find_locked(id);
	if (c)
		c->refs++;
	pthread_mutex_unlock(&lock);
	return c;
}

static void condattr_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

/* A new kernel for c (which has none), by c's holder or its maker. Its
 * applied environment is {}: the kernel has none of the sandbox's. */
static int start_kernel(struct context *c, struct cove_err *err)
{
	struct kernel *k;
	int r = kernel_start(&c->spec, c->cwd, start_ms, &k, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	c->kernel = k;
	pthread_mutex_unlock(&lock);
	json_decref(c->applied_envs);
	c->applied_envs = json_object();
	return 0;
}

/* A context not yet in the table, its kernel started. */
static int make(const char *language, const char *cwd, bool is_default, struct context **ret, struct cove_err *err)
{
	struct context *c = calloc(1, sizeof(*c));
	if (!c)
		return cove_errf(err, -ENOMEM, "out of memory");
	condattr_monotonic(&c->turn);
	int r = kernel_spec_find(language, &c->spec, err);
	if (r == 0)
		r = wire_uuid(c->id);
	if (r < 0) {
		context_free(c);
		return r;
	}
	snprintf(c->language, sizeof(c->language), "%s", c->spec.language);
	snprintf(c->cwd, sizeof(c->cwd), "%s", cwd && *cwd ? cwd : default_cwd);
	c->is_default = is_default;
	c->refs = 1;
	int64_t t0 = now_ms();
	if ((r = start_kernel(c, err)) < 0) {
		context_free(c);
		return r;
	}
	log_info("context %s (%s%s) ready in %lld ms", c->id, c->language, is_default ? ", default" : "",
		 (long long)(now_ms() - t0));
	*ret = c;
	return 0;
}

int context_create(const char *language, const char *cwd, struct context **ret, struct cove_err *err)
{
	struct context *c;
	int r = make(language, cwd, false, &c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	c->link = table;
	table = c;
	c->refs++;
	pthread_mutex_unlock(&lock);
	*ret = c;
	return 0;
}

static struct context *default_locked(const char *language)
{
	for (struct context *c = table; c; c = c->link)
		if (c->is_default && !c->removed && strcmp(c->language, language) == 0)
			return c;
	return NULL;
}

int context_default(const char *language, struct context **ret, struct cove_err *err)
{
	/* One maker at a time, so two first runs do not make two defaults. */
	static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER;
	struct kernel_spec spec;
	int r = kernel_spec_find(language, &spec, err);
	if (r < 0)
		return r;
	char lang[KERNEL_LANGUAGE_MAX];
	snprintf(lang, sizeof(lang), "%s", spec.language);
	kernel_spec_clear(&spec);
	pthread_mutex_lock(&making);
	pthread_mutex_lock(&lock);
	struct context *c = default_locked(lang);
	if (c)
		c->refs++;
	pthread_mutex_unlock(&lock);
	if (!c && (r = make(lang, NULL, true, &c, err)) == 0) {
		pthread_mutex_lock(&lock);
		c->link = table;
		table = c;
		c->refs++;
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_unlock(&making);
	if (r < 0)
		return r;
	*ret = c;
	return 0;
}

json_t *context_json(const struct context *c)
{
	return json_pack("{s:s, s:s, s:s}", "id", c->id, "language", c->language, "cwd", c->cwd);
}

const char *context_language(const struct context *c)
{
	return c->language;
}

json_t *contexts_list(void)
{
	json_t *a = json_array();
	pthread_mutex_lock(&lock);
	for (struct context *c = table; a && c; c = c->link)
		json_array_append_new(a, context_json(c));
	pthread_mutex_unlock(&lock);
	return a;
}

uint64_t context_enqueue(struct context *c)
{
	pthread_mutex_lock(&lock);
	uint64_t t = c->next++;
	pthread_mutex_unlock(&lock);
	return t;
}

/* Past the tickets given up. With lock held. */
static void skip_abandoned(struct context *c)
{
	for (size_t i = 0; i < c->nabandoned;) {
		if (c->abandoned[i] == c->serving) {
			c->abandoned[i] = c->abandoned[--c->nabandoned];
			c->serving++;
			i = 0;
		} else {
			i++;
		}
	}
}

int context_wait_turn(struct context *c, uint64_t ticket, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	int r = 1;
	while (c->serving != ticket && !c->removed) {
		if (pthread_cond_timedwait(&c->turn, &lock, &until) == ETIMEDOUT) {
			r = 0;
			break;
		}
	}
	if (c->removed) {
		/* The ticket is spent: the ones after it are not held up. */
		if (c->serving == ticket) {
			c->serving++;
			skip_abandoned(c);
			pthread_cond_broadcast(&c->turn);
		}
		r = -ENOENT;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void context_release(struct context *c)
{
	pthread_mutex_lock(&lock);
	c->serving++;
	skip_abandoned(c);
	pthread_cond_broadcast(&c->turn);
	pthread_mutex_unlock(&lock);
}

void context_abandon(struct context *c, uint64_t ticket)
{
	pthread_mutex_lock(&lock);
	if (c->serving == ticket) {
		c->serving++;
	} else {
		uint64_t *more = realloc(c->abandoned, (c->nabandoned + 1) * sizeof(*more));
		if (more) {
			c->abandoned = more;
			c->abandoned[c->nabandoned++] = ticket;
		} else {
			/* Cannot note it: wait for the turn and pass it on. */
			while (c->serving != ticket && !c->removed)
				pthread_cond_wait(&c->turn, &lock);
			c->serving++;
		}
	}
	skip_abandoned(c);
	pthread_cond_broadcast(&c->turn);
	pthread_mutex_unlock(&lock);
}

int context_kernel(struct context *c, struct kernel **ret, struct cove_err *err)
{
	if (c->kernel && !kernel_alive(c->kernel))
		context_kernel_lost(c);
	if (!c->kernel && start_kernel(c, err) < 0)
		return cove_err_prefix(err, "context %s", c->id);
	*ret = c->kernel;
	return 0;
}

void context_kernel_lost(struct context *c)
{
	pthread_mutex_lock(&lock);
	struct kernel *k = c->kernel;
	c->kernel = NULL;
	pthread_mutex_unlock(&lock);
	kernel_stop(k);
	json_decref(c->applied_envs);
	c->applied_envs = NULL;
}

json_t *context_applied_envs(struct context *c)
{
	return c->applied_envs;
}

void context_set_applied_envs(struct context *c, json_t *envs)
{
	json_decref(c->applied_envs);
	c->applied_envs = json_incref(envs);
}

/* Kills c's kernel's process from outside the turn (the holder's next
 * receive sees it gone). With lock held: the holder swaps c->kernel only
 * under it. */
static void kill_kernel(struct context *c)
{
	if (c->kernel)
		kernel_kill(c->kernel);
}

int context_remove(const char *id, struct cove_err *err)
{
	pthread_mutex_lock(&lock);
	struct context **p = &table;
	while (*p && strcmp((*p)->id, id) != 0)
		p = &(*p)->link;
	struct context *c = *p;
	if (!c) {
		pthread_mutex_unlock(&lock);
		return cove_errf(err, -ENOENT, "context %s not found", id);
	}
	*p = c->link;
	c->removed = true;
	pthread_cond_broadcast(&c->turn);
	kill_kernel(c);
	pthread_mutex_unlock(&lock);
	context_put(c);
	return 0;
}

int context_restart(const char *id, struct cove_err *err)
{
	struct context *c = context_get(id);
	if (!c)
		return cove_errf(err, -ENOENT, "context %s not found", id);
	pthread_mutex_lock(&lock);
	kill_kernel(c);
	pthread_mutex_unlock(&lock);
	uint64_t t = context_enqueue(c);
	int r;
	while ((r = context_wait_turn(c, t, 1000)) == 0)
		;
	if (r < 0) {
		context_put(c);
		return cove_errf(err, -ENOENT, "context %s was removed", id);
	}
	struct kernel *k;
	context_kernel_lost(c);
	r = context_kernel(c, &k, err);
	context_release(c);
	context_put(c);
	return r;
}
