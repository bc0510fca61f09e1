/* SPDX-License-Identifier: MIT */
/* The capabilities of a volume's legs together: see vs_volume_caps.h. */
#include "volume_caps.h"

void vs_volume_caps(struct vs_layer *self, size_t nlegs, struct vs_backend_caps *caps)
{
	struct vs_backend_caps all;

	vs_layer_lower_caps(self, 0, &all);
	for (size_t i = 1; i < nlegs; i++) {
		struct vs_backend_caps c;

		vs_layer_lower_caps(self, i, &c);
		all.can_write &= c.can_write;
		all.can_flush |= c.can_flush;
		all.can_fua &= c.can_fua;
		all.can_unmap &= c.can_unmap;
		all.can_zero &= c.can_zero;
		all.unmap_zeroes &= c.unmap_zeroes;
		all.is_rotational |= c.is_rotational;
		all.has_write_cache |= c.has_write_cache;
		if (c.unmap_granularity > all.unmap_granularity)
			all.unmap_granularity = c.unmap_granularity;
		if (c.logical_block_size > all.logical_block_size)
			all.logical_block_size = c.logical_block_size;
	}
	all.can_resize = false;
	*caps = all;
}
