/* SPDX-License-Identifier: MIT */
/*
 * vstorctl: change a running vstord — add and remove targets and LUNs,
 * resize LUNs, edit ACLs and CHAP, list sessions and statistics, save the
 * running configuration.  One request per run over vstord's control socket.
 *
 * Exit status (doc/vstorctl.8): 0 success, 1 the daemon refused (its error
 * object on stdout with --json, else one line on stderr), 2 a bad command
 * line, 3 the daemon could not be asked (one line on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "top.h"
#include "ctl/ctl.h"

#define VSTORCTL_VERSION "0.1.0"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct globals {
	const char *socket;
	bool json;
};

static void usage_all(FILE *f)
{
	fprintf(f, "Usage: vstorctl [--socket PATH] [--json] COMMAND [OPTION]...\n"
	           "Change a running vstord: targets, LUNs, ACLs, CHAP; list sessions and stats.\n"
	           "\n"
	           "Commands:\n");
	for (const struct vsc_cmd *c = vsc_commands; c->group; c++) {
		char name[40];
		snprintf(name, sizeof(name), "%s%s%s", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
		fprintf(f, "  %-16s %s\n", name, c->summary);
	}
	fprintf(f, "\n"
	           "  -s, --socket PATH  vstord's control socket (default " VS_CTL_DEFAULT_SOCKET ")\n"
	           "  -j, --json         print the daemon's JSON result instead of a table\n"
	           "  -h, --help         show this help; COMMAND --help shows a command's options\n"
	           "  -V, --version      show the version\n"
	           "\n"
	           "Exit status: 0 success; 1 the daemon refused (one line on stderr, or with\n"
	           "--json its error object {\"code\",\"message\"} on stdout); 2 bad usage;\n"
	           "3 the daemon could not be asked (not running, no permission, no reply).\n"
	           "See vstorctl(8).\n");
}

static void usage_cmd(FILE *f, const struct vsc_cmd *c)
{
	fprintf(f, "Usage: vstorctl %s%s%s", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
	for (const struct vsc_opt *o = c->opts; o->name; o++) {
		if (o->type == VSC_FLAG)
			fprintf(f, " [--%s]", o->name);
		else if (o->type == VSC_LIST || o->type == VSC_KV || o->type == VSC_LEG)
			fprintf(f, " [--%s %s]...", o->name, o->arg);
		else
			fprintf(f, o->required ? " --%s %s" : " [--%s %s]", o->name, o->arg);
	}
	if (c->pos_key)
		fprintf(f, " [%s]", c->pos_name);
	fprintf(f, "\n%s.\n\n", c->summary);
	for (const struct vsc_opt *o = c->opts; o->name; o++) {
		char left[48];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-26s %s%s\n", left, o->help, o->required ? " (required)" : "");
	}
	fprintf(f, "  %-26s %s\n  %-26s %s\n", "--json", "print the JSON result", "--socket PATH",
	        "vstord's control socket");
}

static int usage_error(const char *cmd, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "vstorctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, " (see vstorctl%s%s --help)\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

static bool parse_num(const char *s, json_int_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno || v > (unsigned long long)INT64_MAX)
		return false;
	*out = (json_int_t)v;
	return true;
}

/*
 * The daemon has its own working directory and refuses relative paths, so
 * a relative one is taken from ours, as the user meant it.  Leading "./"
 * is dropped so saved configs read naturally.  false: getcwd failed.
 */
static bool absolute_path(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];
	if (in[0] == '/') {
		snprintf(out, len, "%s", in);
		return true;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return false;
	while (in[0] == '.' && in[1] == '/')
		for (in += 2; *in == '/'; in++)
			;
	snprintf(out, len, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", in);
	return true;
}

/* One more --portal (into an array) or --option KEY=VALUE (into an
 * object); the daemon validates the values (duplicate portals too).
 * -1: not KEY=VALUE, or a KEY twice (an object cannot say it twice). */
static int add_repeated(json_t *params, const struct vsc_opt *o, const char *arg)
{
	json_t *v = json_object_get(params, o->key);
	if (!v) {
		v = o->type == VSC_KV ? json_object() : json_array();
		json_object_set_new(params, o->key, v);
	}
	if (o->type == VSC_LIST)
		return json_array_append_new(v, json_string(arg));
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return -1;
	char key[256];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	if (json_object_get(v, key))
		return -1;
	return json_object_set_new(v, key, json_string(eq + 1));
}

/*
 * NAME,KEY=VALUE,KEY=VALUE into {"name": NAME, KEY: VALUE...} (values are
 * strings; the daemon reads them by the layer's schema).  NULL if it is
 * not that shape or a KEY comes twice.
 */
static json_t *parse_layer(const char *arg, const char *name_key)
{
	char buf[1024], *save = NULL, *tok;
	json_t *o = json_object();

	if (!o || strlen(arg) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", arg);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strchr(tok, '='))
		goto bad;
	json_object_set_new(o, name_key, json_string(tok));
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok)
			goto bad;
		*eq = '\0';
		if (strcmp(tok, name_key) == 0 || json_object_get(o, tok))
			goto bad;
		json_object_set_new(o, tok, json_string(eq + 1));
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

/* A leg's "path=" is taken from our working directory, as --path is. */
static int leg_path(json_t *leg)
{
	json_t *p = json_object_get(leg, "path");
	char abs[PATH_MAX + 2];

	if (!p)
		return 0;
	if (!absolute_path(json_string_value(p), abs, sizeof(abs)))
		return -1;
	return json_object_set_new(leg, "path", json_string(abs));
}

/* --volume TYPE,KEY=VALUE (params.volume), --leg BACKEND,KEY=VALUE (one
 * more of params.volume.legs), --stack BACKEND,KEY=VALUE (params.stack). */
static int add_stack(json_t *params, const struct vsc_opt *o, const char *arg)
{
	json_t *f = parse_layer(arg, o->type == VSC_VOLUME ? "type" : "backend");
	json_t *vol = json_object_get(params, "volume"), *legs;

	if (!f || (o->type != VSC_VOLUME && leg_path(f) < 0) ||
	    (o->type != VSC_LEG && json_object_get(params, o->key))) {
		json_decref(f);
		return -1;
	}
	if (o->type == VSC_STACK)
		return json_object_set_new(params, o->key, f);
	if (!vol) {
		vol = json_object();
		json_object_set_new(params, "volume", vol);
	}
	if (o->type == VSC_VOLUME) {
		json_t *have = json_object_get(vol, "legs");

		if (have)
			json_object_set(f, "legs", have);
		return json_object_set_new(params, "volume", f);
	}
	if (!(legs = json_object_get(vol, "legs"))) {
		legs = json_array();
		json_object_set_new(vol, "legs", legs);
	}
	return json_array_append_new(legs, f);
}

/* --filter NAME,KEY=VALUE: one more element of params.filters (lun add),
 * or params.layer and params.options (lun set-filter: exactly one). */
static int add_layer(json_t *params, const struct vsc_opt *o, const char *arg)
{
	json_t *f = parse_layer(arg, "name");

	if (!f)
		return -1;
	if (o->type == VSC_FILTER) {
		json_t *arr = json_object_get(params, o->key);

		if (!arr) {
			arr = json_array();
			json_object_set_new(params, o->key, arr);
		}
		return json_array_append_new(arr, f);
	}
	if (json_object_get(params, "layer") || json_object_size(f) < 2) {
		json_decref(f);
		return -1;
	}
	json_object_set(params, "layer", json_object_get(f, "name"));
	json_object_del(f, "name");
	json_object_set_new(params, "options", f);
	return 0;
}

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		printf("%s\n", s);
	free(s);
}

static int run_cmd(const struct vsc_cmd *c, int argc, char **argv, struct globals *g)
{
	char name[40];
	snprintf(name, sizeof(name), "%s%s%s", c->group, c->verb ? " " : "", c->verb ? c->verb : "");
	struct option longopts[VSC_MAX_OPTS + 4];
	size_t n = 0;
	for (const struct vsc_opt *o = c->opts; o->name; o++, n++)
		longopts[n] = (struct option){ o->name, o->type == VSC_FLAG ? no_argument
		                                                            : required_argument,
		                               NULL, (int)(1000 + n) };
	longopts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	longopts[n++] = (struct option){ "socket", required_argument, NULL, 's' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ 0 };

	json_t *params = json_object();
	bool seen[VSC_MAX_OPTS] = { 0 };
	int ch;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":hjs:", longopts, NULL)) != -1) {
		if (ch >= 1000) {
			const struct vsc_opt *o = &c->opts[ch - 1000];
			json_int_t v;
			seen[ch - 1000] = true;
			if (o->type == VSC_FLAG) {
				json_object_set_new(params, o->key, json_true());
			} else if (o->type == VSC_NUM) {
				if (!parse_num(optarg, &v)) {
					json_decref(params);
					return usage_error(name, "--%s: '%s' is not a number", o->name, optarg);
				}
				json_object_set_new(params, o->key, json_integer(v));
			} else if (o->type == VSC_FILTER || o->type == VSC_LAYER) {
				if (add_layer(params, o, optarg) < 0) {
					json_decref(params);
					return usage_error(name, o->type == VSC_FILTER
					                   ? "--filter: '%s' is not NAME[,KEY=VALUE]... (each KEY "
					                     "once)%s"
					                   : "--filter: '%s' is not NAME,KEY=VALUE[,KEY=VALUE]... "
					                     "(once, each KEY once)%s", optarg, "");
				}
			} else if (o->type == VSC_VOLUME || o->type == VSC_LEG || o->type == VSC_STACK) {
				if (add_stack(params, o, optarg) < 0) {
					json_decref(params);
					return usage_error(name, "--%s: '%s' is not NAME[,KEY=VALUE]... (each KEY "
					                   "once; --volume and --stack once)", o->name, optarg);
				}
			} else if (o->type == VSC_LIST || o->type == VSC_KV) {
				if (add_repeated(params, o, optarg) < 0) {
					json_decref(params);
					return usage_error(name, "--%s: '%s' is not KEY=VALUE, or KEY is given twice",
					                   o->name, optarg);
				}
			} else if (o->type == VSC_PATH) {
				char abs[PATH_MAX + 2];
				if (!absolute_path(optarg, abs, sizeof(abs))) {
					json_decref(params);
					return usage_error(name, "cannot resolve %s: %s", optarg, strerror(errno));
				}
				json_object_set_new(params, o->key, json_string(abs));
			} else {
				json_object_set_new(params, o->key, json_string(optarg));
			}
			continue;
		}
		switch (ch) {
		case 'h':
			usage_cmd(stdout, c);
			json_decref(params);
			return 0;
		case 'j':
			g->json = true;
			break;
		case 's':
			g->socket = optarg;
			break;
		case ':':
			json_decref(params);
			return usage_error(name, "%s: needs an argument%s", argv[optind - 1], "");
		default:
			json_decref(params);
			return usage_error(name, "%s: unknown option%s", argv[optind - 1], "");
		}
	}
	if (optind < argc) {
		if (!c->pos_key || optind + 1 < argc) {
			json_decref(params);
			return usage_error(name, "%s: unexpected argument%s", argv[c->pos_key ? optind + 1 : optind], "");
		}
		const char *pos = argv[optind];
		char abs[PATH_MAX + 2];
		/* "config save FILE": a path, like VSC_PATH options. */
		if (strcmp(c->pos_key, "path") == 0) {
			if (!absolute_path(pos, abs, sizeof(abs))) {
				json_decref(params);
				return usage_error(name, "cannot resolve %s: %s", pos, strerror(errno));
			}
			pos = abs;
		}
		json_object_set_new(params, c->pos_key, json_string(pos));
	}
	for (size_t i = 0; c->opts[i].name; i++) {
		if (c->opts[i].required && !seen[i]) {
			json_decref(params);
			return usage_error(name, "--%s is required%s", c->opts[i].name, "");
		}
	}
	/* "target add IQN" or "target add --iqn IQN": one of them. */
	if (c->pos_key && strcmp(c->pos_key, "iqn") == 0 && !json_object_get(params, "iqn")) {
		json_decref(params);
		return usage_error(name, "the target's IQN is required (--iqn IQN or IQN)%s%s", "", "");
	}

	char err[1024];
	json_t *error = NULL;
	json_t *result = vsc_call(g->socket, c->method, params, err, sizeof(err), &error);
	if (!result && error && g->json) {
		/* Scripts get the daemon's code as well as its message. */
		print_json(error);
		json_decref(error);
		return EXIT_REFUSED;
	}
	if (!result) {
		fprintf(stderr, "vstorctl: %s\n", err);
		json_decref(error);
		return error ? EXIT_REFUSED : EXIT_UNREACHABLE;
	}
	if (g->json)
		print_json(result);
	else
		c->print(result);
	json_decref(result);
	return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
}

int main(int argc, char **argv)
{
	struct globals g = { .socket = VS_CTL_DEFAULT_SOCKET };
	int i = 1;

	/* Global options come before the command. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage_all(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("vstorctl %s\n", VSTORCTL_VERSION);
			return 0;
		} else if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			g.json = true;
		} else if (!strcmp(a, "-s") || !strcmp(a, "--socket")) {
			if (++i == argc)
				return usage_error(NULL, "%s: needs an argument%s", a, "");
			g.socket = argv[i];
		} else if (!strncmp(a, "--socket=", 9)) {
			g.socket = a + 9;
		} else {
			return usage_error(NULL, "%s: unknown option%s", a, "");
		}
	}
	if (i == argc) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	const char *group = argv[i];
	const char *verb = i + 1 < argc ? argv[i + 1] : NULL;
	bool group_known = false;
	for (const struct vsc_cmd *c = vsc_commands; c->group; c++) {
		if (strcmp(c->group, group) != 0)
			continue;
		group_known = true;
		if (!c->verb && !c->method)     /* "top [OPTIONS]": many requests */
			return vsc_top(argc - i, argv + i, g.socket);
		if (!c->verb)   /* "stats [OPTIONS]" */
			return run_cmd(c, argc - i, argv + i, &g);
		if (verb && strcmp(c->verb, verb) == 0)
			return run_cmd(c, argc - i - 1, argv + i + 1, &g);
	}
	if (!group_known)
		return usage_error(NULL, "%s: unknown command%s", group, "");
	/* "vstorctl lun" / "vstorctl lun --help" / "vstorctl lun bogus" */
	FILE *f = verb && (!strcmp(verb, "--help") || !strcmp(verb, "-h")) ? stdout : stderr;
	if (verb && f == stderr)
		fprintf(stderr, "vstorctl %s: %s: unknown subcommand\n", group, verb);
	fprintf(f, "Usage: vstorctl %s SUBCOMMAND [OPTION]...\n", group);
	for (const struct vsc_cmd *c = vsc_commands; c->group; c++)
		if (strcmp(c->group, group) == 0)
			fprintf(f, "  %-8s %s\n", c->verb, c->summary);
	fprintf(f, "vstorctl %s SUBCOMMAND --help shows its options.\n", group);
	return f == stdout ? 0 : EXIT_USAGE;
}
