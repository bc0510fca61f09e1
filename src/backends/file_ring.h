/* SPDX-License-Identifier: MIT */
/*
 * What the file backend's io_uring rings can tell about themselves, for
 * tests (tests/unit/test_backend_file.c) and for anyone who wants to see
 * how requests spread over the rings.  `h` is the handle of an open "file"
 * bdev (struct vs_bdev.h); these must not be called on any other backend.
 */
#ifndef VSTOR_BACKENDS_FILE_RING_H
#define VSTOR_BACKENDS_FILE_RING_H

#include <stdint.h>

struct file_ring_stats {
	uint64_t bios;       /* bios put on this ring (not those done inline) */
	uint64_t pended;     /* of those, how many had to wait in its pending list */
	uint64_t completed;  /* bios whose done() its completion thread called */
};

/* How many rings the file has. */
unsigned vs_file_ring_count(void *h);
/* The ring the calling thread submits to (it gets one now if it has none). */
unsigned vs_file_ring_of_caller(void *h);
/* A snapshot of ring i's counters (i < vs_file_ring_count(h)). */
void vs_file_ring_get_stats(void *h, unsigned i, struct file_ring_stats *out);

#endif
