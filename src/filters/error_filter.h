/* SPDX-License-Identifier: MIT */
/*
 * The error filter's white-box view for its tests (error.c).  Nothing on
 * the I/O path or in another layer includes this.
 */
#ifndef VSTOR_FILTERS_ERROR_FILTER_H
#define VSTOR_FILTERS_ERROR_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "vstor/filter.h"

/* Requests the error filter at pre-order `layer` of `bdev` has failed since
 * it opened; 0 if that layer is not an error filter. */
uint64_t vs_error_filter_injected(struct vs_bdev *bdev, size_t layer);

#endif
