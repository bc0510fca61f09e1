/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "layer_names.h"
#include "vstor/bdev.h"

const char *layer_names(int kind)
{
	static _Thread_local char list[512];
	struct vs_layer_type t[64];
	size_t n = vs_layer_types(kind, t, 64), used = 0;

	list[0] = '\0';
	for (size_t i = 0; i < n && i < 64 && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
		                         t[i].name);
	return list;
}
