/* SPDX-License-Identifier: MIT */
/*
 * The backends and filters vstord knows (built in, or loaded from plugins),
 * with every option as the layer's own schema describes it: the part of
 * --help that cannot be written down in advance.
 */
#include <stdio.h>

#include "layers.h"
#include "vstor/bdev.h"

static const char *type_name(uint8_t type)
{
	static const char *const names[] = { "", "TEXT", "0|1", "N", "SIZE", "RATE", "DURATION",
	                                     "PATH", "" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

void vsd_print_layers(FILE *f)
{
	struct vs_layer_type t[64];
	size_t n = vs_layer_types(0, t, 64);
	int kind = 0;

	for (size_t i = 0; i < n && i < 64; i++) {
		if (t[i].kind != kind) {
			kind = t[i].kind;
			fprintf(f, "\n%s (\"%s\": NAME; options as keys of the %s):\n",
			        kind == VS_LAYER_BACKEND ? "Backends" : "Filters",
			        kind == VS_LAYER_BACKEND ? "backend" : "filters[].name",
			        kind == VS_LAYER_BACKEND ? "LUN" : "filter object");
		}
		fprintf(f, "  %s: %s\n", t[i].name, t[i].description);
		for (const struct vs_opt_desc *o = t[i].options; o && o->name; o++) {
			char left[224], choices[192] = "";
			size_t used = 0;

			for (const char *const *c = o->choices; c && *c; c++) {
				int w = snprintf(choices + used, sizeof(choices) - used, "%s%s",
				                 used ? "|" : "", *c);

				if (w > 0 && (size_t)w < sizeof(choices) - used) {
					used += (size_t)w;
				} else {
					/* no half a choice: end at the last whole one */
					choices[used] = 0;
					break;
				}
			}
			snprintf(left, sizeof(left), "%s=%s", o->name, used ? choices : type_name(o->type));
			fprintf(f, "    %-26s %s%s%s%s%s%s\n", left, o->help,
			        (o->flags & VS_OPT_REQUIRED) ? " (required)" : "",
			        o->dflt ? " (default " : "", o->dflt ? o->dflt : "", o->dflt ? ")" : "",
			        (o->flags & VS_OPT_RUNTIME) ? " [run-time]" : "");
		}
	}
}
