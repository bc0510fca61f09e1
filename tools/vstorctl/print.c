/* SPDX-License-Identifier: MIT */
/*
 * Plain-text tables for people; --json prints the raw result for scripts.
 * Columns are as wide as their widest cell.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define MAX_COLS 14

struct table {
	size_t ncols, nrows;
	char ***cells;          /* rows × ncols, row 0 = header */
	size_t width[MAX_COLS];
};

static void table_init(struct table *t, const char *const *header, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	char *row[MAX_COLS];
	for (size_t i = 0; i < ncols; i++)
		row[i] = (char *)header[i];
	t->cells = calloc(1, sizeof(char **));
	if (!t->cells)
		return;
	t->cells[0] = calloc(ncols, sizeof(char *));
	for (size_t i = 0; t->cells[0] && i < ncols; i++) {
		t->cells[0][i] = strdup(row[i]);
		t->width[i] = strlen(row[i]);
	}
	t->nrows = 1;
}

/* Add a row of already formatted cells. */
static void table_row(struct table *t, char *const *cells)
{
	char ***rows = realloc(t->cells, (t->nrows + 1) * sizeof(char **));
	if (!rows)
		return;
	t->cells = rows;
	char **r = calloc(t->ncols, sizeof(char *));
	if (!r)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		r[i] = strdup(cells[i] ? cells[i] : "-");
		if (r[i] && strlen(r[i]) > t->width[i])
			t->width[i] = strlen(r[i]);
	}
	t->cells[t->nrows++] = r;
}

static void table_print_free(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		if (!t->cells[r])
			continue;
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r][c] ? t->cells[r][c] : "";
			if (c + 1 == t->ncols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)t->width[c], s);
			free(t->cells[r][c]);
		}
		free(t->cells[r]);
	}
	free(t->cells);
}

static char *fmt_int(json_t *v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return strdup(buf);
}

static char *fmt_any(json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v))
		return fmt_int(v);
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "yes" : "no");
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Rows from an array of objects: one column per key. */
static void print_array(json_t *arr, const char *const *header, const char *const *keys,
                        size_t ncols, const char *empty)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		printf("%s\n", empty);
		return;
	}
	struct table t;
	table_init(&t, header, ncols);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char *cells[MAX_COLS];
		for (size_t c = 0; c < ncols; c++) {
			const char *k = keys[c];
			json_t *v;
			/* "a.b": a field of a nested object */
			const char *dot = strchr(k, '.');
			if (dot) {
				char outer[32];
				snprintf(outer, sizeof(outer), "%.*s", (int)(dot - k), k);
				v = json_object_get(json_object_get(o, outer), dot + 1);
			} else {
				v = json_object_get(o, k);
			}
			cells[c] = fmt_any(v);
		}
		table_row(&t, cells);
		for (size_t c = 0; c < ncols; c++)
			free(cells[c]);
	}
	table_print_free(&t);
}

/* "a,b" from ["a","b"], then " (default)" when the target has none of its
 * own and these are the daemon's. */
static json_t *portals_cell(json_t *portals, bool is_default)
{
	char buf[1024] = "";
	size_t i;
	json_t *p;
	json_array_foreach(portals, i, p) {
		size_t used = strlen(buf);
		snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "," : "", json_string_value(p));
	}
	if (is_default) {
		size_t used = strlen(buf);
		snprintf(buf + used, sizeof(buf) - used, " (default)");
	}
	return json_string(buf);
}

void vsc_print_targets(json_t *r)
{
	static const char *const h[] = { "IQN", "ALIAS", "PORTALS", "LUNS", "ACL", "CHAP", "MUTUAL",
		                          "SESSIONS" };
	static const char *const k[] = { "iqn", "alias", "portals", "luns", "acl", "chap",
		                          "mutual_chap", "sessions" };
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(r, "targets"), i, o) {
		/* An empty ACL means "everyone": say it rather than print []. */
		json_t *acl = json_object_get(o, "acl");
		if (json_is_array(acl) && json_array_size(acl) == 0)
			json_object_set_new(o, "acl", json_string("all"));
		else if (json_is_array(acl))
			json_object_set_new(o, "acl", json_integer((json_int_t)json_array_size(acl)));
		json_object_set_new(o, "portals",
		                    portals_cell(json_object_get(o, "portals"),
		                                 json_is_true(json_object_get(o, "default_portals"))));
	}
	print_array(json_object_get(r, "targets"), h, k, 8, "no targets");
}

/* Under the table, the layers with a state of their own (a mirror's):
 *   iqn... LUN 0 volume (mirror): degraded
 *     leg0: in sync
 *     leg1: degraded since 10:12:03 (Input/output error), 12 regions behind */
static void print_layer_states(json_t *arr)
{
	size_t i, j;
	json_t *lun, *layer;

	json_array_foreach(arr, i, lun) {
		json_array_foreach(json_object_get(lun, "layers"), j, layer) {
			const char *key;
			json_t *v;

			printf("%s LUN %" JSON_INTEGER_FORMAT " %s (%s): %s\n",
			       json_string_value(json_object_get(lun, "target")),
			       json_integer_value(json_object_get(lun, "lun")),
			       json_string_value(json_object_get(layer, "layer")),
			       json_string_value(json_object_get(layer, "type")),
			       json_string_value(json_object_get(layer, "state")));
			json_object_foreach(layer, key, v) {
				if (!strcmp(key, "layer") || !strcmp(key, "type") || !strcmp(key, "state"))
					continue;
				printf("  %s: %s\n", key, json_string_value(v));
			}
		}
	}
}

void vsc_print_luns(json_t *r)
{
	static const char *const h[] = { "TARGET", "LUN", "STACK", "SIZE", "BLOCK", "RO",
		                          "STATE", "SERIAL", "PATH" };
	static const char *const k[] = { "target", "lun", "stack", "size_human", "block_size",
		                          "readonly", "state_human", "serial", "path" };
	json_t *arr = json_object_get(r, "luns");
	if (!arr) {     /* lun.add answers with the one LUN */
		arr = json_array();
		json_array_append(arr, r);
		print_array(arr, h, k, 9, "no LUNs");
		print_layer_states(arr);
		json_decref(arr);
		return;
	}
	print_array(arr, h, k, 9, "no LUNs");
	print_layer_states(arr);
}

void vsc_print_acl(json_t *r)
{
	json_t *acl = json_object_get(r, "acl");
	const char *iqn = json_string_value(json_object_get(r, "target"));
	if (!json_is_array(acl) || json_array_size(acl) == 0) {
		printf("%s: ACL empty: every initiator may log in\n", iqn ? iqn : "?");
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(acl, i, v)
		printf("%s\n", json_string_value(v));
}

void vsc_print_sessions(json_t *r)
{
	/* The negotiated parameters (RFC 7143 §13): digests, what each side
	 * receives per PDU (RECVDSL: the target, XMITDSL: the initiator), burst
	 * lengths, ImmediateData, InitialR2T. */
	static const char *const h[] = { "TARGET", "INITIATOR", "ISID", "TSIH", "CONNS", "PEER",
		                          "HDGST", "DDGST", "RECVDSL", "XMITDSL", "BURST", "FBURST",
		                          "IMMDATA", "INITR2T" };
	static const char *const k[] = { "target", "initiator", "isid", "tsih", "connections", "peer",
		                          "params.header_digest", "params.data_digest",
		                          "params.max_recv_data_segment_length",
		                          "params.max_xmit_data_segment_length",
		                          "params.max_burst_length", "params.first_burst_length",
		                          "params.immediate_data", "params.initial_r2t" };
	json_t *nbd = json_object_get(r, "nbd_sessions");

	print_array(json_object_get(r, "sessions"), h, k, 14, "no sessions");
	if (json_array_size(nbd)) {
		/* NBD: one connection is one session and one I_T nexus */
		static const char *const nh[] = { "EXPORT", "PEER", "NEXUS", "TLS", "IDENTITY",
			                           "STRUCTURED", "IN-FLIGHT", "READS", "WRITES" };
		static const char *const nk[] = { "export", "peer", "nexus", "tls", "tls_identity",
			                           "structured_replies", "in_flight", "reads", "writes" };
		printf("\n");
		print_array(nbd, nh, nk, 9, "no NBD sessions");
	}
}

void vsc_print_exports(json_t *r)
{
	static const char *const h[] = { "NAME", "TARGET", "LUN", "CONNS", "MULTI-CONN", "ACL",
		                          "DESCRIPTION" };
	static const char *const k[] = { "name", "target", "lun", "connections", "multi_conn", "acl",
		                          "description" };
	print_array(json_object_get(r, "exports"), h, k, 7, "no exports");
}

/* "refused: max_connections 0, max_login_connections 12, ..." */
static void print_counts(const char *what, json_t *counts)
{
	const char *key;
	json_t *v;
	const char *sep = "";

	printf("%s:", what);
	json_object_foreach(counts, key, v) {
		printf("%s %s %" JSON_INTEGER_FORMAT, sep, key, json_integer_value(v));
		sep = ",";
	}
	printf("\n");
}

/* The iSCSI fabric's admission, daemon-wide: what is held now, what was
 * refused or dropped since start (by the limit or what happened). */
static void print_admission(json_t *a)
{
	if (!json_is_object(a))
		return;
	printf("\niSCSI: %" JSON_INTEGER_FORMAT " connections (%" JSON_INTEGER_FORMAT
	       " logging in), %" JSON_INTEGER_FORMAT " sessions, %" JSON_INTEGER_FORMAT
	       " discovery sessions\n",
	       json_integer_value(json_object_get(a, "connections")),
	       json_integer_value(json_object_get(a, "logins")),
	       json_integer_value(json_object_get(a, "sessions")),
	       json_integer_value(json_object_get(a, "discovery_sessions")));
	print_counts("refused", json_object_get(a, "refused"));
	print_counts("dropped", json_object_get(a, "dropped"));
}

void vsc_print_stats(json_t *r)
{
	/* QD-LIMIT: commands the LUN may run at once; QD-USED: running now;
	 * HELD: waiting for a slot. */
	static const char *const h[] = { "TARGET", "LUN", "OPS", "READS", "WRITES", "BYTES",
		                          "ERRORS", "P50us", "P99us", "P99.9us", "QD-LIMIT", "QD-USED",
		                          "HELD" };
	static const char *const k[] = { "target", "lun", "ops", "read_ops", "write_ops", "bytes",
		                          "errors", "latency_us.p50", "latency_us.p99",
		                          "latency_us.p99_9", "queue_depth_limit", "queue_depth_in_use",
		                          "held" };
	print_array(json_object_get(r, "luns"), h, k, 13, "no LUNs");
	print_admission(json_object_get(r, "iscsi"));
}

void vsc_print_fields(json_t *r)
{
	const char *key;
	json_t *v;
	json_object_foreach(r, key, v) {
		char *s = fmt_any(v);
		printf("%s: %s\n", key, s ? s : "?");
		free(s);
	}
}

/* layer.list: each backend and filter, then its options one per line. */
void vsc_print_layers(json_t *r)
{
	static const char *const groups[] = { "backends", "filters" };

	for (size_t g = 0; g < 2; g++) {
		json_t *arr = json_object_get(r, groups[g]), *t;
		size_t i;

		printf("%s%s:\n", g ? "\n" : "", groups[g]);
		json_array_foreach(arr, i, t) {
			json_t *opts = json_object_get(t, "options"), *o;
			const char *origin = json_string_value(json_object_get(t, "origin"));
			size_t k;

			printf("  %-10s %s%s%s%s\n", json_string_value(json_object_get(t, "name")),
			       json_string_value(json_object_get(t, "description")),
			       origin && strcmp(origin, "built-in") ? " [" : "",
			       origin && strcmp(origin, "built-in") ? origin : "",
			       origin && strcmp(origin, "built-in") ? "]" : "");
			json_array_foreach(opts, k, o) {
				const char *dflt = json_string_value(json_object_get(o, "default"));
				char left[64];

				snprintf(left, sizeof(left), "%s=%s",
				         json_string_value(json_object_get(o, "name")),
				         json_string_value(json_object_get(o, "type")));
				printf("      %-22s %s%s%s%s%s\n", left,
				       json_string_value(json_object_get(o, "help")),
				       json_is_true(json_object_get(o, "required")) ? " (required)" : "",
				       dflt ? " (default " : "", dflt ? dflt : "", dflt ? ")" : "");
				if (json_is_true(json_object_get(o, "runtime")))
					printf("      %-22s changeable with lun set-filter\n", "");
			}
		}
	}
}

/* service.list: one row per service; LUNS as "1,2"; COPIED: bytes vstord
 * had to copy because a buffer was not in the shared area (0 when every
 * command's data went through it untouched); LENT: read data sent from
 * the service's own memory (its REGIONs). */
void vsc_print_services(json_t *r)
{
	static const char *const h[] = { "NAME", "TARGET", "LUNS", "STATE", "PID", "IN-FLIGHT",
		                          "COMMANDS", "SHARED", "COPIED", "LENT", "WHY" };
	static const char *const k[] = { "name", "target", "luns_text", "state", "pid", "in_flight",
		                          "commands", "bytes_shared", "bytes_copied", "bytes_lent", "why" };
	json_t *arr = json_object_get(r, "services"), *o;
	size_t i;

	json_array_foreach(arr, i, o) {
		json_t *luns = json_object_get(o, "luns"), *v;
		char buf[512] = "";
		size_t j;

		json_array_foreach(luns, j, v) {
			size_t used = strlen(buf);
			snprintf(buf + used, sizeof(buf) - used, "%s%" JSON_INTEGER_FORMAT, j ? "," : "",
			         json_integer_value(v));
		}
		json_object_set_new(o, "luns_text", json_string(buf[0] ? buf : "-"));
		if (json_integer_value(json_object_get(o, "pid")) == 0)
			json_object_set_new(o, "pid", json_null());
	}
	print_array(arr, h, k, 11, "no services");
}

/* config.reload: the changes made, one per line. */
void vsc_print_reload(json_t *r)
{
	json_t *changes = json_object_get(r, "changes"), *v;
	size_t i;

	printf("reloaded %s: %s\n", json_string_value(json_object_get(r, "path")),
	       json_array_size(changes) ? "" : "no changes");
	json_array_foreach(changes, i, v)
		printf("  %s\n", json_string_value(v));
}
