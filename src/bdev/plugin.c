/* SPDX-License-Identifier: MIT */
/*
 * Backends and filters from shared objects.  A plugin exports
 * `vs_plugin_backends` and/or `vs_plugin_filters`, NULL-terminated arrays
 * of ops tables; it calls back into the program for everything else
 * (vs_opt_*, vs_layer_*, vs_set_error), so the program exports those
 * symbols (vstord is linked with -rdynamic).  A plugin is all or nothing:
 * if one of its tables is refused (API version, struct size, a name
 * already taken) none is registered and the object is unloaded.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_int.h"

int vs_plugin_load(const char *path)
{
	const struct vs_backend_ops *const *bk;
	const struct vs_filter_ops *const *fl;
	char *origin;
	void *so;
	int rc = 0;

	if (!path) {
		vs_set_error("plugin: path is NULL");
		return -EINVAL;
	}
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		vs_set_error("%s: cannot load: %s", path, dlerror());
		return -ENOENT;
	}
	bk = dlsym(so, VS_PLUGIN_BACKENDS_SYMBOL);
	fl = dlsym(so, VS_PLUGIN_FILTERS_SYMBOL);
	if (!bk && !fl) {
		vs_set_error("%s: exports neither %s nor %s: not a vstor plugin", path,
		             VS_PLUGIN_BACKENDS_SYMBOL, VS_PLUGIN_FILTERS_SYMBOL);
		dlclose(so);
		return -ENOEXEC;
	}
	for (size_t i = 0; bk && bk[i] && rc == 0; i++)
		rc = registry_check_backend(bk[i]);
	for (size_t i = 0; fl && fl[i] && rc == 0; i++)
		rc = registry_check_filter(fl[i]);
	if (rc < 0) {
		char why[400];

		snprintf(why, sizeof(why), "%s", vs_last_error());
		vs_set_error("%s: %s", path, why);
		dlclose(so);
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
	for (size_t i = 0; bk && bk[i] && rc == 0; i++)
		rc = vs_backend_register(bk[i], origin);
	for (size_t i = 0; fl && fl[i] && rc == 0; i++)
		rc = vs_filter_register(fl[i], origin);
	if (rc < 0) {
		char why[400];

		snprintf(why, sizeof(why), "%s", vs_last_error());
		vs_set_error("%s: %s", path, why);
	}
	return rc;
}

static int so_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 3 && strcmp(e->d_name + n - 3, ".so") == 0;
}

int vs_plugin_load_dir(const char *dir)
{
	struct dirent **list;
	int n, first = 0;
	char first_err[512] = "";

	if (!dir) {
		vs_set_error("plugin_dir: path is NULL");
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
		char path[4096];
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		rc = vs_plugin_load(path);
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
