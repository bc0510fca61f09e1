/* SPDX-License-Identifier: MIT */
/*
 * Opening a stack from its description and closing it as one, and the
 * queries that travel down it (size, capabilities, resize, block status),
 * which a filter answers itself or leaves to the layer under it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_int.h"

/* ---- pass-through queries ---- */

uint64_t vs_layer_size(struct vs_layer *l)
{
	if (l->type->backend)
		return l->type->backend->get_size(l->h);
	if (l->type->filter->get_size)
		return l->type->filter->get_size(l->h);
	return vs_layer_size(l->lower[0]);
}

void vs_layer_caps(struct vs_layer *l, struct vs_backend_caps *caps)
{
	if (l->type->backend) {
		memset(caps, 0, sizeof(*caps));
		l->type->backend->get_caps(l->h, caps);
		return;
	}
	vs_layer_caps(l->lower[0], caps);
	if (l->type->filter->get_caps)
		l->type->filter->get_caps(l->h, caps);
}

/* A filter with several lower layers (a volume) maps offsets its own way:
 * what it does not answer itself is not answered. */
static struct vs_layer *only_lower(struct vs_layer *l)
{
	return l->nlower == 1 ? l->lower[0] : NULL;
}

int vs_layer_resize(struct vs_layer *l, uint64_t new_size)
{
	struct vs_layer *next;

	if (l->type->backend) {
		if (!l->type->backend->resize) {
			vs_set_error("resize: backend %s cannot change size", l->type->backend->name);
			return -EOPNOTSUPP;
		}
		return l->type->backend->resize(l->h, new_size);
	}
	if (l->type->filter->resize)
		return l->type->filter->resize(l->h, new_size);
	if (!(next = only_lower(l))) {
		vs_set_error("resize: %s cannot change size", l->type->filter->name);
		return -EOPNOTSUPP;
	}
	return vs_layer_resize(next, new_size);
}

bool vs_layer_has_block_status(struct vs_layer *l)
{
	struct vs_layer *next;

	if (l->type->backend)
		return l->type->backend->block_status != NULL;
	if (l->type->filter->block_status)
		return true;
	return (next = only_lower(l)) && vs_layer_has_block_status(next);
}

int vs_layer_block_status(struct vs_layer *l, uint64_t off, uint64_t len, bool *mapped,
                       uint64_t *ext)
{
	struct vs_layer *next;

	if (l->type->backend) {
		if (!l->type->backend->block_status)
			goto none;
		return l->type->backend->block_status(l->h, off, len, mapped, ext);
	}
	if (l->type->filter->block_status)
		return l->type->filter->block_status(l->h, off, len, mapped, ext);
	if ((next = only_lower(l)))
		return vs_layer_block_status(next, off, len, mapped, ext);
none:
	vs_set_error("block_status: not supported by %s", type_name(l->type));
	return -EOPNOTSUPP;
}

uint64_t vs_bdev_get_size(struct vs_bdev *b) { return vs_layer_size(b->top); }
void vs_bdev_get_caps(struct vs_bdev *b, struct vs_backend_caps *caps) { vs_layer_caps(b->top, caps); }
int vs_bdev_resize(struct vs_bdev *b, uint64_t n) { return vs_layer_resize(b->top, n); }
bool vs_bdev_has_block_status(struct vs_bdev *b) { return vs_layer_has_block_status(b->top); }

int vs_bdev_block_status(struct vs_bdev *b, uint64_t off, uint64_t len, bool *mapped,
                         uint64_t *ext)
{
	return vs_layer_block_status(b->top, off, len, mapped, ext);
}

const char *vs_bdev_backend_name(const struct vs_bdev *b)
{
	const struct vs_layer *l = b->top;

	while (!l->type->backend)
		l = l->lower[0];
	return l->type->backend->name;
}

void *vs_bdev_backend_handle(struct vs_bdev *b, const char *name)
{
	const struct vs_layer *l = b ? b->top : NULL;

	while (l && !l->type->backend)
		l = l->lower[0];
	return l && name && strcmp(l->type->backend->name, name) == 0 ? l->h : NULL;
}

void *vs_bdev_filter_handle(struct vs_bdev *b, size_t layer, const char *name)
{
	const struct vs_layer *l = b && layer < b->nlayers ? b->layers[layer] : NULL;

	return l && l->type->filter && name && strcmp(l->type->filter->name, name) == 0 ? l->h
	                                                                                 : NULL;
}

/* ---- what a filter asks of the layers under it ---- */

size_t vs_layer_lower_count(const struct vs_layer *self) { return self->nlower; }

uint64_t vs_layer_lower_size(struct vs_layer *self, size_t i)
{
	return i < self->nlower ? vs_layer_size(self->lower[i]) : 0;
}

void vs_layer_lower_caps(struct vs_layer *self, size_t i, struct vs_backend_caps *caps)
{
	if (i < self->nlower)
		vs_layer_caps(self->lower[i], caps);
	else
		memset(caps, 0, sizeof(*caps));
}

int vs_layer_lower_resize(struct vs_layer *self, size_t i, uint64_t new_size)
{
	return i < self->nlower ? vs_layer_resize(self->lower[i], new_size) : -EINVAL;
}

bool vs_layer_lower_has_block_status(struct vs_layer *self, size_t i)
{
	return i < self->nlower && vs_layer_has_block_status(self->lower[i]);
}

int vs_layer_lower_block_status(struct vs_layer *self, size_t i, uint64_t off, uint64_t len,
                                bool *mapped, uint64_t *ext)
{
	return i < self->nlower ? vs_layer_block_status(self->lower[i], off, len, mapped, ext)
	                        : -EINVAL;
}

/* ---- open and close ---- */

static void layer_free(struct vs_layer *l)
{
	struct opts_old *o, *next;

	if (l->opened) {
		if (l->type->backend)
			l->type->backend->close(l->h);
		else
			l->type->filter->close(l->h);
	}
	vs_slot_pool_fini(&l->pool);
	vs_opts_free(l->opts);
	for (o = l->old_opts; o; o = next) {
		next = o->next;
		vs_opts_free(o->opts);
		free(o);
	}
	pthread_mutex_destroy(&l->opts_lock);
	free(l->lower);
	free(l);
}

static int open_backend(struct vs_layer *l, const struct vs_bdev_open_args *args)
{
	struct vs_backend_open_args a = {
		.self = l, .opts = l->opts, .readonly = args->readonly, .loops = args->loops,
	};

	l->h = l->type->backend->open(&a);
	if (!l->h)
		return -EINVAL;
	l->opened = true;
	l->ctx_size = a.ctx_size;
	l->max_pieces = 1;
	return 0;
}

static int open_filter(struct vs_layer *l, const struct vs_bdev_open_args *args)
{
	struct vs_filter_open_args a = {
		.self = l, .opts = l->opts, .readonly = args->readonly, .loops = args->loops,
		.nlower = l->nlower,
	};

	l->h = l->type->filter->open(&a);
	if (!l->h)
		return -EINVAL;
	l->opened = true;
	l->ctx_size = a.ctx_size;
	l->max_pieces = a.max_pieces ? a.max_pieces : 1;
	l->bounce_size = a.bounce_size;
	return 0;
}

/* Pre-order: the layer gets its index before the layers under it. */
static struct vs_layer *open_layer(struct vs_bdev *b, const struct vs_bdev_desc *d,
                                   struct vs_layer *parent, size_t pidx,
                                   struct vs_bdev_open_args *args)
{
	const struct layer_type *t;
	struct vs_layer *l;
	uint32_t lo, hi;

	if (b->nlayers == BDEV_MAX_LAYERS) {
		vs_set_error("layers: a stack has at most %u", BDEV_MAX_LAYERS);
		args->failed_layer = (int)b->nlayers;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		vs_set_error("out of memory");
		args->failed_layer = (int)b->nlayers;
		return NULL;
	}
	pthread_mutex_init(&l->opts_lock, NULL);
	l->stack = b;
	l->parent = parent;
	l->parent_index = pidx;
	l->index = b->nlayers;
	b->layers[b->nlayers++] = l;
	args->failed_layer = (int)l->index;

	if (!d || !(t = vs_registry_find(d->kind, d->name))) {
		vs_registry_unknown(d ? d->kind : VS_LAYER_BACKEND, d ? d->name : NULL);
		return NULL;
	}
	l->type = t;
	lo = t->filter && t->filter->max_lower ? t->filter->min_lower : 1;
	hi = t->filter && t->filter->max_lower ? t->filter->max_lower : 1;
	if (t->backend && d->nlower) {
		vs_set_error("%s: a backend has no layers under it", d->name);
		return NULL;
	}
	if (t->filter && (d->nlower < lo || d->nlower > hi)) {
		vs_set_error("%s: takes %u to %u layers under it, got %zu", d->name, lo, hi, d->nlower);
		return NULL;
	}
	if (!(l->opts = vs_opts_parse(t, d->opts, d->nopts)))
		return NULL;
	if (t->filter) {
		l->lower = calloc(d->nlower, sizeof(*l->lower));
		if (!l->lower) {
			vs_set_error("out of memory");
			return NULL;
		}
		for (size_t i = 0; i < d->nlower; i++) {
			if (!(l->lower[i] = open_layer(b, &d->lower[i], l, i, args)))
				return NULL;
			l->nlower++;
		}
		args->failed_layer = (int)l->index;
		return open_filter(l, args) < 0 ? NULL : l;
	}
	return open_backend(l, args) < 0 ? NULL : l;
}

/* Reserve request contexts top-down: a layer under a filter may hold as
 * many requests as the filter times the pieces it makes of one. */
static int reserve(struct vs_layer *l, uint64_t slots, struct vs_bdev_open_args *args)
{
	if (slots > BDEV_MAX_SLOTS) {
		vs_set_error("%s: would need context for %llu requests in flight (more than %u): "
		             "fewer pieces per request or a lower queue depth", type_name(l->type),
		             (unsigned long long)slots, BDEV_MAX_SLOTS);
		args->failed_layer = (int)l->index;
		return -E2BIG;
	}
	l->slots = (uint32_t)slots;
	if ((l->ctx_size || l->bounce_size) &&
	    vs_slot_pool_init(&l->pool, l->slots, l->ctx_size, l->bounce_size) < 0) {
		vs_set_error("%s: out of memory for %u request contexts", type_name(l->type),
		             l->slots);
		args->failed_layer = (int)l->index;
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->nlower; i++) {
		int rc = reserve(l->lower[i], slots * l->max_pieces, args);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* "crypt/throttle/file", "mirror(file,nbd)" */
static void describe(const struct vs_layer *l, char *buf, size_t len, size_t *used)
{
	int w = snprintf(buf + *used, len - *used, "%s", type_name(l->type));

	if (w > 0)
		*used += (size_t)w < len - *used ? (size_t)w : len - *used - 1;
	if (l->nlower == 1 && *used + 1 < len) {
		buf[(*used)++] = '/';
		buf[*used] = 0;
		describe(l->lower[0], buf, len, used);
	} else if (l->nlower > 1) {
		for (size_t i = 0; i < l->nlower && *used + 1 < len; i++) {
			buf[(*used)++] = i ? ',' : '(';
			buf[*used] = 0;
			describe(l->lower[i], buf, len, used);
		}
		if (*used + 1 < len) {
			buf[(*used)++] = ')';
			buf[*used] = 0;
		}
	}
}

const char *vs_bdev_name(const struct vs_bdev *b)
{
	return b ? b->name : "(none)";
}

static void stack_free(struct vs_bdev *b)
{
	/* a layer's events stop here: one that closes after the filter above
	 * it must not call into the filter, already gone */
	for (size_t i = 0; i < b->nlayers; i++)
		atomic_store(&b->layers[i]->detached, true);
	/* pre-order: a filter closes (and may flush into its lower layers)
	 * before they close */
	for (size_t i = 0; i < b->nlayers; i++)
		layer_free(b->layers[i]);
	vs_event_fini(b);
	free(b);
}

struct vs_bdev *vs_bdev_open_stack(const struct vs_bdev_desc *desc,
                                   struct vs_bdev_open_args *args)
{
	struct vs_bdev_open_args dflt = { 0 };
	struct vs_bdev *b;

	if (!args)
		args = &dflt;
	args->failed_layer = -1;
	if (!desc) {
		vs_set_error("bdev_open: description is NULL");
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		vs_set_error("out of memory");
		return NULL;
	}
	vs_event_init(b);
	b->top = open_layer(b, desc, NULL, 0, args);
	if (!b->top || reserve(b->top, args->max_requests ? args->max_requests
	                                                  : BDEV_DEFAULT_MAX_REQUESTS, args) < 0) {
		char why[512];

		/* closing may log or set errors of its own: keep the first */
		snprintf(why, sizeof(why), "%s", vs_last_error());
		stack_free(b);
		vs_set_error("%s", why);
		return NULL;
	}
	args->failed_layer = -1;
	b->readonly = args->readonly;
	b->loops = args->loops;
	describe(b->top, b->name, sizeof(b->name), &(size_t){ 0 });
	if (!b->top->pool.mem) {
		b->direct_submit = b->top->type->backend ? b->top->type->backend->submit
		                                         : b->top->type->filter->submit;
		b->direct_h = b->top->h;
		if (b->top->type->backend) {
			b->lend_end = b->top->type->backend->lend_end;
			b->lend_stable = b->top->type->backend->lend_stable;
			b->lent_crc32c = b->top->type->backend->lent_crc32c;
		}
	}
	return b;
}

struct vs_bdev *vs_bdev_open(const char *backend, const struct vs_kv *opts, size_t nopts)
{
	struct vs_bdev_desc d = { .kind = VS_LAYER_BACKEND, .name = backend, .opts = opts,
	                          .nopts = nopts };
	struct vs_bdev *b = vs_bdev_open_stack(&d, NULL);

	if (!b && backend && vs_registry_find(VS_LAYER_BACKEND, backend)) {
		char why[512];

		/* one layer: its name says whose option it is ("ram: size: ...") */
		snprintf(why, sizeof(why), "%s", vs_last_error());
		vs_set_error("%s: %s", backend, why);
	}
	return b;
}

void vs_bdev_close(struct vs_bdev *b)
{
	if (b)
		stack_free(b);
}

/* ---- control ---- */

size_t vs_bdev_layer_count(const struct vs_bdev *b) { return b ? b->nlayers : 0; }

bool vs_bdev_layer_type(const struct vs_bdev *b, size_t layer, struct vs_layer_type *out)
{
	if (!b || layer >= b->nlayers)
		return false;
	if (out)
		vs_registry_public(b->layers[layer]->type, out);
	return true;
}

int vs_bdev_set_options(struct vs_bdev *b, size_t layer, const struct vs_kv *opts, size_t nopts)
{
	struct vs_layer *l;
	struct vs_opts *next;
	struct opts_old *old;
	int (*apply)(void *, const struct vs_opts *);
	int rc;

	if (!b || layer >= b->nlayers) {
		vs_set_error("layer: no layer %zu in this stack", layer);
		return -EINVAL;
	}
	l = b->layers[layer];
	apply = l->type->backend ? l->type->backend->set_options : l->type->filter->set_options;
	pthread_mutex_lock(&l->opts_lock);
	next = vs_opts_update(l->type, l->opts, opts, nopts);
	if (!next) {
		pthread_mutex_unlock(&l->opts_lock);
		return -EINVAL;
	}
	if (!apply) {
		vs_set_error("%s: has no options that can change while it is open",
		             type_name(l->type));
		vs_opts_free(next);
		pthread_mutex_unlock(&l->opts_lock);
		return -EOPNOTSUPP;
	}
	old = calloc(1, sizeof(*old));
	rc = old ? apply(l->h, next) : -ENOMEM;
	if (rc < 0) {
		if (!old)
			vs_set_error("out of memory");
		free(old);
		vs_opts_free(next);
	} else {
		old->opts = l->opts;
		old->next = l->old_opts;
		l->old_opts = old;
		l->opts = next;
	}
	pthread_mutex_unlock(&l->opts_lock);
	return rc < 0 ? rc : 0;
}

void vs_bdev_layer_learned(struct vs_bdev *b, size_t layer,
                           void (*emit)(void *ctx, const char *key, const char *value),
                           void *ctx)
{
	struct vs_layer *l;
	void (*learned)(void *, void (*)(void *, const char *, const char *), void *);

	if (!b || layer >= b->nlayers || !emit)
		return;
	l = b->layers[layer];
	learned = l->type->backend ? l->type->backend->learned : l->type->filter->learned;
	if (learned)
		learned(l->h, emit, ctx);
}

void vs_bdev_layer_state(struct vs_bdev *b, size_t layer,
                         void (*emit)(void *ctx, const char *key, const char *value),
                         void *ctx)
{
	struct vs_layer *l;

	if (!b || layer >= b->nlayers || !emit)
		return;
	l = b->layers[layer];
	if (l->type->filter && l->type->filter->state)
		l->type->filter->state(l->h, emit, ctx);
}

/* ---- replacing a lower layer ---- */

/* The layers of a subtree in pre-order (at most BDEV_MAX_LAYERS). */
static size_t subtree(struct vs_layer *l, struct vs_layer **out, size_t n)
{
	if (n < BDEV_MAX_LAYERS)
		out[n++] = l;
	for (size_t i = 0; i < l->nlower; i++)
		n = subtree(l->lower[i], out, n);
	return n;
}

static void renumber(struct vs_bdev *b, struct vs_layer *l)
{
	l->stack = b;
	l->index = b->nlayers;
	b->layers[b->nlayers++] = l;
	for (size_t i = 0; i < l->nlower; i++)
		renumber(b, l->lower[i]);
}

int vs_bdev_replace_lower(struct vs_bdev *b, size_t layer, size_t lower,
                          const struct vs_bdev_desc *desc, int *failed_layer)
{
	struct vs_bdev_open_args args = { .readonly = b ? b->readonly : false,
	                                  .loops = b ? b->loops : NULL };
	struct vs_layer *l, *old, *fresh, *gone[BDEV_MAX_LAYERS];
	const struct vs_filter_ops *f;
	struct vs_bdev *scratch;
	size_t ngone, nnew;
	int rc;

	if (failed_layer)
		*failed_layer = -1;
	if (!b || layer >= b->nlayers || !desc) {
		vs_set_error("layer: no layer %zu in this stack", layer);
		return -EINVAL;
	}
	l = b->layers[layer];
	f = l->type->filter;
	if (!f || lower >= l->nlower) {
		vs_set_error("leg: %s has no layer %zu under it", type_name(l->type), lower);
		return -EINVAL;
	}
	if (!f->replace_lower) {
		vs_set_error("leg: %s cannot replace a layer under it while open", f->name);
		return -EOPNOTSUPP;
	}
	/* Opened apart from the stack, with no parent: an event the new
	 * layers raise while they open must not reach the filter as the old
	 * layer's. */
	if (!(scratch = calloc(1, sizeof(*scratch)))) {
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	vs_event_init(scratch);
	fresh = open_layer(scratch, desc, NULL, lower, &args);
	if (!fresh || reserve(fresh, (uint64_t)l->slots * l->max_pieces, &args) < 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", vs_last_error());
		if (failed_layer)
			*failed_layer = args.failed_layer;
		stack_free(scratch);
		vs_set_error("%s", why);
		return -EINVAL;
	}
	ngone = subtree(l->lower[lower], gone, 0);
	nnew = scratch->nlayers;
	if (b->nlayers - ngone + nnew > BDEV_MAX_LAYERS) {
		vs_set_error("layers: a stack has at most %u", BDEV_MAX_LAYERS);
		stack_free(scratch);
		return -E2BIG;
	}
	if ((rc = f->replace_lower(l->h, lower, VS_REPLACE_CHECK, vs_layer_size(fresh))) < 0 ||
	    (rc = f->replace_lower(l->h, lower, VS_REPLACE_DETACH, 0)) < 0) {
		stack_free(scratch);
		return rc;
	}
	old = l->lower[lower];
	atomic_store(&old->detached, true);
	fresh->parent = l;
	fresh->parent_index = lower;
	pthread_rwlock_wrlock(&b->tree_lock);
	l->lower[lower] = fresh;
	b->nlayers = 0;
	renumber(b, b->top);
	pthread_rwlock_unlock(&b->tree_lock);
	b->name[0] = 0;
	describe(b->top, b->name, sizeof(b->name), &(size_t){ 0 });
	/* the old layers close before the filter uses the new one: nothing of
	 * theirs (an event, a completion) can reach it after ATTACH */
	for (size_t i = 0; i < ngone; i++)
		layer_free(gone[i]);
	scratch->nlayers = 0;
	stack_free(scratch);
	f->replace_lower(l->h, lower, VS_REPLACE_ATTACH, 0);
	return 0;
}
