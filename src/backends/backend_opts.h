/* SPDX-License-Identifier: MIT */
/*
 * Option helpers shared by the built-in backends.  Every failure sets one
 * line naming the backend and the option ("ram: size: 'abc' is not a
 * size") and returns a negative errno, so a bad config is answered
 * precisely instead of being half-applied.
 */
#ifndef VSTOR_BACKEND_OPTS_H
#define VSTOR_BACKEND_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/backend.h"

/*
 * Refuse keys not in `allowed` (NULL-terminated), keys given twice and
 * entries with a NULL key or value.  Naming the offending key is the point:
 * a typo like "szie=1G" must not silently fall back to a default.
 */
int vs_bk_opts_check(const char *backend, const struct vs_kv *opts, size_t n,
                     const char *const *allowed);

/* size option: *present tells whether it was given; -EINVAL on junk. */
int vs_bk_opt_size(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, uint64_t *out, bool *present);

/* boolean option: 0/1, true/false, yes/no, on/off; `dflt` when absent. */
int vs_bk_opt_bool(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, bool dflt, bool *out);

/* whole-number option in [lo, hi]; `dflt` when absent. */
int vs_bk_opt_uint(const char *backend, const struct vs_kv *opts, size_t n,
                   const char *key, unsigned lo, unsigned hi, unsigned dflt, unsigned *out);

/* Total bytes described by an iovec (saturating). */
uint64_t vs_bk_iov_bytes(const struct iovec *iov, int iovcnt);

#endif
