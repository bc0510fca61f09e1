/* SPDX-License-Identifier: MIT */
/*
 * The backend registry: built-in backends by name, opening a bdev, and the
 * small parsers every backend shares (sizes, key=value lookup).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vstor/backend.h"
#include "builtin.h"

static const struct vs_backend_ops *const builtin_backends[] = {
	&vs_backend_ram,
	&vs_backend_file,
};

const struct vs_backend_ops *vs_backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(builtin_backends) / sizeof(builtin_backends[0]); i++) {
		if (strcmp(builtin_backends[i]->name, name) == 0)
			return builtin_backends[i];
	}
	return NULL;
}

struct vs_bdev *vs_bdev_open(const char *backend, const struct vs_kv *opts, size_t nopts)
{
	const struct vs_backend_ops *ops = vs_backend_find(backend);
	if (!ops) {
		vs_set_error("backend: '%s' is not a known backend (known: ram, file)",
		             backend ? backend : "(null)");
		return NULL;
	}
	/* An ops table from a newer/older ABI would be read past its end. */
	if (ops->api_version != VS_BACKEND_API_VERSION ||
	    ops->struct_size < sizeof(struct vs_backend_ops)) {
		vs_set_error("backend: %s: API version %u not supported", ops->name,
		             ops->api_version);
		return NULL;
	}
	struct vs_bdev *bdev = calloc(1, sizeof(*bdev));
	if (!bdev) {
		vs_set_error("backend: %s: out of memory", ops->name);
		return NULL;
	}
	bdev->h = ops->open(opts, nopts);
	if (!bdev->h) {
		free(bdev);
		return NULL;
	}
	bdev->ops = ops;
	snprintf(bdev->name, sizeof(bdev->name), "%s", ops->name);
	return bdev;
}

void vs_bdev_close(struct vs_bdev *bdev)
{
	if (!bdev)
		return;
	bdev->ops->close(bdev->h);
	free(bdev);
}

const char *vs_kv_get(const struct vs_kv *opts, size_t n, const char *key)
{
	if (!opts || !key)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (opts[i].key && strcmp(opts[i].key, key) == 0)
			return opts[i].value;
	}
	return NULL;
}

/*
 * Sizes are binary: K = 1024.  Accepted suffixes (any case): none, B,
 * K/M/G/T, KB/MB/GB/TB and KiB/MiB/GiB/TiB.  Only decimal digits before
 * the suffix: no sign, no blanks, no fractions, so "-1" or " 1G" cannot
 * slip through strtoull's lenient parsing.
 */
int vs_parse_size(const char *s, uint64_t *out)
{
	if (!s || !out || !isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	const char *p = s;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	unsigned shift = 0;
	switch (toupper((unsigned char)*p)) {
	case '\0':
		break;
	case 'B':
		if (p[1])
			return -EINVAL;
		p++;
		break;
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default:
		return -EINVAL;
	}
	if (shift) {
		p++;
		if (*p == 'i' || *p == 'I') {
			p++;
			if (toupper((unsigned char)*p) != 'B')
				return -EINVAL;
			p++;
		} else if (toupper((unsigned char)*p) == 'B') {
			p++;
		}
		if (*p)
			return -EINVAL;
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*out = v;
	return 0;
}
