/* SPDX-License-Identifier: MIT */
/* Probing the event loops, see liveness.h. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "liveness.h"
#include "vstor/loop.h"

struct probe {
	struct vs_loop_msg msg;         /* first: the message is the probe */
	struct vs_loop *loop;
	_Atomic uint64_t answered;
	atomic_bool pending;            /* posted, its fn not run yet */
};

struct vsd_liveness {
	unsigned n;
	struct probe p[];
};

/* On the loop's own thread: it is alive. */
static void answer(struct vs_loop_msg *m)
{
	struct probe *p = (struct probe *)m;

	atomic_fetch_add(&p->answered, 1);
	atomic_store(&p->pending, false);
}

struct vsd_liveness *vsd_liveness_create(struct vs_loop_group *g)
{
	unsigned n = vs_loop_group_size(g);
	struct vsd_liveness *l = calloc(1, sizeof(*l) + n * sizeof(l->p[0]));

	if (!l)
		return NULL;
	l->n = n;
	for (unsigned i = 0; i < n; i++) {
		l->p[i].msg.fn = answer;
		l->p[i].loop = vs_loop_group_loop(g, i);
	}
	return l;
}

void vsd_liveness_free(struct vsd_liveness *l)
{
	free(l);
}

size_t vsd_liveness_passes(void *arg, uint64_t *out, size_t max)
{
	struct vsd_liveness *l = arg;

	for (unsigned i = 0; i < l->n; i++) {
		struct probe *p = &l->p[i];

		if (i < max)
			out[i] = atomic_load(&p->answered);
		/* a message may be posted again once its fn has started */
		if (!atomic_exchange(&p->pending, true))
			vs_loop_post(p->loop, &p->msg);
	}
	return l->n;
}
