/* SPDX-License-Identifier: MIT */
/*
 * Option schemas: a key=value list is checked against the layer's
 * description (struct vs_opt_desc) before the layer sees it, so every
 * layer refuses a typo, a repeated key or a malformed value the same way,
 * with one line that starts with the field.  The layer then reads typed
 * values that can no longer be wrong (vs_opt_*).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bdev_int.h"

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

/* Decimal digits only: no sign, no blanks, no hex, so "-1" or " 1G"
 * cannot slip through strtoull's lenient parsing.  Returns the end. */
static const char *parse_digits(const char *s, uint64_t *out, bool *overflow)
{
	uint64_t v = 0;

	*overflow = false;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			*overflow = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return s;
}

/*
 * Sizes are binary: K = 1024.  Accepted suffixes (any case): none, B,
 * K/M/G/T, KB/MB/GB/TB and KiB/MiB/GiB/TiB.
 */
int vs_parse_size(const char *s, uint64_t *out)
{
	bool ovf;
	uint64_t v;
	const char *p;
	unsigned shift = 0;

	if (!s || !out || !isdigit((unsigned char)*s))
		return -EINVAL;
	p = parse_digits(s, &v, &ovf);
	if (ovf)
		return -ERANGE;
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

/* Rates are decimal (a network's and a disk vendor's unit): k = 10^3,
 * M = 10^6, G = 10^9, T = 10^12, so bps=50M is 50 000 000 bytes/s. */
static int parse_rate(const char *s, uint64_t *out)
{
	bool ovf;
	uint64_t v, mul = 1;
	const char *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	p = parse_digits(s, &v, &ovf);
	if (ovf)
		return -ERANGE;
	switch (*p) {
	case '\0': break;
	case 'k': case 'K': mul = 1000ull; break;
	case 'M': mul = 1000000ull; break;
	case 'G': mul = 1000000000ull; break;
	case 'T': mul = 1000000000000ull; break;
	default: return -EINVAL;
	}
	if (*p && p[1])
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

/* Durations in milliseconds: a bare number is ms; ms, s, m, h suffixes. */
static int parse_duration(const char *s, uint64_t *out)
{
	bool ovf;
	uint64_t v, mul;
	const char *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	p = parse_digits(s, &v, &ovf);
	if (ovf)
		return -ERANGE;
	if (!*p || strcmp(p, "ms") == 0)
		mul = 1;
	else if (strcmp(p, "s") == 0)
		mul = 1000;
	else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
		mul = 60000;
	else if (strcmp(p, "h") == 0)
		mul = 3600000;
	else
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

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
	return -EINVAL;
}

/* The unit a numeric type is shown in, for range messages. */
static void show_num(uint8_t type, uint64_t v, char *buf, size_t len)
{
	static const char unit[] = "KMGTPE";

	if (type == VS_OPT_DURATION) {
		snprintf(buf, len, "%" PRIu64 "ms", v);
		return;
	}
	/* sizes in the unit they are written in: 64T, not 70368744177664 */
	for (int i = 5; type == VS_OPT_SIZE && i >= 0; i--) {
		uint64_t m = 1ull << (10 * (i + 1));

		if (v >= m && v % m == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v / m, unit[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
}

static int range_error(const struct vs_opt_desc *d, const char *v, uint64_t min, uint64_t max)
{
	char lo[32], hi[32];

	show_num(d->type, min, lo, sizeof(lo));
	show_num(d->type, max, hi, sizeof(hi));
	if (d->type == VS_OPT_UINT)
		vs_set_error("%s: '%s' is not a whole number from %s to %s", d->name, v, lo, hi);
	else
		vs_set_error("%s: '%s' is out of range (%s to %s)", d->name, v, lo, hi);
	return -EINVAL;
}

/* Parse one value per its description into val. */
static int parse_value(const struct vs_opt_desc *d, const char *v, struct opt_val *val)
{
	uint64_t max = d->max ? d->max : UINT64_MAX;
	int rc = 0;

	switch (d->type) {
	case VS_OPT_STRING:
		break;
	case VS_OPT_PATH:
		if (!*v) {
			vs_set_error("%s: empty path", d->name);
			return -EINVAL;
		}
		break;
	case VS_OPT_ENUM: {
		bool ok = false;
		char list[160] = "";
		size_t used = 0;

		for (const char *const *c = d->choices; *c; c++) {
			int w;

			ok = ok || strcmp(*c, v) == 0;
			w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *c);
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
		if (!ok) {
			vs_set_error("%s: '%s' is not one of %s", d->name, v, list);
			return -EINVAL;
		}
		break;
	}
	case VS_OPT_BOOL:
		if (parse_bool(v, &val->b) < 0) {
			vs_set_error("%s: '%s' is not 0 or 1", d->name, v);
			return -EINVAL;
		}
		break;
	case VS_OPT_UINT: {
		bool ovf;
		const char *end = parse_digits(v, &val->u, &ovf);

		if (end == v || *end || ovf || val->u < d->min || val->u > max)
			return range_error(d, v, d->min, max);
		break;
	}
	case VS_OPT_SIZE:
	case VS_OPT_RATE:
	case VS_OPT_DURATION: {
		/* a number with a unit: the type's parser, what to say if it
		 * is not one, then the range */
		static const char *const hint[] = {
			[VS_OPT_SIZE] = "a size (e.g. 4096, 512K, 1G, 10GiB)",
			[VS_OPT_RATE] = "a rate (e.g. 5000, 20k, 50M; k/M/G are powers of 1000)",
			[VS_OPT_DURATION] = "a duration (e.g. 500ms, 20s, 2m; a bare number is "
			                    "milliseconds)",
		};

		rc = d->type == VS_OPT_SIZE ? vs_parse_size(v, &val->u)
		     : d->type == VS_OPT_RATE ? parse_rate(v, &val->u) : parse_duration(v, &val->u);
		if (rc == -ERANGE) {
			vs_set_error("%s: '%s' is too large", d->name, v);
			return rc;
		}
		if (rc < 0) {
			vs_set_error("%s: '%s' is not %s", d->name, v, hint[d->type]);
			return rc;
		}
		if (val->u < d->min || val->u > max)
			return range_error(d, v, d->min, max);
		break;
	}
	default:
		vs_set_error("%s: option of unknown type %u", d->name, d->type);
		return -EINVAL;
	}
	free(val->str);
	val->str = strdup(v);
	if (!val->str) {
		vs_set_error("%s: out of memory", d->name);
		return -ENOMEM;
	}
	val->present = true;
	return 0;
}

/* Edit distance, for "did you mean" (names are short). */
static unsigned distance(const char *a, const char *b)
{
	unsigned row[40], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la >= 40 || lb >= 40)
		return 99;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned prev = row[0], cur;

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = a[i - 1] == b[j - 1] ? prev
			         : 1 + (prev < row[j - 1] ? (prev < row[j] ? prev : row[j])
			                                  : (row[j - 1] < row[j] ? row[j - 1] : row[j]));
			prev = cur;
		}
	}
	return row[lb];
}

static void unknown_key(const struct vs_opt_desc *schema, const char *key)
{
	char list[200] = "";
	size_t used = 0;
	const char *best = NULL;
	unsigned best_d = 3;

	for (const struct vs_opt_desc *d = schema; d && d->name; d++) {
		unsigned dist = distance(key, d->name);
		int w;

		if (dist < best_d) {
			best_d = dist;
			best = d->name;
		}
		w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", d->name);
		if (w > 0 && (size_t)w < sizeof(list) - used)
			used += (size_t)w;
	}
	if (!used)
		vs_set_error("%s: unknown option (this layer takes none)", key);
	else if (best)
		vs_set_error("%s: unknown option (known: %s; did you mean \"%s\"?)", key, list, best);
	else
		vs_set_error("%s: unknown option (known: %s)", key, list);
}

static struct opt_val *find_val(const struct vs_opts *o, const char *name)
{
	if (!o || !name)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->v[i].d->name, name) == 0)
			return (struct opt_val *)&o->v[i];
	return NULL;
}

/* Names are what the config and vstorctl write: keep them plain. */
bool vs_opts_name_ok(const char *name)
{
	if (!name || !*name || strlen(name) > 31)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

int vs_opts_schema_check(const char *type, const struct vs_opt_desc *schema)
{
	for (const struct vs_opt_desc *o = schema; o && o->name; o++) {
		struct opt_val v = { .d = o };
		int rc = 0;

		if (!vs_opts_name_ok(o->name) || o->type < VS_OPT_STRING || o->type > VS_OPT_ENUM ||
		    (o->type == VS_OPT_ENUM && !o->choices) || !o->help || (o->max && o->min > o->max)) {
			vs_set_error("%s: option '%s': malformed description", type, o->name);
			return -EINVAL;
		}
		for (const struct vs_opt_desc *p = schema; p < o; p++) {
			if (strcmp(p->name, o->name) == 0) {
				vs_set_error("%s: option '%s' is described twice", type, o->name);
				return -EINVAL;
			}
		}
		/* a default that does not parse would fail every open */
		if (o->dflt && (rc = parse_value(o, o->dflt, &v)) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", vs_last_error());
			vs_set_error("%s: bad default (%s)", type, why);
		}
		free(v.str);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void vs_opts_free(struct vs_opts *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].str);
	free(o);
}

static struct vs_opts *opts_new(const struct vs_opt_desc *schema)
{
	size_t n = 0;
	struct vs_opts *o;

	for (const struct vs_opt_desc *d = schema; d && d->name; d++)
		n++;
	o = calloc(1, sizeof(*o) + n * sizeof(o->v[0]));
	if (!o) {
		vs_set_error("options: out of memory");
		return NULL;
	}
	o->n = n;
	for (size_t i = 0; i < n; i++)
		o->v[i].d = &schema[i];
	return o;
}

/* Apply kv onto o (only runtime keys when `runtime_only`). */
static int apply(struct vs_opts *o, const struct vs_opt_desc *schema, const struct vs_kv *kv,
                 size_t n, bool runtime_only)
{
	if (n > 0 && !kv) {
		vs_set_error("options: NULL list with %zu entries", n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct opt_val *val;

		if (!kv[i].key || !kv[i].key[0]) {
			vs_set_error("option %zu has no key", i + 1);
			return -EINVAL;
		}
		if (!kv[i].value) {
			vs_set_error("%s: has no value", kv[i].key);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(kv[j].key, kv[i].key) == 0) {
				vs_set_error("%s: given more than once", kv[i].key);
				return -EINVAL;
			}
		}
		val = find_val(o, kv[i].key);
		if (!val) {
			unknown_key(schema, kv[i].key);
			return -EINVAL;
		}
		if (runtime_only && !(val->d->flags & VS_OPT_RUNTIME)) {
			vs_set_error("%s: cannot be changed while the LUN is open", kv[i].key);
			return -EINVAL;
		}
		if (parse_value(val->d, kv[i].value, val) < 0)
			return -EINVAL;
		val->given = true;
	}
	return 0;
}

struct vs_opts *vs_opts_parse(const struct layer_type *t, const struct vs_kv *kv, size_t n)
{
	const struct vs_opt_desc *schema = type_options(t);
	int (*check)(const struct vs_opts *) = type_check(t);
	struct vs_opts *o = opts_new(schema);

	if (!o)
		return NULL;
	if (apply(o, schema, kv, n, false) < 0)
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		struct opt_val *val = &o->v[i];

		if (val->given)
			continue;
		if (val->d->flags & VS_OPT_REQUIRED) {
			vs_set_error("%s: missing (required: %s)", val->d->name, val->d->help);
			goto fail;
		}
		/* a default that does not parse is the layer's bug: say so now */
		if (val->d->dflt && parse_value(val->d, val->d->dflt, val) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", vs_last_error());
			vs_set_error("%s: bad built-in default (%s)", val->d->name, why);
			goto fail;
		}
	}
	if (check && check(o) < 0)
		goto fail;
	return o;
fail:
	vs_opts_free(o);
	return NULL;
}

struct vs_opts *vs_opts_update(const struct layer_type *t, const struct vs_opts *cur,
                            const struct vs_kv *kv, size_t n)
{
	const struct vs_opt_desc *schema = type_options(t);
	int (*check)(const struct vs_opts *) = type_check(t);
	struct vs_opts *o = opts_new(schema);

	if (!o)
		return NULL;
	for (size_t i = 0; i < o->n; i++) {
		const struct opt_val *c = &cur->v[i];

		o->v[i] = *c;
		o->v[i].str = NULL;
		if (c->str && !(o->v[i].str = strdup(c->str))) {
			vs_set_error("options: out of memory");
			goto fail;
		}
	}
	if (apply(o, schema, kv, n, true) < 0 || (check && check(o) < 0))
		goto fail;
	return o;
fail:
	vs_opts_free(o);
	return NULL;
}

bool vs_opt_given(const struct vs_opts *o, const char *name)
{
	const struct opt_val *v = find_val(o, name);

	return v && v->given;
}

bool vs_opt_present(const struct vs_opts *o, const char *name)
{
	const struct opt_val *v = find_val(o, name);

	return v && v->present;
}

const char *vs_opt_str(const struct vs_opts *o, const char *name)
{
	const struct opt_val *v = find_val(o, name);

	return v && v->present ? v->str : NULL;
}

bool vs_opt_bool(const struct vs_opts *o, const char *name)
{
	const struct opt_val *v = find_val(o, name);

	return v && v->present && v->d->type == VS_OPT_BOOL && v->b;
}

uint64_t vs_opt_u64(const struct vs_opts *o, const char *name)
{
	const struct opt_val *v = find_val(o, name);

	if (!v || !v->present)
		return 0;
	switch (v->d->type) {
	case VS_OPT_UINT:
	case VS_OPT_SIZE:
	case VS_OPT_RATE:
	case VS_OPT_DURATION:
		return v->u;
	default:
		return 0;
	}
}
