/* SPDX-License-Identifier: MIT */
/*
 * Control-plane requests for unit tests (test_ctl_layers.c,
 * test_ctl_volume.c): a running state from a config, requests through
 * vs_ctl_handle, what they answer, and the model as config.save writes it.
 * Each helper fails the test (cmocka) when the answer is not what it
 * expects.
 *
 *   struct vs_ctl_state *st = ctl_req_state(json, loops);  // loops may be NULL
 *   json_t *r = ctl_req_ok(st, "{\"method\":\"lun.list\"}");   // the result; json_decref it
 *   ctl_req_refused(st, req, "params.lun: ...");            // exactly this message
 *   char *text = ctl_req_saved(st);                         // free it
 *   ctl_req_load_fails(json, "c.json: targets[0]...");      // the loader's one line
 */
#ifndef VSTOR_TEST_CTL_REQ_H
#define VSTOR_TEST_CTL_REQ_H

#include <jansson.h>

#include "ctl/ctl.h"

struct vs_loop_group;

struct vs_ctl_state *ctl_req_state(const char *json, struct vs_loop_group *loops);
json_t *ctl_req(struct vs_ctl_state *st, const char *req);
json_t *ctl_req_ok(struct vs_ctl_state *st, const char *req);
void ctl_req_refused(struct vs_ctl_state *st, const char *req, const char *msg);
char *ctl_req_saved(struct vs_ctl_state *st);
void ctl_req_load_fails(const char *json, const char *want);

#endif
