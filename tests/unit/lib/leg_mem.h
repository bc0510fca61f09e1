/* SPDX-License-Identifier: MIT */
/*
 * leg_mem: a backend for the volume tests (concat, stripe, mirror): a
 * memory disk that a test reaches by its `id` option, to look at what a
 * volume sent to each leg and to make a leg misbehave.
 *
 *   { "legmem", id=N, size=1M [, lbs=4096] }
 *   struct leg_mem *m = leg_mem(N);      // after the stack opened
 *   m->data                              // the leg's bytes
 *   leg_mem_count(m, VS_BIO_WRITE)       // bios of that op it got
 *   leg_mem_last(m, k)                   // the k-th most recent bio (op, offset, length, iovcnt)
 *   leg_mem_hold(m, true)                // keep bios instead of completing them
 *   leg_mem_release(m, 0)                // complete the kept ones (0: do them; else that error)
 *   leg_mem_fail(m, VS_BIO_WRITE, -EIO)  // later bios of op (0: every op) fail; err 0 stops
 *   leg_mem_refuse(m, -EAGAIN)           // submit refuses (0 stops)
 *   leg_mem_event(m, VS_BDEV_EV_LOST, 5000)
 * Bios complete inline unless held; held ones come back on reset (and
 * cancel) with -ECANCELED.  Thread-safe.
 */
#ifndef VSTOR_TEST_LEG_MEM_H
#define VSTOR_TEST_LEG_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "vstor/backend.h"

#define LEG_MEM_MAX 16

struct leg_rec {
	uint8_t op;
	uint32_t flags;
	uint64_t offset, length;
	int iovcnt;
};

struct leg_mem {
	uint8_t *data;
	uint64_t size;
	unsigned id;
	bool open;
};

/* Register the backend (once per test program). */
void leg_mem_register(void);
/* The open leg with this id, or NULL. */
struct leg_mem *leg_mem(unsigned id);
int  leg_mem_count(struct leg_mem *m, uint8_t op);
/* k = 0: the most recent */
struct leg_rec leg_mem_last(struct leg_mem *m, int k);
void leg_mem_clear(struct leg_mem *m);
void leg_mem_hold(struct leg_mem *m, bool hold);
/* Hold only bios of this op (0: every op) while holding. */
void leg_mem_hold_op(struct leg_mem *m, uint8_t op);
int  leg_mem_held(struct leg_mem *m);
void leg_mem_release(struct leg_mem *m, int err);
void leg_mem_fail(struct leg_mem *m, uint8_t op, int err);
void leg_mem_refuse(struct leg_mem *m, int err);
void leg_mem_event(struct leg_mem *m, int type, uint32_t hold_ms);
int  leg_mem_resets(struct leg_mem *m);
/* Bytes READ from this leg since the last clear. */
uint64_t leg_mem_read_bytes(struct leg_mem *m);

#endif
