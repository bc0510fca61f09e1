/* SPDX-License-Identifier: MIT */
/* Inside the control plane: the running state and one call's context. */
#ifndef VSTOR_CTL_INT_H
#define VSTOR_CTL_INT_H

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

#include "ctl.h"
#include "vstor/bdev.h"

/* Runtime half of a target; rt[i] belongs to cfg->targets[i]. */
struct ctl_target_rt {
	struct vs_port *port;
	bool registered;        /* known to the fabric */
	bool services;          /* the service proxy is registered with the port */
};

struct vs_ctl_state {
	pthread_mutex_t lock;
	/* The running model: what config.save writes.  Updated only after a
	 * change took effect, so a failed change leaves it as it was. */
	struct vs_config *cfg;
	struct ctl_target_rt *rt;
	size_t rt_cap;          /* capacity of rt and cfg->targets */
	struct vs_iscsi *is;    /* NULL: no fabric (unit tests) */
	struct vs_nbd *nbd;     /* NULL: no NBD fabric (ctl_nbd.c) */
	char *config_path;      /* vstord -c FILE; NULL: none */
	struct vs_loop_group *loops;    /* for block stacks; may be NULL */
	struct vs_svc_host *svc;        /* services' LUNs (ctl_service.c); may be NULL */
	/* config.reload: what the daemon's command line changed in the file
	 * at start (--listen, --threads), applied to the reloaded file too */
	int (*reload_adjust)(void *ctx, struct vs_config *cfg, char *err, size_t errlen);
	void *reload_adjust_ctx;
};

/* One request being handled. */
struct ctl_call {
	struct vs_ctl_state *st;
	const char *method;
	json_t *params;         /* an object, never NULL */
	int code;               /* on failure */
	char msg[VS_CTL_MSG_MAX];
};

typedef json_t *(*ctl_method_fn)(struct ctl_call *c);

/* A request that passed the shape checks; root owns the rest. */
struct ctl_request {
	json_t *root;
	json_t *id;             /* NULL if absent */
	const char *method;
	json_t *params;         /* NULL if absent */
};
/* 0 (free out->root with json_decref), or -1 with *reply the error line. */
int vs_ctl_parse_request(const char *req, size_t len, struct ctl_request *out, char **reply);

/* Record an error (one line) and return NULL, for `return vs_ctl_fail(...)`. */
json_t *vs_ctl_fail(struct ctl_call *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Return -1 after recording an error: for the param helpers. */
int vs_ctl_bad(struct ctl_call *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- params (ctl_params.c): each returns 0, or -1 with the error set
 * ("params.KEY: ..."); an absent optional key leaves *out untouched. */
int vs_ctl_check_keys(struct ctl_call *c, const char *const *allowed);
int vs_ctl_param_str(struct ctl_call *c, const char *key, bool required, size_t maxlen,
                  const char **out);
int vs_ctl_param_bool(struct ctl_call *c, const char *key, bool *out);
int vs_ctl_param_lun(struct ctl_call *c, const char *key, bool required, bool *present,
                  uint64_t *out);
int vs_ctl_param_size(struct ctl_call *c, const char *key, bool required, uint64_t *out);
int vs_ctl_param_iqn(struct ctl_call *c, const char *key, bool required, const char **out);
/* A path given over the socket must be absolute: vstord's working
 * directory is not the client's, and a relative path saved by config.save
 * would name another file after a restart elsewhere.  NULL passes. */
int vs_ctl_check_abs_path(struct ctl_call *c, const char *key, const char *path);
/* config.save / config.reload: params.path (absolute), or the -c file. */
int vs_ctl_param_config_path(struct ctl_call *c, const char **path);
/* params.target → index of an existing target (NOT_FOUND if none). */
int vs_ctl_find_target(struct ctl_call *c, const char *key, size_t *index);
/* Index of the LUN in the target's model, or -1. */
ssize_t vs_ctl_find_lun(const struct vs_config_target *t, uint64_t lun);

/* ---- a LUN's stack in the block layer's pre-order (ctl_stack.c) */
#define CTL_FIELD_MAX       128
#define BDEV_CTL_MAX_LAYERS 32   /* the block layer's limit per stack */

struct ctl_layer {
	size_t index;                   /* pre-order, 0 = the top */
	int kind;                       /* VS_LAYER_* */
	const char *name;               /* its type */
	struct vs_config_kv **kv;       /* its options in the model */
	size_t *n;
	bool lun_backend;               /* the LUN's own backend (options on the LUN, or
	                                 * under "options") */
	struct vs_config_volume *volume;        /* a volume: its model */
	char obj[CTL_FIELD_MAX];        /* where its options sit: "", "filters[0]", "volume",
	                                 * "volume.legs[1]" ... */
	char self[CTL_FIELD_MAX];       /* the layer: "backend", "filters[0]", "volume",
	                                 * "volume.legs[1].backend" ... */
};
/* fn for every layer of st (a LUN's stack if lun) in pre-order; stops at
 * the first nonzero return, which it returns. */
int  vs_ctl_stack_walk(struct vs_config_stack *st, bool lun,
                    int (*fn)(void *ctx, struct ctl_layer *l), void *ctx);
bool vs_ctl_stack_layer(struct vs_config_stack *st, bool lun, size_t index, struct ctl_layer *out);
/* The field path of option `key` of layer l ("path", "options.path",
 * "filters[0].iops", "volume.legs[1].path"). */
void vs_ctl_layer_option_field(const struct ctl_layer *l, const char *key, bool in_options,
                            char *out, size_t len);
/* The block layer's description of a stack (valid while the model is
 * unchanged); NULL when out of memory. */
struct ctl_desc {
	struct vs_bdev_desc top;
	void *priv;
};
struct ctl_desc *vs_ctl_stack_desc(const struct vs_config_stack *st);
void vs_ctl_stack_desc_free(struct ctl_desc *cd);

/* ---- state helpers (ctl_state.c) */
/* Make room for one more target in cfg->targets and rt (no state change). */
int vs_ctl_reserve_target(struct vs_ctl_state *st);
/* Open the LUN's block stack and attach the LUN to the port of target
 * iqn; on success l->bdev is the open stack (the LUN owns it) and options
 * the layers learned are in the model.  On failure, err is the raw reason
 * ("OPTION: ..." of layer *failed_layer, counted from the top; -1: the
 * LUN's own, e.g. the port's message). */
int vs_ctl_lun_attach(struct vs_ctl_state *st, struct vs_port *port, const char *iqn,
                   struct vs_config_lun *l, uint64_t *bytes, int *failed_layer, char *err,
                   size_t errlen);
/* What the layers of st (numbered from `base` in bdev) learned at open,
 * into the model.  0 or -ENOMEM. */
int vs_ctl_stack_learn(struct vs_bdev *bdev, struct vs_config_stack *st, bool lun, size_t base);
/* Which field of a LUN's description an attach error (err and layer above)
 * is about: "path", "options.KEY", "filters[1].iops", "backend" ...;
 * *rest is the message after it. */
const char *vs_ctl_lun_error_field(const struct vs_config_lun *l, int layer, const char *why,
                                char *field, size_t len, const char **rest);
/* vs_vdisk_lun_config.on_event: one log line per resource state change
 * (ctx: the target's IQN). */
struct vs_bdev_event;
void vs_ctl_lun_event(void *ctx, uint64_t lun, const struct vs_bdev_event *ev);
struct vs_port *vs_ctl_port_create(const char *iqn);
/* A block stack's state (enum vs_bdev_state) as lun.list and the metrics
 * name it: "connected", "reconnecting", "failed". */
const char *vs_ctl_bdev_state_name(int state);
#define CTL_BDEV_STATES 3
/* Sessions logged in to target iqn (0 without a fabric). */
size_t vs_ctl_sessions_on(struct vs_ctl_state *st, const char *iqn);
/* "1 GiB" / "512 MiB" / "1000 bytes": exact, for messages. */
char *vs_ctl_strdup(const char *s);  /* NULL stays NULL */

/* ---- methods */
json_t *vs_ctl_target_add(struct ctl_call *c);
json_t *vs_ctl_target_remove(struct ctl_call *c);
json_t *vs_ctl_target_list(struct ctl_call *c);
json_t *vs_ctl_acl_add(struct ctl_call *c);
json_t *vs_ctl_acl_remove(struct ctl_call *c);
json_t *vs_ctl_acl_list(struct ctl_call *c);
json_t *vs_ctl_chap_set(struct ctl_call *c);
json_t *vs_ctl_chap_clear(struct ctl_call *c);
json_t *vs_ctl_lun_add(struct ctl_call *c);
json_t *vs_ctl_lun_remove(struct ctl_call *c);
json_t *vs_ctl_lun_resize(struct ctl_call *c);
json_t *vs_ctl_lun_list(struct ctl_call *c);
json_t *vs_ctl_lun_set_options(struct ctl_call *c);
json_t *vs_ctl_lun_replace_leg(struct ctl_call *c);
json_t *vs_ctl_layer_list(struct ctl_call *c);
json_t *vs_ctl_session_list(struct ctl_call *c);
json_t *vs_ctl_stats(struct ctl_call *c);
json_t *vs_ctl_config_save(struct ctl_call *c);
json_t *vs_ctl_config_reload(struct ctl_call *c);
json_t *vs_ctl_service_list(struct ctl_call *c);

/* ---- services (ctl_service.c) */
struct vs_svc_lun_info;
/* Every service LUN now, in LUN order (malloc'd, *n of them; NULL when none). */
struct vs_svc_lun_info *vs_ctl_service_luns(struct vs_ctl_state *st, size_t *n);
json_t *vs_ctl_service_lun_json(const struct vs_svc_lun_info *l);

/* ---- NBD (ctl_nbd.c) */
json_t *vs_ctl_export_add(struct ctl_call *c);
json_t *vs_ctl_export_remove(struct ctl_call *c);
json_t *vs_ctl_export_list(struct ctl_call *c);
/* session.list's "nbd_sessions" */
json_t *vs_ctl_nbd_sessions(struct vs_ctl_state *st);
/* An NBD export serves target iqn (LUN lun; lun < 0: any): BUSY error set. */
bool vs_ctl_nbd_in_use(struct ctl_call *c, const char *iqn, int64_t lun);

#endif
