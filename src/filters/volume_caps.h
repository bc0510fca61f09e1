/* SPDX-License-Identifier: MIT */
/*
 * What a volume over several legs (concat, stripe, mirror) can do: what
 * every leg can (write, FUA, unmap, zeroes that read back), a flush and a
 * write cache if any leg has one, the largest logical block of any leg.
 * Never resizable: a volume's layout is fixed when it opens.
 */
#ifndef VSTOR_FILTERS_VOLUME_CAPS_H
#define VSTOR_FILTERS_VOLUME_CAPS_H

#include <stddef.h>

#include "vstor/filter.h"

void vs_volume_caps(struct vs_layer *self, size_t nlegs, struct vs_backend_caps *caps);

#endif
