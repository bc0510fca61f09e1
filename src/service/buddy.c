/* SPDX-License-Identifier: MIT */
/* The data area's buddy allocator: see buddy.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buddy.h"

#define BUDDY_FREE 0x80u
#define BUDDY_NONE 0xffu
#define NIL UINT32_MAX

static void list_push(struct buddy *b, unsigned order, uint32_t u)
{
	b->prev[u] = NIL;
	b->next[u] = b->head[order];
	if (b->head[order] != NIL)
		b->prev[b->head[order]] = u;
	b->head[order] = u;
	b->state[u] = (uint8_t)(order | BUDDY_FREE);
}

static void list_remove(struct buddy *b, unsigned order, uint32_t u)
{
	if (b->prev[u] != NIL)
		b->next[b->prev[u]] = b->next[u];
	else
		b->head[order] = b->next[u];
	if (b->next[u] != NIL)
		b->prev[b->next[u]] = b->prev[u];
	b->state[u] = BUDDY_NONE;
}

int vs_buddy_init(struct buddy *b, uint32_t nunits, unsigned max_order)
{
	memset(b, 0, sizeof(*b));
	if (max_order >= BUDDY_MAX_ORDERS || nunits == 0 || nunits % (1u << max_order))
		return -EINVAL;
	b->nunits = nunits;
	b->max_order = max_order;
	b->next = malloc(sizeof(uint32_t) * nunits);
	b->prev = malloc(sizeof(uint32_t) * nunits);
	b->state = malloc(nunits);
	if (!b->next || !b->prev || !b->state) {
		vs_buddy_fini(b);
		return -ENOMEM;
	}
	memset(b->state, BUDDY_NONE, nunits);
	for (unsigned o = 0; o < BUDDY_MAX_ORDERS; o++)
		b->head[o] = NIL;
	/* highest address first, so the lowest block is handed out first and
	 * a quiet service touches few pages */
	for (uint32_t u = nunits; u > 0;) {
		u -= 1u << max_order;
		list_push(b, max_order, u);
	}
	b->free_units = nunits;
	return 0;
}

void vs_buddy_fini(struct buddy *b)
{
	free(b->next);
	free(b->prev);
	free(b->state);
	b->next = b->prev = NULL;
	b->state = NULL;
}

unsigned vs_buddy_order_for(uint32_t n)
{
	unsigned o = 0;

	while ((1ull << o) < n)
		o++;
	return o;
}

int64_t vs_buddy_alloc(struct buddy *b, unsigned order)
{
	unsigned o = order;
	uint32_t u;

	if (order > b->max_order)
		return -1;
	while (o <= b->max_order && b->head[o] == NIL)
		o++;
	if (o > b->max_order)
		return -1;
	u = b->head[o];
	list_remove(b, o, u);
	/* split: keep the low half, free the high halves */
	while (o > order) {
		o--;
		list_push(b, o, u + (1u << o));
	}
	b->state[u] = (uint8_t)order;
	b->free_units -= 1u << order;
	return u;
}

bool vs_buddy_free(struct buddy *b, uint32_t u)
{
	unsigned o;

	if (u >= b->nunits || b->state[u] == BUDDY_NONE || (b->state[u] & BUDDY_FREE))
		return false;
	o = b->state[u];
	b->free_units += 1u << o;
	while (o < b->max_order) {
		uint32_t buddy = u ^ (1u << o);

		if (b->state[buddy] != (uint8_t)(o | BUDDY_FREE))
			break;
		list_remove(b, o, buddy);
		b->state[u] = BUDDY_NONE;
		u &= ~(1u << o);
		o++;
	}
	list_push(b, o, u);
	return true;
}
