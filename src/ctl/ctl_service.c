/* SPDX-License-Identifier: MIT */
/*
 * Services (miniports in another process, vstor/service_host.h) and the
 * control plane.
 *
 * A service attaches its LUNs itself, through the service socket; the
 * host asks the control plane to put each one in its target's port
 * (targets.lun_add below), under the state's lock like every other
 * change, so a LUN number is one LUN whoever adds it.  Such a LUN is
 * listed (lun.list, "backend": "service") and removable (lun.remove) like
 * any, but it is not part of the model: config.save does not write it,
 * since its service brings it back when it runs.  service.list shows
 * every service with its LUNs and whether it is there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_int.h"
#include "vstor/port.h"
#include "vstor/service_host.h"

/* Lock the state and find target iqn; on -1 (none) the lock is released
 * and err says so. */
static ssize_t lock_target(struct vs_ctl_state *st, const char *iqn, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->cfg->ntargets; i++)
		if (strcasecmp(st->cfg->targets[i].iqn, iqn) == 0)
			return (ssize_t)i;
	pthread_mutex_unlock(&st->lock);
	snprintf(err, errlen, "target: no target %s (see vstorctl target list)", iqn);
	return -1;
}

static int svc_lun_add(void *ctx, const char *iqn, const struct vs_miniport *mp,
                       const void *adapter_config, uint64_t lun, const void *lun_config,
                       char *err, size_t errlen)
{
	struct vs_ctl_state *st = ctx;
	ssize_t ti;
	int rc;

	ti = lock_target(st, iqn, err, errlen);
	if (ti < 0)
		return -ENOENT;
	if (vs_ctl_find_lun(&st->cfg->targets[ti], lun) >= 0) {
		pthread_mutex_unlock(&st->lock);
		snprintf(err, errlen, "lun: LUN %" PRIu64 " of %s is a configured LUN", lun, iqn);
		return -EEXIST;
	}
	struct ctl_target_rt *rt = &st->rt[ti];
	if (!rt->services) {
		rc = vs_port_miniport_add(rt->port, mp, adapter_config);
		if (rc < 0 && rc != -EEXIST) {
			snprintf(err, errlen, "%s", vs_last_error());
			pthread_mutex_unlock(&st->lock);
			return rc;
		}
		rt->services = true;
	}
	rc = vs_port_lun_add_to(rt->port, mp, lun, lun_config);
	if (rc < 0)
		snprintf(err, errlen, "%s", vs_last_error());
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int svc_lun_remove(void *ctx, const char *iqn, uint64_t lun, bool force, char *err,
                          size_t errlen)
{
	struct vs_ctl_state *st = ctx;
	ssize_t ti;
	int rc;

	ti = lock_target(st, iqn, err, errlen);
	if (ti < 0)
		return -ENOENT;
	rc = vs_port_lun_remove(st->rt[ti].port, lun, force);
	if (rc < 0)
		snprintf(err, errlen, "%s", vs_last_error());
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static const struct vs_svc_host_targets svc_targets = {
	.lun_add = svc_lun_add,
	.lun_remove = svc_lun_remove,
};

int vs_ctl_state_attach_services(struct vs_ctl_state *st, struct vs_svc_host *host,
                                 struct vs_loop_group *loops, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	st->svc = host;
	pthread_mutex_unlock(&st->lock);
	return vs_svc_host_start(host, loops, &svc_targets, st, err, errlen);
}

static int by_lun(const void *a, const void *b)
{
	const struct vs_svc_lun_info *x = a, *y = b;

	return x->lun < y->lun ? -1 : x->lun > y->lun;
}

/* Every service LUN now, in LUN order (st->lock held); NULL with *n 0 when
 * none or out of memory. */
struct vs_svc_lun_info *vs_ctl_service_luns(struct vs_ctl_state *st, size_t *n)
{
	size_t cap = 64;
	struct vs_svc_lun_info *v = NULL;

	*n = 0;
	if (!st->svc)
		return NULL;
	for (;;) {
		free(v);
		v = calloc(cap, sizeof(*v));
		if (!v)
			return NULL;
		*n = vs_svc_host_luns(st->svc, v, cap);
		if (*n <= cap) {
			qsort(v, *n, sizeof(*v), by_lun);
			return v;
		}
		cap = *n + 16;
	}
}

json_t *vs_ctl_service_lun_json(const struct vs_svc_lun_info *l)
{
	char human[32];

	char stack[96];
	const char *state = l->state == VS_SVC_CONNECTED ? "connected" : "service away";

	vs_ctl_human_size(l->size_bytes, human, sizeof(human));
	snprintf(stack, sizeof(stack), "service:%s", l->service);
	return json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:i,s:b,s:i,s:s,s:s,s:s}", "target", l->target,
	                 "lun", (json_int_t)l->lun, "backend", "service", "service", l->service,
	                 "stack", stack, "size", (json_int_t)l->size_bytes, "size_human", human,
	                 "block_size", (int)l->block_size, "readonly", l->readonly,
	                 "peripheral_type", (int)l->peripheral_type, "description", l->description,
	                 "state", state, "state_human", state);
}

json_t *vs_ctl_service_list(struct ctl_call *c)
{
	static const char *const keys[] = { NULL };
	struct vs_ctl_state *st = c->st;
	struct vs_svc_info *v = NULL;
	struct vs_svc_lun_info *luns;
	size_t n = 0, nl = 0, cap = 16;
	json_t *arr;

	if (vs_ctl_check_keys(c, keys) < 0)
		return NULL;
	arr = json_array();
	if (!arr)
		return NULL;
	if (!st->svc)
		return json_pack("{s:o,s:n}", "services", arr, "socket");
	for (;;) {
		free(v);
		v = calloc(cap, sizeof(*v));
		if (!v) {
			json_decref(arr);
			return NULL;
		}
		n = vs_svc_host_services(st->svc, v, cap);
		if (n <= cap)
			break;
		cap = n + 8;
	}
	luns = vs_ctl_service_luns(st, &nl);
	for (size_t i = 0; i < n; i++) {
		json_t *ln = json_array();
		json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:i,s:I,s:i,s:I,s:I,s:I,s:I,s:I}", "name", v[i].name,
		                      "target", v[i].target, "state",
		                      v[i].state == VS_SVC_CONNECTED ? "connected" : "gone", "pid",
		                      (int)v[i].pid, "uid", (int)v[i].uid, "since",
		                      (json_int_t)v[i].since, "in_flight", (int)v[i].in_flight,
		                      "commands", (json_int_t)v[i].commands, "bytes_shared",
		                      (json_int_t)v[i].bytes_shared, "bytes_copied",
		                      (json_int_t)v[i].bytes_copied, "bytes_lent",
		                      (json_int_t)v[i].bytes_lent, "data_bytes",
		                      (json_int_t)v[i].data_bytes);

		for (size_t k = 0; ln && k < nl; k++)
			if (strcmp(luns[k].service, v[i].name) == 0 &&
			    strcmp(luns[k].target, v[i].target) == 0)
				json_array_append_new(ln, json_integer((json_int_t)luns[k].lun));
		if (!o || !ln) {
			json_decref(o);
			json_decref(ln);
			json_decref(arr);
			free(v);
			free(luns);
			return NULL;
		}
		json_object_set_new(o, "luns", ln);
		if (v[i].why[0])
			json_object_set_new(o, "why", json_string(v[i].why));
		json_array_append_new(arr, o);
	}
	free(v);
	free(luns);
	return json_pack("{s:o,s:s}", "services", arr, "socket", vs_svc_host_socket(st->svc));
}
