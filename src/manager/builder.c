/* The builder thread: takes the oldest queued build, finds its base (a
 * template, by name and tag, or E2B's default), runs it (build/runner.h)
 * into TEMPLATES/.builds/ID, and publishes it under its tags, or records
 * why it failed and removes what it made. One build at a time: a build is
 * CPU work from end to end, and its VM boots take a turn with sandboxes'.
 * Also what opening and closing the manager does for builds. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/files.h"
#include "build/runner.h"
#include "build/spec.h"
#include "image/image.h"
#include "sandbox/sandbox.h"
#include "common/fs.h"
#include "common/log.h"
#include "manager/internal.h"

/* E2B's own base image, which a Template() without a from* call names:
 * Cove's base template stands for it. */
static bool is_e2b_base(const char *image)
{
	return strcmp(image, "e2bdev/base") == 0 || strncmp(image, "e2bdev/base:", 12) == 0 ||
	       strcmp(image, "docker.io/e2bdev/base") == 0 || strncmp(image, "docker.io/e2bdev/base:", 22) == 0;
}

struct job {
	struct manager *m;
	struct store_build rec;
	struct build_trigger t;
	struct template base;
	char base_key[PATH_MAX + 64 > BUILD_BASE_KEY_MAX ? PATH_MAX + 64 : BUILD_BASE_KEY_MAX];
	char source[BUILD_SOURCE_MAX + 128];
	const char *user, *workdir; /* the first step's context; NULL: the base's */
	const char *envs[TEMPLATE_ENV_MAX + 1];
};

static void job_log(void *ctx, enum build_log_level level, const char *step, const char *msg)
{
	struct job *j = ctx;
	build_log_add(j->m, j->rec.id, (int)level, step, msg);
}

static int job_boot_turn(void *ctx, bool begin)
{
	struct job *j = ctx;
	if (!begin) {
		boot_end(j->m);
		return 0;
	}
	struct cove_err err = { 0 };
	return boot_begin(j->m, &err);
}

static void import_progress(void *ctx, const char *line)
{
	struct job *j = ctx;
	build_log_add(j->m, j->rec.id, BUILD_LOG_INFO, "base", line);
}

/* An image's template, made once per image in BUILD_DIR/images. */
static int image_base(struct job *j, const struct build_host *h, struct cove_err *err)
{
	struct manager *m = j->m;
	const struct build_trigger *t = &j->t;
	char images[PATH_MAX + 8], cache[PATH_MAX + 16], insecure[1024], source[BUILD_SOURCE_MAX];
	snprintf(images, sizeof(images), "%s/images", m->build_dir);
	snprintf(cache, sizeof(cache), "%s/image-cache", m->build_dir);
	const char *list[17] = { 0 };
	size_t n = 0;
	snprintf(insecure, sizeof(insecure), "%s", m->insecure);
	for (char *save, *host = strtok_r(insecure, ",", &save); host && n < 16; host = strtok_r(NULL, ",", &save))
		list[n++] = host;
	struct build_image req = {
		.src = { t->from, t->username, t->password },
		.opts = { .guest_bin = m->guest_bin[0] ? m->guest_bin : NULL, .cache_dir = cache, .insecure = list,
			  .max_disk_mib = m->c.max_template_disk_mib ? m->c.max_template_disk_mib
								     : MANAGER_DEFAULT_MAX_TEMPLATE_DISK_MIB,
			  .min_free_mib = j->rec.min_free_mib, .cancel_fd = m->cancel[0], .progress = import_progress,
			  .ctx = j },
		.images_dir = images,
		.vcpus = j->rec.vcpus,
		.mem_mib = j->rec.mem_mib,
	};
	build_log_add(m, j->rec.id, BUILD_LOG_INFO, "base", "importing the image");
	int r = build_image_base(&req, h, &j->base, j->base_key, source, err);
	if (r == 0)
		snprintf(j->source, sizeof(j->source), "build %s from image %s", j->rec.id, source);
	return r;
}

/* The base: an image, a template (its tag's build), or E2B's default
 * image, which Cove's base template stands for. */
static int find_base(struct job *j, const struct build_host *h, struct cove_err *err)
{
	const struct build_trigger *t = &j->t;
	const char *alias = t->template.alias, *tag = t->template.tag;
	if (t->base == BUILD_BASE_IMAGE && !is_e2b_base(t->from)) {
		/* As E2B runs an image's steps: as `user`, made if missing, in
		 * its home. */
		j->user = "user";
		j->workdir = "/home/user";
		int r = image_base(j, h, err);
		return r < 0 ? cove_err_prefix(err, "fromImage %s", t->from) : 0;
	}
	if (t->base == BUILD_BASE_IMAGE) {
		alias = BUILD_DEFAULT_TEMPLATE;
		tag = "";
	}
	char dir[PATH_MAX], name[64];
	int r = manager_template_dir(j->m, alias, tag, dir, name, err);
	r = r ?: template_load(dir, name, &j->base, err);
	if (r < 0)
		return cove_err_prefix(err, "base template %s%s%s", alias, tag[0] ? ":" : "", tag);
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(j->base.rootfs, real) || stat(real, &st) < 0)
		return cove_errno(err, -errno, "base template %s: %s", alias, j->base.rootfs);
	snprintf(j->base_key, sizeof(j->base_key), "template %s %lld %lld", real, (long long)st.st_size,
		 (long long)st.st_mtime);
	snprintf(j->source, sizeof(j->source), "build %s from template %s%s%s", j->rec.id, alias, tag[0] ? ":" : "", tag);
	return 0;
}

static void record(struct manager *m, struct store_build *rec)
{
	struct cove_err err = { 0 };
	pthread_mutex_lock(&m->lock);
	if (store_build_put(m->c.store, rec, &err) < 0)
		log_warn("build=%s op=record state=%s msg=\"%s\"", rec->id, store_build_state_name(rec->state), err.msg);
	pthread_mutex_unlock(&m->lock);
}

/* Its tags name it from now on ("default": the template's name). */
static int publish(struct manager *m, const struct store_build *rec, struct cove_err *err)
{
	char tags[sizeof(rec->tags)];
	snprintf(tags, sizeof(tags), "%s", rec->tags);
	int r = 0;
	pthread_mutex_lock(&m->lock);
	for (char *save, *tag = strtok_r(tags, ",", &save); tag && r == 0; tag = strtok_r(NULL, ",", &save)) {
		struct store_tag t = { .created_ms = wall_ms() };
		snprintf(t.template_id, sizeof(t.template_id), "%s", rec->template_id);
		snprintf(t.tag, sizeof(t.tag), "%s", tag);
		snprintf(t.build, sizeof(t.build), "%s", rec->id);
		r = store_tag_put(m->c.store, &t, err);
		if (r == 0 && strcmp(tag, "default") == 0)
			r = builds_link_default(m, rec->template_id, rec->id, err);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int run_job(struct job *j, char step[16], struct cove_err *err)
{
	struct manager *m = j->m;
	char *spec = NULL;
	int r = store_build_spec_get(m->c.store, j->rec.id, &spec, err);
	r = r ?: build_trigger_parse(spec, strlen(spec), &j->t, err);
	free(spec);
	if (r < 0)
		return r;
	char cache[PATH_MAX + 8], out[PATH_MAX];
	snprintf(cache, sizeof(cache), "%s/cache", m->build_dir);
	build_path(m, j->rec.id, out);
	struct build_host h = {
		.net = m->c.net, .kernel = m->kernel, .accel = m->c.accel, .run_dir = m->c.run_dir, .log_dir = m->c.log_dir,
		.vmm_binary = m->c.vmm_binary, .busybox = m->busybox, .cache_dir = cache, .cancel_fd = m->cancel[0],
		.log = job_log, .ctx = j, .boot_turn = job_boot_turn,
	};
	snprintf(step, 16, "base");
	char from[IMAGE_REF_MAX + 64];
	snprintf(from, sizeof(from), "FROM %s%s", j->t.from,
		 j->t.base == BUILD_BASE_IMAGE && is_e2b_base(j->t.from) ? " (Cove's base template)" : "");
	build_log_add(m, j->rec.id, BUILD_LOG_INFO, "base", from);
	if ((r = find_base(j, &h, err)) < 0)
		return r;
	if (template_envs(&j->base, NULL, j->envs, TEMPLATE_ENV_MAX + 1) < 0)
		return cove_errf(err, -E2BIG, "base %s: too many env entries", j->base.name);
	struct build_plan p = {
		.base = &j->base, .base_key = j->base_key, .steps = j->t.steps, .nsteps = j->t.n_steps,
		.files = m->files, .start_cmd = j->t.start_cmd, .ready_cmd = j->t.ready_cmd,
		.vcpus = j->rec.vcpus, .memory_mib = j->rec.mem_mib, .force = j->t.force, .source = j->source,
		.user = j->user, .workdir = j->workdir, .user_create = j->user != NULL, .env = j->envs,
	};
	/* E2B's limit on a ready command: it is polled for 5 minutes. */
	if (p.ready_cmd)
		p.ready_timeout_s = 300;
	r = build_run(&p, &h, out, step, err);
	return r < 0 ? r : publish(m, &j->rec, err);
}

static void build_one(struct manager *m, const struct store_build *queued)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->m = m;
	j->rec = *queued;
	j->rec.state = STORE_BUILD_BUILDING;
	j->rec.started_ms = wall_ms();
	record(m, &j->rec);
	int64_t t0 = now_ms();
	log_info("build=%s op=start template=%s", j->rec.id, j->rec.template_id);
	struct cove_err err = { 0 };
	char step[16] = "base";
	int r = run_job(j, step, &err);
	j->rec.finished_ms = wall_ms();
	if (r < 0) {
		char out[PATH_MAX];
		build_path(m, j->rec.id, out);
		fs_remove_tree(out, NULL);
		j->rec.state = STORE_BUILD_FAILED;
		snprintf(j->rec.reason, sizeof(j->rec.reason), "%s", err.msg);
		snprintf(j->rec.reason_step, sizeof(j->rec.reason_step), "%s", step);
		log_warn("build=%s op=build template=%s step=%s msg=\"%s\"", j->rec.id, j->rec.template_id, step, err.msg);
	} else {
		j->rec.state = STORE_BUILD_READY;
		build_log_add(m, j->rec.id, BUILD_LOG_INFO, "finalize", "Template is ready");
		log_info("build=%s op=build template=%s ms=%lld", j->rec.id, j->rec.template_id,
			 (long long)(now_ms() - t0));
	}
	/* Stopping: a build cut short runs again at the next start. */
	if (r == -ECANCELED) {
		j->rec.state = STORE_BUILD_QUEUED;
		j->rec.reason[0] = j->rec.reason_step[0] = '\0';
	}
	record(m, &j->rec);
	build_trigger_clear(&j->t);
	free(j);
}

static int first_queued(void *ctx, const struct store_build *b)
{
	if (b->state != STORE_BUILD_QUEUED)
		return 0;
	*(struct store_build *)ctx = *b;
	return 1;
}

void *builder_main(void *arg)
{
	struct manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct store_build next;
		struct cove_err err = { 0 };
		int r = store_build_each(m->c.store, NULL, first_queued, &next, &err);
		if (r != 1) {
			if (r < 0)
				log_warn("op=builder msg=\"%s\"", err.msg);
			pthread_cond_wait(&m->build_wake, &m->lock);
			continue;
		}
		snprintf(m->building, sizeof(m->building), "%s", next.id);
		pthread_mutex_unlock(&m->lock);
		build_one(m, &next);
		pthread_mutex_lock(&m->lock);
		m->building[0] = '\0';
		build_logs_trim(m);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* On opening: builds a coved left mid-way are queued again (their steps
 * done come from the cache); what they half made goes. */
static int recover_build(void *ctx, const struct store_build *b)
{
	struct manager *m = ctx;
	if (b->state == STORE_BUILD_READY || b->state == STORE_BUILD_WAITING)
		return 0;
	char dir[PATH_MAX];
	build_path(m, b->id, dir);
	fs_remove_tree(dir, NULL);
	if (b->state == STORE_BUILD_BUILDING) {
		struct store_build q = *b;
		q.state = STORE_BUILD_QUEUED;
		struct cove_err err = { 0 };
		if (store_build_put(m->c.store, &q, &err) < 0)
			log_warn("build=%s op=recover msg=\"%s\"", b->id, err.msg);
		else
			log_info("build=%s op=recover msg=\"cut short by a restart: queued again\"", b->id);
	}
	return 0;
}

int builds_open(struct manager *m, struct cove_err *err)
{
	if (!m->c.build_dir)
		return 0;
	snprintf(m->build_dir, sizeof(m->build_dir), "%s", m->c.build_dir);
	m->c.build_dir = NULL; /* m->build_dir from here */
	if (m->c.guest_bin)
		snprintf(m->guest_bin, sizeof(m->guest_bin), "%s", m->c.guest_bin);
	if (m->c.insecure_registries)
		snprintf(m->insecure, sizeof(m->insecure), "%s", m->c.insecure_registries);
	if (m->c.busybox)
		snprintf(m->busybox, sizeof(m->busybox), "%s", m->c.busybox);
	else if (fs_find_executable("busybox", "/bin:/usr/bin", m->busybox, sizeof(m->busybox)) < 0)
		log_warn("op=builds msg=\"busybox not found (install busybox-static): builds from templates without it fail\"");
	char path[PATH_MAX + 16];
	int r = fs_mkdir_p(m->build_dir, 0700, err);
	snprintf(path, sizeof(path), "%s/logs", m->build_dir);
	r = r ?: fs_mkdir_p(path, 0700, err);
	/* TEMPLATES/.builds is made by the first build (build_run makes its
	 * directory's parents). */
	if (r == 0 && !(m->files = calloc(1, sizeof(*m->files))))
		r = cove_errf(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/files", m->build_dir);
	r = r ?: files_store_open(path, m->files, err);
	if (r == 0 && random_hex(m->build_secret, 32) < 0)
		r = cove_errf(err, -EIO, "builds: no randomness for upload tokens");
	r = r ?: store_build_each(m->c.store, NULL, recover_build, m, err);
	if (r == 0) {
		r = -pthread_create(&m->builder, NULL, builder_main, m);
		if (r < 0)
			cove_errno(err, r, "manager: start the builder");
		m->builder_running = r == 0;
	}
	return r;
}

void builds_close(struct manager *m)
{
	if (m->builder_running)
		pthread_join(m->builder, NULL);
	m->builder_running = false;
	build_logs_free(m);
	free(m->files);
	m->files = NULL;
}
