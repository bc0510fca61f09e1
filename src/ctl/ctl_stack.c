/* SPDX-License-Identifier: MIT */
/*
 * A LUN's block stack as the model describes it (config.h: filters over a
 * backend, or over a volume whose legs are stacks of the same shape),
 * walked in the block layer's pre-order — the numbering of layers that
 * vs_bdev_open_stack's failed_layer, vs_bdev_set_options and the other
 * per-layer calls use — and turned into the description the block layer
 * opens.  Generic: no layer is known here by name; a volume is any filter
 * the model gives legs.
 *
 * Each layer has two field paths, for messages and for addressing it:
 * where its options sit ("" for the LUN's own backend, whose options are
 * on the LUN object; "filters[0]", "volume", "volume.legs[1]",
 * "volume.legs[1].filters[0]") and the layer itself ("backend",
 * "filters[0]", "volume", "volume.legs[1].backend").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "vstor/bdev.h"

struct walk {
	int (*fn)(void *ctx, struct ctl_layer *l);
	void *ctx;
	size_t next;
};

static void join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, CTL_FIELD_MAX, "%s%s%s", a, *a ? "." : "", b);

	(void)n;                /* paths are short: depth is limited */
}

static int walk_stack(struct walk *w, struct vs_config_stack *st, const char *at, bool lun);

static int visit(struct walk *w, struct ctl_layer *l)
{
	l->index = w->next++;
	return w->fn(w->ctx, l);
}

static int walk_stack(struct walk *w, struct vs_config_stack *st, const char *at, bool lun)
{
	struct ctl_layer l;
	int rc;

	for (size_t i = 0; i < st->nfilters; i++) {
		memset(&l, 0, sizeof(l));
		l.kind = VS_LAYER_FILTER;
		l.name = st->filters[i].name;
		l.kv = &st->filters[i].opts;
		l.n = &st->filters[i].nopts;
		snprintf(l.obj, sizeof(l.obj), "%s%sfilters[%zu]", at, *at ? "." : "", i);
		snprintf(l.self, sizeof(l.self), "%s", l.obj);
		if ((rc = visit(w, &l)))
			return rc;
	}
	memset(&l, 0, sizeof(l));
	if (st->volume) {
		struct vs_config_volume *v = st->volume;

		l.kind = VS_LAYER_FILTER;
		l.name = v->type;
		l.kv = &v->opts;
		l.n = &v->nopts;
		l.volume = v;
		join(l.obj, at, "volume");
		snprintf(l.self, sizeof(l.self), "%s", l.obj);
		if ((rc = visit(w, &l)))
			return rc;
		for (size_t i = 0; i < v->nlegs; i++) {
			char leg[CTL_FIELD_MAX + 32];

			snprintf(leg, sizeof(leg), "%s.legs[%zu]", l.obj, i);
			leg[CTL_FIELD_MAX - 1] = 0;
			if ((rc = walk_stack(w, &v->legs[i], leg, false)))
				return rc;
		}
		return 0;
	}
	l.kind = VS_LAYER_BACKEND;
	l.name = st->backend;
	l.kv = &st->options;
	l.n = &st->noptions;
	l.lun_backend = lun;
	snprintf(l.obj, sizeof(l.obj), "%s", at);
	join(l.self, at, "backend");
	return visit(w, &l);
}

int vs_ctl_stack_walk(struct vs_config_stack *st, bool lun, int (*fn)(void *ctx, struct ctl_layer *l),
                   void *ctx)
{
	struct walk w = { fn, ctx, 0 };

	return walk_stack(&w, st, "", lun);
}

struct find {
	size_t want;
	struct ctl_layer *out;
};

static int find_one(void *ctx, struct ctl_layer *l)
{
	struct find *f = ctx;

	if (l->index != f->want)
		return 0;
	*f->out = *l;
	return 1;
}

bool vs_ctl_stack_layer(struct vs_config_stack *st, bool lun, size_t index, struct ctl_layer *out)
{
	struct find f = { index, out };

	return vs_ctl_stack_walk(st, lun, find_one, &f) == 1;
}

void vs_ctl_layer_option_field(const struct ctl_layer *l, const char *key, bool in_options,
                            char *out, size_t len)
{
	if (l->lun_backend && in_options)
		snprintf(out, len, "options.%s", key);
	else
		snprintf(out, len, "%s%s%s", l->obj, *l->obj ? "." : "", key);
}

/* ---- the description the block layer opens ---- */

struct build {
	void *mem[4 * BDEV_CTL_MAX_LAYERS];
	size_t nmem;
	int err;
};

static void *keep(struct build *b, size_t n, size_t size)
{
	void *p = n ? calloc(n, size) : NULL;

	if (n && (!p || b->nmem == sizeof(b->mem) / sizeof(b->mem[0]))) {
		free(p);
		b->err = -ENOMEM;
		return NULL;
	}
	if (p)
		b->mem[b->nmem++] = p;
	return p;
}

static const struct vs_kv *kv_view(struct build *b, const struct vs_config_kv *kv, size_t n)
{
	struct vs_kv *out = keep(b, n, sizeof(*out));

	for (size_t i = 0; out && i < n; i++)
		out[i] = (struct vs_kv){ kv[i].key, kv[i].value };
	return out;
}

/* The stack's layers from its top, which goes in *top. */
static void build_stack(struct build *b, const struct vs_config_stack *st,
                        struct vs_bdev_desc *top)
{
	struct vs_bdev_desc *d = top;

	for (size_t i = 0; i < st->nfilters && !b->err; i++) {
		struct vs_bdev_desc *below = keep(b, 1, sizeof(*below));

		*d = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = st->filters[i].name,
		                            .opts = kv_view(b, st->filters[i].opts,
		                                            st->filters[i].nopts),
		                            .nopts = st->filters[i].nopts, .lower = below,
		                            .nlower = 1 };
		if (!below)
			return;
		d = below;
	}
	if (st->volume) {
		const struct vs_config_volume *v = st->volume;
		struct vs_bdev_desc *legs = keep(b, v->nlegs, sizeof(*legs));

		*d = (struct vs_bdev_desc){ .kind = VS_LAYER_FILTER, .name = v->type,
		                            .opts = kv_view(b, v->opts, v->nopts), .nopts = v->nopts,
		                            .lower = legs, .nlower = v->nlegs };
		for (size_t i = 0; legs && i < v->nlegs && !b->err; i++)
			build_stack(b, &v->legs[i], &legs[i]);
		return;
	}
	*d = (struct vs_bdev_desc){ .kind = VS_LAYER_BACKEND, .name = st->backend,
	                            .opts = kv_view(b, st->options, st->noptions),
	                            .nopts = st->noptions };
}

struct ctl_desc *vs_ctl_stack_desc(const struct vs_config_stack *st)
{
	struct ctl_desc *cd = calloc(1, sizeof(*cd));
	struct build *b = cd ? calloc(1, sizeof(*b)) : NULL;

	if (!b) {
		free(cd);
		return NULL;
	}
	cd->priv = b;
	build_stack(b, st, &cd->top);
	if (b->err) {
		vs_ctl_stack_desc_free(cd);
		return NULL;
	}
	return cd;
}

void vs_ctl_stack_desc_free(struct ctl_desc *cd)
{
	struct build *b;

	if (!cd)
		return;
	b = cd->priv;
	for (size_t i = 0; i < b->nmem; i++)
		free(b->mem[i]);
	free(b);
	free(cd);
}
