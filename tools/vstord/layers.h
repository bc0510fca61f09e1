/* SPDX-License-Identifier: MIT */
#ifndef VSTORD_LAYERS_H
#define VSTORD_LAYERS_H

#include <stdio.h>

/* Every registered backend and filter with its options (for --help). */
void vsd_print_layers(FILE *f);

#endif
