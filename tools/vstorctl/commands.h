/* SPDX-License-Identifier: MIT */
/* vstorctl's subcommands: what each one asks the daemon and how it prints. */
#ifndef VSTORCTL_COMMANDS_H
#define VSTORCTL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

enum vsc_opt_type {
	VSC_STR,        /* passed as a JSON string */
	VSC_NUM,        /* parsed here, passed as a JSON integer */
	VSC_FLAG,       /* no argument; passed as true */
	VSC_PATH,       /* a file name, made absolute against our working directory */
	VSC_LIST,       /* repeatable; passed as a JSON array of strings */
	VSC_KV,         /* repeatable KEY=VALUE; passed as a JSON object of strings */
	VSC_FILTER,     /* repeatable NAME[,KEY=VALUE]...; an array of {"name": NAME, KEY: VALUE} */
	VSC_LAYER,      /* NAME,KEY=VALUE[,KEY=VALUE]...; params.layer = NAME, params.options = {...} */
	VSC_VOLUME,     /* TYPE[,KEY=VALUE]...; params.volume = {"type": TYPE, KEY: VALUE} */
	VSC_LEG,        /* repeatable BACKEND[,KEY=VALUE]...; appended to params.volume.legs */
	VSC_STACK,      /* BACKEND[,KEY=VALUE]...; params.KEY = {"backend": BACKEND, KEY: VALUE} */
};

struct vsc_opt {
	const char *name;       /* --name */
	const char *key;        /* params key */
	enum vsc_opt_type type;
	bool required;
	const char *arg;        /* metavariable for --help */
	const char *help;
};

#define VSC_MAX_OPTS 20      /* including the terminating { 0 } */

struct vsc_cmd {
	const char *group, *verb;       /* verb NULL: "vstorctl stats" */
	const char *method;     /* NULL: "top", not one request (top.c) */
	const char *summary;
	struct vsc_opt opts[VSC_MAX_OPTS];
	/* One optional positional argument (e.g. "config save [FILE]"). */
	const char *pos_key, *pos_name;
	void (*print)(json_t *result);
};

extern const struct vsc_cmd vsc_commands[];

/* Printers (print.c) */
void vsc_print_targets(json_t *r);
void vsc_print_luns(json_t *r);
void vsc_print_acl(json_t *r);
void vsc_print_sessions(json_t *r);
void vsc_print_exports(json_t *r);
void vsc_print_stats(json_t *r);
void vsc_print_fields(json_t *r);   /* "key: value" per scalar, for changes */
void vsc_print_layers(json_t *r);
void vsc_print_reload(json_t *r);   /* the changes a reload made */

#endif
