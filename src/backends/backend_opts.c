/* SPDX-License-Identifier: MIT */
#include "backend_opts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int vs_bk_opts_check(const char *backend, const struct vs_kv *opts, size_t n,
                     const char *const *allowed)
{
	if (n > 0 && !opts) {
		vs_set_error("%s: options: NULL list with %zu entries", backend, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!opts[i].key || !opts[i].key[0]) {
			vs_set_error("%s: option %zu has no key", backend, i + 1);
			return -EINVAL;
		}
		if (!opts[i].value) {
			vs_set_error("%s: %s: has no value", backend, opts[i].key);
			return -EINVAL;
		}
		bool known = false;
		for (const char *const *a = allowed; *a; a++) {
			if (strcmp(*a, opts[i].key) == 0) {
				known = true;
				break;
			}
		}
		if (!known) {
			char list[160] = "";
			size_t used = 0;
			for (const char *const *a = allowed; *a && used < sizeof(list); a++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 used ? ", " : "", *a);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			vs_set_error("%s: %s: unknown option (known: %s)", backend, opts[i].key, list);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(opts[j].key, opts[i].key) == 0) {
				vs_set_error("%s: %s: given more than once", backend, opts[i].key);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int vs_bk_opt_size(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, uint64_t *out, bool *present)
{
	const char *v = vs_kv_get(opts, n, key);
	*present = v != NULL;
	if (!v)
		return 0;
	int rc = vs_parse_size(v, out);
	if (rc == -ERANGE) {
		vs_set_error("%s: %s: '%s' is too large", backend, key, v);
		return rc;
	}
	if (rc < 0) {
		vs_set_error("%s: %s: '%s' is not a size (e.g. 4096, 512K, 1G, 10GiB)",
		             backend, key, v);
		return rc;
	}
	return 0;
}

int vs_bk_opt_bool(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, bool dflt, bool *out)
{
	const char *v = vs_kv_get(opts, n, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	vs_set_error("%s: %s: '%s' is not 0 or 1", backend, key, v);
	return -EINVAL;
}

int vs_bk_opt_uint(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, unsigned lo, unsigned hi, unsigned dflt, unsigned *out)
{
	const char *v = vs_kv_get(opts, n, key);
	if (!v) {
		*out = dflt;
		return 0;
	}
	/* digits only: no sign, no blanks, no suffix, no hex */
	unsigned long long x = 0;
	const char *p = v;
	for (; *p >= '0' && *p <= '9' && x <= hi; p++)
		x = x * 10 + (unsigned)(*p - '0');
	if (p == v || *p || x < lo || x > hi) {
		vs_set_error("%s: %s: '%s' is not a whole number from %u to %u", backend, key, v,
		             lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)x;
	return 0;
}

uint64_t vs_bk_iov_bytes(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (UINT64_MAX - total < iov[i].iov_len)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}
