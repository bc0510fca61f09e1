/* SPDX-License-Identifier: MIT */
/*
 * Backends and filters from shared objects (doc/plugins.md).  A plugin
 * exports `vs_plugin_backends` and/or `vs_plugin_filters`, NULL-terminated
 * arrays of ops tables; it calls back into the program for everything else
 * (vs_opt_*, vs_layer_*, vs_set_error), so the program exports those
 * symbols (vstord and the tests that load plugins are linked with
 * ENABLE_EXPORTS, i.e. -rdynamic).
 *
 * A plugin is all or nothing: if one of its tables is refused (API
 * version, struct size, a missing callback, a malformed option schema, a
 * name already taken, or taken twice within the plugin) none is registered
 * and the object is unloaded.  A registered type is never removed, so a
 * plugin that loaded stays loaded for the life of the program: its tables,
 * names and code must stay mapped.
 *
 * What a bad object cannot do here: be searched for in the system's
 * library path instead of the file named (a name without '/' is taken
 * from the current directory), register itself from a constructor behind
 * the checks (refused, registry.c), or make the loader read an unbounded
 * table (at most BDEV_MAX_TYPES entries before the NULL).  What it can
 * still do is what any code in the process can: crash in its constructor
 * or its callbacks.  Load only plugins you trust.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bdev_int.h"

/* Entries of a NULL-terminated array exported by a plugin; -1 if no NULL
 * within BDEV_MAX_TYPES. */
static long table_count(const void *const *arr)
{
	for (long i = 0; arr && i <= (long)BDEV_MAX_TYPES; i++)
		if (!arr[i])
			return i;
	return arr ? -1 : 0;
}

/* vs_set_error("path: <the error so far>") */
static void prefix_error(const char *path)
{
	char why[400];

	snprintf(why, sizeof(why), "%s", vs_last_error());
	vs_set_error("%s: %s", path, why);
}

/* dlopen the file itself, refusing what is not a regular file; NULL with
 * *rc and vs_set_error (not naming the file: the caller does). */
static void *open_object(const char *path, int *rc)
{
	char local[PATH_MAX];
	struct stat st;
	const char *dlerr;
	bool self_registered;
	void *so;

	if (stat(path, &st) < 0) {
		*rc = -errno;
		vs_set_error("cannot load: %s", strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		vs_set_error("cannot load: not a regular file");
		return NULL;
	}
	/* dlopen searches LD_LIBRARY_PATH and the system's directories for a
	 * name without '/': a plugin named by path is the file at that path */
	if (!strchr(path, '/')) {
		if (snprintf(local, sizeof(local), "./%s", path) >= (int)sizeof(local)) {
			*rc = -ENAMETOOLONG;
			vs_set_error("cannot load: name too long");
			return NULL;
		}
		path = local;
	}
	vs_registry_plugin_load_begin();
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	dlerr = so ? NULL : dlerror();
	self_registered = vs_registry_plugin_load_end();
	if (!so) {
		size_t n = strlen(path);

		*rc = -ENOEXEC;
		if (!dlerr)
			dlerr = "unknown error";
		/* "PATH: invalid ELF header": the caller names the file */
		else if (strncmp(dlerr, path, n) == 0 && strncmp(dlerr + n, ": ", 2) == 0)
			dlerr += n + 2;
		vs_set_error("cannot load: %s", dlerr);
		return NULL;
	}
	if (self_registered) {
		*rc = -EPERM;
		vs_set_error("registers layers from its own code (a constructor?); a plugin exports "
		             "%s / %s instead", VS_PLUGIN_BACKENDS_SYMBOL, VS_PLUGIN_FILTERS_SYMBOL);
		dlclose(so);
		return NULL;
	}
	return so;
}

/* The plugin's tables as one batch for the registry; its count or -errno. */
static long plugin_batch(void *so, const char *origin, struct layer_type *batch)
{
	const struct vs_backend_ops *const *bk = dlsym(so, VS_PLUGIN_BACKENDS_SYMBOL);
	const struct vs_filter_ops *const *fl = dlsym(so, VS_PLUGIN_FILTERS_SYMBOL);
	long nb = table_count((const void *const *)bk), nf = table_count((const void *const *)fl);

	if (!bk && !fl) {
		vs_set_error("exports neither %s nor %s: not a vstor plugin",
		             VS_PLUGIN_BACKENDS_SYMBOL, VS_PLUGIN_FILTERS_SYMBOL);
		return -ENOEXEC;
	}
	if (nb < 0 || nf < 0 || nb + nf > (long)BDEV_MAX_TYPES) {
		vs_set_error("%s: more than %u tables, or no NULL after the last",
		             nb < 0 || (nf >= 0 && nb > nf) ? VS_PLUGIN_BACKENDS_SYMBOL
		                                           : VS_PLUGIN_FILTERS_SYMBOL,
		             BDEV_MAX_TYPES);
		return -E2BIG;
	}
	if (nb + nf == 0) {
		vs_set_error("%s and %s are empty: no backend or filter in it",
		             VS_PLUGIN_BACKENDS_SYMBOL, VS_PLUGIN_FILTERS_SYMBOL);
		return -ENOEXEC;
	}
	for (long i = 0; i < nb; i++)
		batch[i] = (struct layer_type){ .backend = bk[i], .origin = origin };
	for (long i = 0; i < nf; i++)
		batch[nb + i] = (struct layer_type){ .filter = fl[i], .origin = origin };
	return nb + nf;
}

int vs_plugin_load(const char *path)
{
	struct layer_type batch[BDEV_MAX_TYPES];
	char *origin;
	long n;
	void *so;
	int rc = 0;

	if (!path || !*path) {
		vs_set_error("plugin: no path");
		return -EINVAL;
	}
	if (!(so = open_object(path, &rc))) {
		prefix_error(path);
		return rc;
	}
	/* the origin names the plugin in listings for as long as it is loaded:
	 * for the program's life, since a registered type is never removed */
	origin = strdup(path);
	if (!origin) {
		vs_set_error("%s: out of memory", path);
		dlclose(so);
		return -ENOMEM;
	}
	n = plugin_batch(so, origin, batch);
	rc = n < 0 ? (int)n : vs_registry_add(batch, (size_t)n);
	if (rc < 0) {
		prefix_error(path);
		free(origin);
		dlclose(so);
	}
	return rc;
}

static int so_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

int vs_plugin_load_dir_report(const char *dir, vs_plugin_report_fn report, void *ctx)
{
	struct dirent **list;
	int n, first = 0;
	char first_err[512] = "";

	if (!dir || !*dir) {
		vs_set_error("plugin_dir: no path");
		return -EINVAL;
	}
	n = scandir(dir, &list, so_name, alphasort);
	if (n < 0) {
		int e = errno;

		if (e == ENOENT)
			return 0;       /* no plugins installed */
		vs_set_error("%s: %s", dir, strerror(e));
		return -e;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		int rc;

		if (snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) >= (int)sizeof(path)) {
			vs_set_error("%s/%s: path too long", dir, list[i]->d_name);
			rc = -ENAMETOOLONG;
		} else {
			rc = vs_plugin_load(path);
		}
		if (report)
			report(ctx, path, rc, rc < 0 ? vs_last_error() : NULL);
		if (rc < 0 && !first) {
			first = rc;
			snprintf(first_err, sizeof(first_err), "%s", vs_last_error());
		}
		free(list[i]);
	}
	free(list);
	if (first)
		vs_set_error("%s", first_err);
	return first;
}

int vs_plugin_load_dir(const char *dir)
{
	return vs_plugin_load_dir_report(dir, NULL, NULL);
}
