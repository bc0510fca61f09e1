/* SPDX-License-Identifier: MIT */
/* Plugins at start-up: one log line per plugin, one error line per refusal. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "plugins.h"
#include "vstor/bdev.h"

/* "plugin /x/y.so: backend pattern, filter offset" */
static void report(void *ctx, const char *path, int rc, const char *error)
{
	struct vs_layer_type types[64];
	size_t n = vs_layer_types(0, types, sizeof(types) / sizeof(types[0]));
	char list[512] = "";
	size_t used = 0;
	int *failed = ctx;

	if (rc < 0) {
		vsd_error("%s", error);         /* names the file */
		(*failed)++;
		return;
	}
	for (size_t i = 0; i < n && i < sizeof(types) / sizeof(types[0]); i++) {
		int w;

		if (strcmp(types[i].origin, path) != 0)
			continue;
		w = snprintf(list + used, sizeof(list) - used, "%s%s %s", used ? ", " : "",
		             types[i].kind == VS_LAYER_BACKEND ? "backend" : "filter", types[i].name);
		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	vsd_info("plugin %s: %s", path, list);
}

int vsd_load_plugins(const char *dir, bool given)
{
	struct stat st;
	int failed = 0, rc;

	if (given && stat(dir, &st) < 0) {
		vsd_error("--plugin-dir %s: %s", dir, strerror(errno));
		return -1;
	}
	rc = vs_plugin_load_dir_report(dir, report, &failed);
	if (rc < 0 && !failed) {
		/* the directory itself, not one of its files */
		vsd_error("--plugin-dir %s", vs_last_error());
		return -1;
	}
	return failed ? -1 : 0;
}
