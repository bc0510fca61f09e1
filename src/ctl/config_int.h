/* SPDX-License-Identifier: MIT */
/*
 * Inside the config loader (config_json.c, config_lun.c, config_load.c):
 * the loader's state and the typed JSON getters.  Each getter returns 0,
 * or -EINVAL after writing the one-line error; an absent optional key
 * leaves *out alone.
 */
#ifndef VSTOR_CTL_CONFIG_INT_H
#define VSTOR_CTL_CONFIG_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct vs_cfg_loader {
	const char *file;       /* NULL: a control-plane request (no file name in errors) */
	char *err;
	size_t errlen;
};

#define VS_CFG_PATH_MAX 160

/* Copy src escaping control bytes as \xNN: errors stay one line. */
void vs_cfg_one_line(char *dst, size_t dstlen, const char *src);
int  vs_cfg_bad(struct vs_cfg_loader *L, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Field paths in VS_CFG_PATH_MAX buffers: "parent.key", "parent.key[i]". */
void vs_cfg_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vs_cfg_join(char *out, const char *parent, const char *key);
void vs_cfg_index_path(char *out, const char *parent, const char *key, size_t i);
size_t vs_cfg_edit_distance(const char *a, const char *b);
/* Refuse keys of obj that are not in `allowed` (NULL-terminated). */
int  vs_cfg_check_keys(struct vs_cfg_loader *L, json_t *obj, const char *parent,
                       const char *const *allowed);
int  vs_cfg_get_object(struct vs_cfg_loader *L, json_t *parent_obj, const char *parent,
                       const char *key, json_t **out);
int  vs_cfg_get_array(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                      json_t **out);
/* printable, non-empty, at most maxlen bytes; NULL if absent */
int  vs_cfg_get_string(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                       bool required, size_t maxlen, char **out);
int  vs_cfg_get_uint(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                     uint64_t min, uint64_t max, bool *present, uint64_t *out);
int  vs_cfg_get_u32(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                    uint32_t min, uint32_t max, uint32_t *out);
int  vs_cfg_get_bool(struct vs_cfg_loader *L, json_t *obj, const char *parent, const char *key,
                     bool *present, bool *out);

/* config_lun.c: one LUN object (targets[].luns[], or lun.add's params) */
int  vs_cfg_load_lun(struct vs_cfg_loader *L, json_t *obj, const char *path,
                     struct vs_config_lun *l);
/* config_lun.c: one leg of a volume (lun.replace_leg's params.leg) */
int  vs_cfg_load_leg(struct vs_cfg_loader *L, json_t *obj, const char *path,
                     struct vs_config_stack *st);
/* Make the LUN's relative file names (options of type path) absolute
 * against dir; `where` is the LUN's field path for errors. */
int  vs_cfg_lun_resolve_paths(struct vs_cfg_loader *L, const char *dir, const char *where,
                              struct vs_config_lun *l);

#endif
