/* SPDX-License-Identifier: MIT */
/*
 * A group of event loops (include/vstor/loop.h): one thread each, started,
 * stopped and joined together, and the choice of a loop for new work.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vstor/miniport.h"
#include "loop_int.h"

struct vs_loop_group *vs_loop_group_create(unsigned nthreads, const char *name)
{
	struct vs_loop_group *g;

	if (!nthreads) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (nthreads > VS_LOOP_GROUP_MAX)
		nthreads = VS_LOOP_GROUP_MAX;
	g = calloc(1, sizeof(*g));
	if (g)
		g->loops = calloc(nthreads, sizeof(*g->loops));
	if (!g || !g->loops) {
		free(g);
		vs_set_error("event loops: out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		if (vs_loop_init(&g->loops[i], g, i, name) < 0) {
			while (i--)
				vs_loop_fini(&g->loops[i]);
			free(g->loops);
			free(g);
			return NULL;
		}
	}
	g->n = nthreads;
	return g;
}

int vs_loop_group_start(struct vs_loop_group *g)
{
	if (g->started) {
		vs_set_error("event loops: already started");
		return -EALREADY;
	}
	for (unsigned i = 0; i < g->n; i++) {
		int rc = vs_loop_start(&g->loops[i]);

		if (rc < 0) {
			while (i--) {
				vs_loop_request_stop(&g->loops[i]);
				vs_loop_join(&g->loops[i]);
			}
			return rc;
		}
	}
	g->started = true;
	return 0;
}

void vs_loop_group_stop(struct vs_loop_group *g)
{
	for (unsigned i = 0; i < g->n; i++)
		vs_loop_request_stop(&g->loops[i]);
}

void vs_loop_group_join(struct vs_loop_group *g)
{
	for (unsigned i = 0; i < g->n; i++)
		vs_loop_join(&g->loops[i]);
	g->started = false;
}

void vs_loop_group_destroy(struct vs_loop_group *g)
{
	if (!g)
		return;
	if (g->started) {
		vs_loop_group_stop(g);
		vs_loop_group_join(g);
	}
	for (unsigned i = 0; i < g->n; i++)
		vs_loop_fini(&g->loops[i]);
	free(g->loops);
	free(g);
}

unsigned vs_loop_group_size(const struct vs_loop_group *g)
{
	return g->n;
}

struct vs_loop *vs_loop_group_loop(struct vs_loop_group *g, unsigned index)
{
	return index < g->n ? &g->loops[index] : NULL;
}

struct vs_loop *vs_loop_group_pick(struct vs_loop_group *g, uint64_t hint)
{
	if (hint == VS_LOOP_PICK_NEXT)
		hint = atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed);
	return &g->loops[hint % g->n];
}
