/* SPDX-License-Identifier: MIT */
/*
 * The memory a process may use: the machine's, capped by its cgroup's
 * limit where one is set (a container, a systemd unit with MemoryMax=).
 * A RAM disk promised more than that is a promise the kernel keeps by
 * killing the daemon when the initiators fill it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem_limit.h"

static uint64_t meminfo_total(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	uint64_t kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* A number from a cgroup file; "max" (no limit) and junk give 0. */
static uint64_t read_limit(const char *path)
{
	FILE *f = fopen(path, "re");
	uint64_t v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%" SCNu64, &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* The limit of our cgroup: v2 ("0::/path"), else v1's memory controller. */
static uint64_t cgroup_limit(void)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[512], path[700];
	uint64_t lim = 0;

	if (!f)
		return 0;
	while (!lim && fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", line + 3);
			lim = read_limit(path);
		} else {
			char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;

			if (ctl && cg && strstr(ctl, "memory") && strstr(ctl, "memory") < cg) {
				snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
				         cg + 1);
				lim = read_limit(path);
			}
		}
	}
	fclose(f);
	return lim;
}

uint64_t vs_mem_limit(void)
{
	uint64_t total = meminfo_total(), cg = cgroup_limit();

	/* v1 says "no limit" with a huge number: only a smaller one counts */
	if (cg && (!total || cg < total))
		return cg;
	return total;
}
