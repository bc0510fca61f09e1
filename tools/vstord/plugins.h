/* SPDX-License-Identifier: MIT */
/*
 * Loading backend and filter plugins at start-up (doc/plugins.md), before
 * the configuration is read, so it may name their types.
 */
#ifndef VSTORD_PLUGINS_H
#define VSTORD_PLUGINS_H

#include <stdbool.h>

/* Load every *.so in dir, logging one line per plugin loaded (its types)
 * and one error line naming the file per plugin refused.  A missing
 * default directory is no error; a missing directory the user named
 * (`given`) is.  0, or -1 if anything failed (after trying every file). */
int vsd_load_plugins(const char *dir, bool given);

#endif
