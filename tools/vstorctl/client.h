/* SPDX-License-Identifier: MIT */
/* vstorctl's side of the control protocol (src/ctl/ctl.h). */
#ifndef VSTORCTL_CLIENT_H
#define VSTORCTL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/*
 * Send one request to the daemon at `socket_path` and wait for its reply.
 * Returns the "result" object (caller owns it), or NULL with one line in
 * err: the server's error message, or why the daemon could not be asked.
 * When the daemon refused, *error is its error object ({"code","message"},
 * caller owns it); when it could not be asked, *error is NULL.
 * Takes ownership of params (may be NULL).
 */
json_t *vsc_call(const char *socket_path, const char *method, json_t *params, char *err,
                 size_t errlen, json_t **error);

#endif
