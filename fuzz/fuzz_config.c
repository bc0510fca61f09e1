/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the JSON config loader.  Any input must either load
 * (and then save and load back to the same bytes) or fail with exactly one
 * line naming the problem; never crash, leak or hang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_config *cfg = NULL;
	char err[VS_CONFIG_ERR_MAX];
	err[0] = '\0';

	int rc = vs_config_load_buffer("fuzz.json", (const char *)data, size, &cfg, err, sizeof(err));
	if (rc != 0) {
		/* The contract: one non-empty line, no model. */
		if (cfg || err[0] == '\0' || strchr(err, '\n'))
			abort();
		return 0;
	}

	/* A config that loads must save into something that loads again. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	if (vs_config_save(f, cfg) != 0)
		abort();
	fclose(f);
	struct vs_config *back = NULL;
	if (vs_config_load_buffer("saved.json", buf, len, &back, err, sizeof(err)) != 0)
		abort();
	if (back->ntargets != cfg->ntargets || back->nportals != cfg->nportals)
		abort();
	vs_config_free(back);
	vs_config_free(cfg);
	free(buf);
	return 0;
}
