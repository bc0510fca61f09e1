/* SPDX-License-Identifier: MIT */
/*
 * One connection to a Ceph cluster and the image opened on it: what the
 * backend opens at start and again after its client was blocklisted.
 * Every call here may block (network round trips bounded by op_timeout);
 * none of it runs on an event loop.
 *
 * librados and librbd are configured for a SCSI target, whatever the
 * ceph.conf says:
 *  - rbd_cache=false: librbd's write-back cache would hold acknowledged
 *    writes in this process's memory; without it a completed write is on
 *    the OSDs (their acknowledgement means committed), so the LUN has no
 *    volatile write cache to report (SBC-3 caching mode page WCE=0);
 *  - rbd_skip_partial_discard=false: a discard of part of an object
 *    zeroes that part, so unmapped blocks read back as zeroes (LBPRZ=1);
 *  - rbd_discard_on_zeroed_write_same=false: WRITE SAME of zeroes without
 *    UNMAP writes zeroes and leaves the blocks mapped (SBC-3 5.41);
 *  - rados_osd_op_timeout / rados_mon_op_timeout / client_mount_timeout =
 *    op_timeout: librbd cannot cancel one request, so a stalled OSD or
 *    monitor ends each request with -ETIMEDOUT after that long (a status
 *    the initiator retries) instead of holding it for ever;
 *  - errors are not printed on vstord's stderr (one log line per event
 *    is the rule); the reason reaches the log through vs_set_error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbd_int.h"

static int conf_set(rados_t c, const char *key, const char *value)
{
	int r = rados_conf_set(c, key, value);

	if (r < 0)
		vs_set_error("conf: librados refuses %s=%s: %s", key, value, strerror(-r));
	return r;
}

/* Seconds for librados' timeout options, rounded up (0 stays 0: none). */
static void timeout_text(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, (ms + 999) / 1000);
}

static int connect_cluster(const struct rbd_target *t, struct rbd_session *s)
{
	char who[96], secs[32];
	int r;

	snprintf(who, sizeof(who), "client.%s", t->id);
	r = rados_create2(&s->cluster, "ceph", who, 0);
	if (r < 0) {
		s->cluster = NULL;
		vs_set_error("id: librados refuses '%s': %s", who, strerror(-r));
		return r;
	}
	/* before the file, so a ceph.conf may still turn them on */
	if ((r = conf_set(s->cluster, "log_to_stderr", "false")) < 0 ||
	    (r = conf_set(s->cluster, "err_to_stderr", "false")) < 0)
		return r;
	r = rados_conf_read_file(s->cluster, t->conf);
	if (r < 0 && t->conf) {
		vs_set_error("conf: cannot read '%s': %s", t->conf, strerror(-r));
		return r;
	}
	/* no file found in the default places: CEPH_ARGS may still say where
	 * the monitors are, and connecting says if nothing does */
	r = rados_conf_parse_env(s->cluster, NULL);
	if (r < 0) {
		vs_set_error("conf: CEPH_ARGS cannot be parsed: %s", strerror(-r));
		return r;
	}
	if (t->keyring && (r = conf_set(s->cluster, "keyring", t->keyring)) < 0)
		return r;
	timeout_text(t->op_timeout_ms, secs, sizeof(secs));
	if ((r = conf_set(s->cluster, "rados_osd_op_timeout", secs)) < 0 ||
	    (r = conf_set(s->cluster, "rados_mon_op_timeout", secs)) < 0)
		return r;
	if (t->op_timeout_ms && (r = conf_set(s->cluster, "client_mount_timeout", secs)) < 0)
		return r;
	if ((r = conf_set(s->cluster, "rbd_cache", "false")) < 0 ||
	    (r = conf_set(s->cluster, "rbd_skip_partial_discard", "false")) < 0 ||
	    (r = conf_set(s->cluster, "rbd_discard_on_zeroed_write_same", "false")) < 0)
		return r;
	/* no monitors configured: say so (librados would answer -ENOENT, as
	 * for a missing key, after asking DNS on stderr) */
	char mons[256] = "";

	if (rados_conf_get(s->cluster, "mon_host", mons, sizeof(mons)) < 0 || !mons[0]) {
		vs_set_error("conf: no monitors to connect to: mon_host is not set (%s)",
		             t->conf ? t->conf : "no ceph.conf found: $CEPH_CONF, "
		                                 "/etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf");
		return -ENOENT;
	}
	r = rados_connect(s->cluster);
	if (r == -ENOENT && t->keyring)
		vs_set_error("keyring: '%s' holds no key for %s", t->keyring, who);
	else if (r == -ENOENT)
		vs_set_error("keyring: no key for %s found (give keyring=, or keyring in ceph.conf)",
		             who);
	else if (r == -EACCES || r == -EPERM)
		vs_set_error("keyring: the monitors refused %s: %s", who, strerror(-r));
	else if (r == -ETIMEDOUT)
		vs_set_error("conf: no answer from the cluster's monitors as %s within %" PRIu64
		             " ms (op_timeout)", who, t->op_timeout_ms);
	else if (r < 0)
		vs_set_error("conf: cannot connect to the cluster as %s%s%s: %s", who,
		             t->conf ? " with " : "", t->conf ? t->conf : "", strerror(-r));
	if (r < 0)
		return r;
	char *addrs = NULL;

	if (rados_getaddrs(s->cluster, &addrs) == 0 && addrs)
		snprintf(s->addr, sizeof(s->addr), "%s", addrs);
	free(addrs);
	s->instance = rados_get_instance_id(s->cluster);
	return 0;
}

static int open_image(const struct rbd_target *t, const char *name, struct rbd_session *s)
{
	int r = t->readonly ? rbd_open_read_only(s->io, t->image, &s->img, NULL)
	                    : rbd_open(s->io, t->image, &s->img, NULL);

	if (r == -ENOENT && t->create && !t->readonly) {
		rbd_image_options_t opts;

		/* features, order and stripes from the configuration's defaults
		 * (rbd_default_features: layering, exclusive-lock, object-map,
		 * fast-diff, deep-flatten) */
		rbd_image_options_create(&opts);
		r = rbd_create4(s->io, t->image, t->size, opts);
		rbd_image_options_destroy(opts);
		if (r < 0 && r != -EEXIST) {
			vs_set_error("image: cannot create %s of %" PRIu64 " bytes: %s", name, t->size,
			             strerror(-r));
			s->img = NULL;
			return r;
		}
		r = rbd_open(s->io, t->image, &s->img, NULL);
	}
	if (r == -ENOENT)
		vs_set_error("image: %s does not exist%s", name,
		             t->readonly ? "" : " (create=1 with size= creates it)");
	else if (r < 0)
		vs_set_error("image: cannot open %s: %s", name, strerror(-r));
	if (r < 0)
		s->img = NULL;
	return r;
}

/* size= on an existing image: grow a smaller one, never shrink (lose
 * data) because of an open option. */
static int apply_size(const struct rbd_target *t, const char *name, struct rbd_session *s,
                      uint64_t *size)
{
	int r = rbd_get_size(s->img, size);

	if (r < 0) {
		vs_set_error("image: cannot read the size of %s: %s", name, strerror(-r));
		return r;
	}
	if (!t->size || t->size == *size)
		return 0;
	if (t->size < *size) {
		vs_set_error("size: %" PRIu64 " bytes is less than the existing image %s (%" PRIu64
		             " bytes)", t->size, name, *size);
		return -EINVAL;
	}
	if (t->readonly) {
		vs_set_error("size: cannot grow %s on a read-only LUN", name);
		return -EROFS;
	}
	r = rbd_resize2(s->img, t->size, false, NULL, NULL);
	if (r < 0) {
		vs_set_error("size: cannot grow %s to %" PRIu64 " bytes: %s", name, t->size,
		             strerror(-r));
		return r;
	}
	*size = t->size;
	return 0;
}

/*
 * exclusive=1: take the image's exclusive lock and keep it (manual mode:
 * librbd no longer hands it over on request), so a second target on the
 * same image cannot write.  Another owner makes this fail with -EROFS;
 * the message names it.
 */
static int take_lock(const char *name, struct rbd_session *s)
{
	uint64_t features = 0;
	int r = rbd_get_features(s->img, &features);

	if (r < 0) {
		vs_set_error("exclusive: cannot read the features of %s: %s", name, strerror(-r));
		return r;
	}
	if (!(features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		vs_set_error("exclusive: %s has no exclusive-lock feature (rbd feature enable %s "
		             "exclusive-lock), or give exclusive=0 to share it", name, name);
		return -EINVAL;
	}
	r = rbd_lock_acquire(s->img, RBD_LOCK_MODE_EXCLUSIVE);
	if (r == -EROFS || r == -EBUSY) {
		char *owners[4] = { 0 };
		size_t n = 4;
		rbd_lock_mode_t mode;

		if (rbd_lock_get_owners(s->img, &mode, owners, &n) == 0 && n > 0) {
			vs_set_error("exclusive: %s is locked by another client (%s); give exclusive=0 "
			             "to share it", name, owners[0]);
			rbd_lock_get_owners_cleanup(owners, n);
		} else {
			vs_set_error("exclusive: %s is locked by another client; give exclusive=0 to "
			             "share it", name);
		}
		return -EBUSY;
	}
	if (r < 0)
		vs_set_error("exclusive: cannot lock %s: %s", name, strerror(-r));
	return r;
}

int vs_rbd_session_open(const struct rbd_target *t, const char *name, struct rbd_session *s,
                     uint64_t *size, uint32_t *object_size, int efd,
                     void (*on_header)(void *arg), void *arg)
{
	rbd_image_info_t info;
	int r;

	memset(s, 0, sizeof(*s));
	r = connect_cluster(t, s);
	if (r < 0)
		goto fail;
	r = rados_ioctx_create(s->cluster, t->pool, &s->io);
	if (r < 0) {
		s->io = NULL;
		if (r == -ENOENT)
			vs_set_error("pool: '%s' does not exist", t->pool);
		else
			vs_set_error("pool: cannot open '%s': %s", t->pool, strerror(-r));
		goto fail;
	}
	if (t->ns)
		rados_ioctx_set_namespace(s->io, t->ns);
	if ((r = open_image(t, name, s)) < 0 || (r = apply_size(t, name, s, size)) < 0)
		goto fail;
	r = rbd_stat(s->img, &info, sizeof(info));
	if (r < 0) {
		vs_set_error("image: cannot read %s: %s", name, strerror(-r));
		goto fail;
	}
	*object_size = info.obj_size > UINT32_MAX ? UINT32_MAX : (uint32_t)info.obj_size;
	if (t->exclusive && !t->readonly && (r = take_lock(name, s)) < 0)
		goto fail;
	/* completions go to the eventfd; none is started before this */
	r = rbd_set_image_notification(s->img, efd, EVENT_TYPE_EVENTFD);
	if (r < 0) {
		vs_set_error("image: %s: librbd refuses completion notification: %s", name,
		             strerror(-r));
		goto fail;
	}
	/* the header object changes on resize (by anyone): rbd_update_watch
	 * calls back on a librbd thread of its own, where reading the size
	 * again may block */
	r = rbd_update_watch(s->img, &s->watch, on_header, arg);
	if (r < 0) {
		vs_set_error("image: cannot watch the header of %s: %s", name, strerror(-r));
		goto fail;
	}
	s->watching = true;
	return 0;
fail:
	vs_rbd_session_close(s);
	return r;
}

void vs_rbd_session_close(struct rbd_session *s)
{
	if (s->img) {
		/* waits for a running callback; none comes after */
		if (s->watching)
			rbd_update_unwatch(s->img, s->watch);
		/* releases the exclusive lock, if held */
		rbd_close(s->img);
	}
	if (s->io)
		rados_ioctx_destroy(s->io);
	if (s->cluster)
		rados_shutdown(s->cluster);
	memset(s, 0, sizeof(*s));
}

/*
 * A blocklisted client's requests fail with -EBLOCKLISTED (-ESHUTDOWN)
 * until its entry expires or is removed; then the same client is let in
 * again.  Any object will do (a missing one answers -ENOENT).
 */
bool vs_rbd_session_blocklisted(struct rbd_session *s, const char *image)
{
	char oid[128];
	uint64_t sz;
	time_t mtime;

	snprintf(oid, sizeof(oid), "rbd_id.%s", image);
	int r = rados_stat(s->io, oid, &sz, &mtime);

	return r == -ESHUTDOWN || r == -ETIMEDOUT;
}
