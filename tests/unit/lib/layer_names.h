/* SPDX-License-Identifier: MIT */
/*
 * The "(known: ...)" part of an unknown-layer error, as the registry of
 * this build says it: which backends and filters are built in depends on
 * the build (the rbd backend only with librbd), so tests name them from the
 * registry rather than by hand.
 *
 *   layer_names(VS_LAYER_BACKEND)   "file, ram, rbd" (a static buffer)
 */
#ifndef VSTOR_TEST_LAYER_NAMES_H
#define VSTOR_TEST_LAYER_NAMES_H

const char *layer_names(int kind);

#endif
