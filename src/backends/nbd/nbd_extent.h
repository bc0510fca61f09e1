/* SPDX-License-Identifier: MIT */
/* Reading a base:allocation block-status reply (nbd_extent.c). */
#ifndef VSTOR_BACKEND_NBD_EXTENT_H
#define VSTOR_BACKEND_NBD_EXTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * entries: nr_entries 32-bit values, (length, flags) pairs as libnbd hands
 * them to an extent callback, for a request of len bytes.  0 with the
 * allocation state of the first extent and its length (joined with the
 * following extents of the same state, at most len), or -EPROTO for a
 * reply that says nothing usable.
 */
int vs_nbdbe_extent_first(const uint32_t *entries, size_t nr_entries, uint64_t len, bool *mapped,
                     uint64_t *ext_len);

#endif
