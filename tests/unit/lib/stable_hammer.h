/* SPDX-License-Identifier: MIT */
/*
 * stable_hammer: stable loans (bdev.h VS_BIO_LEND_STABLE) under load, for
 * any backend that keeps them (ram, file on tmpfs).  Two threads write
 * 8 KiB all over the first `size` bytes while this one takes stable loans
 * of random ranges: a loan's bytes must not change while it is out
 * (copied at its start, compared after the writers had time), the
 * checksums a backend keeps of lent bytes, if it does (backend.h
 * lent_crc32c), must be theirs, and every write must complete, with 0.  The first `size` bytes must hold data
 * (written once) so every loan is lent.  Fails the cmocka test otherwise.
 */
#ifndef VSTOR_TEST_STABLE_HAMMER_H
#define VSTOR_TEST_STABLE_HAMMER_H

#include <stdint.h>

#include "vstor/bdev.h"

void stable_hammer(struct vs_bdev *b, uint64_t size, unsigned loans);

#endif
