/* SPDX-License-Identifier: MIT */
/* The backends compiled into vstor; registry.c lists them by name. */
#ifndef VSTOR_BACKENDS_BUILTIN_H
#define VSTOR_BACKENDS_BUILTIN_H

#include "vstor/backend.h"

extern const struct vs_backend_ops vs_backend_ram;
extern const struct vs_backend_ops vs_backend_file;

#endif
