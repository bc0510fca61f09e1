/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration model and its JSON file format.
 *
 * vstord loads it at start-up; the control plane (vstorctl, "config save")
 * writes the same format back with vs_config_save(), so the model keeps
 * every field the file can hold.  Loading validates everything the daemon
 * would otherwise trip over later (names, sizes, portals, duplicates) and
 * reports the first problem as ONE line:
 *
 *     config.json: targets[0].luns[1].block_size: must be 512 or 4096, got 1000
 *
 * Unknown keys are refused, so a typo is never silently ignored.
 */
#ifndef VSTOR_CTL_CONFIG_H
#define VSTOR_CTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VS_CONFIG_DEFAULT_PORTAL "127.0.0.1:3260"
#define VS_CONFIG_DEFAULT_IQN    "iqn.2026-11.org.vstor:default"
#define VS_CONFIG_DEFAULT_SIZE   (1ULL << 30)
#define VS_CONFIG_DEFAULT_METRICS "127.0.0.1:9750"
#define VS_CONFIG_ERR_MAX        512
/* RFC 7143 §4.2.7.1: an iSCSI name is at most 223 bytes. */
#define VS_ISCSI_NAME_MAX        223
/* Our cap on CHAP user names and secrets (the login layer keeps 255 bytes). */
#define VS_CHAP_FIELD_MAX        255
/*
 * LUN numbers 0..VS_CONFIG_MAX_LUN.  SAM-5's flat space format would allow
 * 16383, but the vdisk miniport has 1024 LUN slots, and a number it cannot
 * serve must be refused by name before anything is opened (test_ctl checks
 * that this and vdisk agree).
 */
#define VS_CONFIG_MAX_LUN        1023
#define VS_CONFIG_MAX_LUN_STR    "1023"
/* Filters in one LUN's stack. */
#define VS_CONFIG_MAX_FILTERS    8

/* CHAP credentials (RFC 7143 §12.1.3).  All NULL = no CHAP. */
struct vs_config_chap {
	char *user, *secret;                 /* the initiator proves itself */
	char *mutual_user, *mutual_secret;   /* the target proves itself; both or neither */
};

/* iSCSI operational limits we offer (RFC 7143 §13) and the fabric's
 * protection limits; 0 = fabric default (struct vs_iscsi_config). */
struct vs_config_iscsi {
	uint32_t max_recv_data_segment_length;
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t queue_depth;
	uint32_t nop_interval_ms;
	uint32_t nop_timeout_ms;
	uint32_t max_outstanding_r2t;
	uint32_t max_connections;
	uint32_t max_sessions;
	uint32_t login_timeout_ms;
	uint32_t poll_us;       /* 0 = default; VS_ISCSI_POLL_OFF = "poll_us": 0 */
	uint32_t max_login_connections;
	uint32_t max_logins_per_source;
	uint32_t reserved_sessions;     /* 0 = default; VS_ISCSI_RESERVED_NONE = "reserved_sessions": 0 */
	uint32_t max_discovery_sessions;
	uint32_t discovery_idle_ms;
};

/* One option of a layer of a LUN's block stack, as text (the layer's
 * schema says its type).  in_options: it came from the LUN's legacy
 * "options" object and is written back there. */
struct vs_config_kv {
	char *key, *value;
	bool in_options;
	/* found out by the layer at open (vs_bdev_layer_learned), not given:
	 * config.save writes it, config.reload does not count it as a change
	 * when the new file leaves it out */
	bool learned;
};

/* A filter of a LUN's stack: "filters": [{"name": "crypt", "key_file": ...}] */
struct vs_config_layer {
	char *name;
	struct vs_config_kv *opts;
	size_t nopts;
};

struct vs_bdev;
struct vs_config_volume;

/*
 * A block stack as the config describes it: filters (first = closest to
 * the disk) over either one backend with its options, or a volume over
 * several such stacks (its legs).  A LUN's stack and each leg of a volume
 * have this one shape:
 *
 *   { "backend": "file", "path": "/a.img", "filters": [ ... ] }
 *   { "volume": { "type": "mirror", "meta": "/m.map",
 *                 "legs": [ { "backend": "file", "path": "/a.img" },
 *                           { "backend": "nbd", "uri": "nbd://h/x" } ] },
 *     "filters": [ ... ] }
 */
struct vs_config_stack {
	char *backend;          /* the backend's type name; NULL over a volume */
	struct vs_config_kv *options;   /* the backend's options */
	size_t noptions;
	struct vs_config_layer *filters;
	size_t nfilters;
	struct vs_config_volume *volume;        /* NULL over a backend */
};

/* A volume: a filter over several legs ("type" names it; its options sit
 * beside "type" and "legs"). */
struct vs_config_volume {
	char *type;
	struct vs_config_kv *opts;
	size_t nopts;
	struct vs_config_stack *legs;
	size_t nlegs;
};

/* Volumes inside volumes (a stripe of mirrors): at most this deep. */
#define VS_CONFIG_MAX_VOLUME_DEPTH 3

/*
 * A LUN: the disk's own fields (vdisk) and its block stack.  Which options
 * a backend or filter takes, and their types, come from the layer's own
 * schema (vstor/bdev.h); nothing here knows a backend or filter by name.
 * By convention a backend option called "size" is the capacity.  The
 * stack's fields are reachable by name (l->backend, l->filters, ...) and
 * as one struct (l->stack) for the code a LUN shares with a volume's legs.
 */
struct vs_config_lun {
	uint64_t lun;
	union {
		struct vs_config_stack stack;
		struct {
			char *backend;
			struct vs_config_kv *options;
			size_t noptions;
			struct vs_config_layer *filters;
			size_t nfilters;
			struct vs_config_volume *volume;
		};
	};
	uint32_t block_size;    /* 512 or 4096 */
	bool readonly;
	char *serial;           /* VPD 0x80; NULL = derived */
	bool removable;         /* vdisk: removable medium (RMB=1) */
	uint32_t physical_block_size;   /* vdisk: 0 = block_size */
	/* runtime, never saved: the open stack while the LUN is attached (the
	 * LUN owns it; the control plane borrows it for state and run-time
	 * options) */
	struct vs_bdev *bdev;
};

/* The value of a backend option of the LUN, or NULL. */
const char *vs_config_lun_opt(const struct vs_config_lun *l, const char *key);
/* Set (add or replace) a backend option; 0 or -ENOMEM. */
int vs_config_lun_set_opt(struct vs_config_lun *l, const char *key, const char *value);
/* Add an option to a list unless the key is there; 0 or -ENOMEM. */
int vs_config_kv_add(struct vs_config_kv **kv, size_t *n, const char *key, const char *value,
                     bool in_options);
/* Add or replace; 0 or -ENOMEM. */
int vs_config_kv_set(struct vs_config_kv **kv, size_t *n, const char *key, const char *value);
void vs_config_kv_free(struct vs_config_kv *kv, size_t n);

struct vs_config_target {
	char *iqn;
	char *alias;            /* NULL if not given */
	char **portals;         /* this target's own portals; none = the daemon's */
	size_t nportals;
	char **acl;             /* initiator names; none = everyone */
	size_t nacl;
	bool has_chap;
	struct vs_config_chap chap;
	struct vs_config_lun *luns;
	size_t nluns;
};

/* The NBD fabric's section, "nbd" (config_nbd.c); NULL: no NBD server. */
struct vs_config_nbd;

struct vs_config {
	char **portals;         /* "ADDR:PORT" / "[v6]:PORT" */
	size_t nportals;
	uint32_t threads;       /* event loops; 0 = one per CPU */
	struct vs_config_iscsi iscsi;
	bool has_discovery_chap;
	struct vs_config_chap discovery_chap;
	struct vs_config_target *targets;
	size_t ntargets;
	struct vs_config_nbd *nbd;
	/* "metrics": {"listen": "ADDR:PORT"}: the Prometheus endpoint; NULL:
	 * none (opt-in).  "metrics": {} listens on VS_CONFIG_DEFAULT_METRICS. */
	char *metrics_listen;
	/* "force_remove": ["IQN", "IQN/LUN"]: what a reload of this file may
	 * remove (or replace) while initiators use it — a whole target with
	 * its sessions, or one LUN.  Read, never saved: it is an instruction
	 * for one reload, not state. */
	char **force_remove;
	size_t nforce_remove;
};

/*
 * Load a config.  On success *out is a new model (free with
 * vs_config_free) and 0 is returned.  On failure, a negative errno and one
 * line in err ("FILE: FIELD: what is wrong", or "FILE:LINE:COL: ..." for
 * JSON syntax errors).  `name` is the file name used in messages.
 */
int vs_config_load_file(const char *path, struct vs_config **out, char *err, size_t errlen);
int vs_config_load_buffer(const char *name, const char *buf, size_t len,
                          struct vs_config **out, char *err, size_t errlen);

/* The built-in configuration: VS_CONFIG_DEFAULT_IQN on
 * VS_CONFIG_DEFAULT_PORTAL, LUN 0 a VS_CONFIG_DEFAULT_SIZE disk with
 * 512-byte blocks from `backend` (its "size" option set to that; the
 * daemon decides which backend, e.g. ram). */
struct vs_config *vs_config_default(const char *backend);

/* Write the model in the file format (pretty-printed JSON, only fields that
 * differ from their defaults).  Returns 0 or -errno. */
int vs_config_save(FILE *f, const struct vs_config *cfg);

void vs_config_free(struct vs_config *cfg);
/* Free what one element owns (not the element itself) and zero it. */
void vs_config_chap_free(struct vs_config_chap *c);
void vs_config_lun_free(struct vs_config_lun *l);
void vs_config_stack_free(struct vs_config_stack *s);
void vs_config_target_free(struct vs_config_target *t);

/*
 * Validate one JSON object with exactly the rules the file loader applies
 * to a LUN (targets[].luns[]) or a CHAP block, for the control plane.  On
 * failure: -EINVAL and one line "PATH.FIELD: what is wrong" in err (no file
 * name), *out left empty.  `obj` is a jansson json_t.
 */
struct json_t;
/* "an object", "a string", ...: how error lines name a JSON value's type */
const char *vs_config_json_type(const struct json_t *v);

int vs_config_parse_lun(struct json_t *obj, const char *path, struct vs_config_lun *out,
                        char *err, size_t errlen);
/* One leg of a volume ({"backend": ..., ...} or {"volume": ...}), by the
 * loader's rules; errors name PATH.FIELD. */
int vs_config_parse_leg(struct json_t *obj, const char *path, struct vs_config_stack *out,
                        char *err, size_t errlen);
int vs_config_parse_chap(struct json_t *obj, const char *path, struct vs_config_chap *out,
                         char *err, size_t errlen);
/* A portal list (targets[].portals): an array of at least one valid,
 * distinct ADDR:PORT.  On failure *out is NULL and *n 0. */
int vs_config_parse_portals(struct json_t *arr, const char *path, char ***out, size_t *n,
                            char *err, size_t errlen);
void vs_config_names_free(char **names, size_t n);

/* A LUN as the file writes it (what config.save puts in targets[].luns[]);
 * a jansson json_t, NULL when out of memory. */
struct json_t *vs_config_lun_json(const struct vs_config_lun *l);

/* Replace the portal list (e.g. --listen).  0 or -errno with err set. */
int vs_config_set_portals(struct vs_config *cfg, const char *const *portals, size_t n,
                          char *err, size_t errlen);

/* Validators shared with the control plane.  Each returns true, or false
 * with a short reason in why (no field name, e.g. "month must be 01-12"). */
bool vs_iscsi_name_valid(const char *name, char *why, size_t whylen);
bool vs_portal_valid(const char *addr_port, char *why, size_t whylen);

/* ---- the "nbd" section (config_nbd.c) ---- */
#define VS_CONFIG_NBD_DEFAULT_PORTAL "127.0.0.1:10809"
struct vs_config_nbd_export {
	char *name;             /* the NBD export name */
	char *target;           /* the target (IQN) whose LUN it serves */
	uint64_t lun;
	char *description;      /* NULL if not given */
	char **acl;             /* ADDR, ADDR/PREFIX, tls:IDENTITY; none = everyone */
	size_t nacl;
	bool no_multi_conn;     /* "multi_conn": false */
};
struct vs_config_nbd {
	char **portals;
	size_t nportals;
	uint32_t queue_depth, max_payload, max_connections, handshake_timeout_ms; /* 0: default */
	uint32_t poll_us;       /* 0: default; VS_NBD_POLL_OFF: "poll_us": 0 */
	int tls_mode;           /* enum vs_nbd_tls_mode */
	char *tls_cert, *tls_key, *tls_ca, *tls_psk_file;
	struct vs_config_nbd_export *exports;
	size_t nexports;
};
struct json_t;
/* "nbd" of the file: checked against cfg's targets and LUNs (load them
 * first).  `file` prefixes errors (NULL: none).  0 or -EINVAL with err. */
int  vs_config_nbd_load(struct json_t *obj, const char *file, const struct vs_config *cfg,
                        struct vs_config_nbd **out, char *err, size_t errlen);
/* One export object as exports[] takes it (the control plane: path
 * "params"); its target and LUN must exist in cfg and its name be new. */
int  vs_config_nbd_parse_export(struct json_t *obj, const char *path, const struct vs_config *cfg,
                                struct vs_config_nbd_export *out, char *err, size_t errlen);
/* Relative TLS file names are taken from the config file's directory. */
int  vs_config_nbd_resolve_paths(struct vs_config_nbd *nbd, const char *config_file, char *err,
                                 size_t errlen);
struct json_t *vs_config_nbd_json(const struct vs_config_nbd *nbd, bool *oom);
/* An export of the model using target iqn (and lun, unless lun < 0), or NULL. */
const struct vs_config_nbd_export *vs_config_nbd_user(const struct vs_config *cfg, const char *iqn,
                                                      int64_t lun);
void vs_config_nbd_export_free(struct vs_config_nbd_export *e);
void vs_config_nbd_free(struct vs_config_nbd *nbd);

/* "1G" / "1536M" / "4096" style rendering of a byte count (exact). */
void vs_config_format_size(uint64_t bytes, char *buf, size_t len);

#endif
