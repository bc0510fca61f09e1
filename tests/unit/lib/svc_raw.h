/* SPDX-License-Identifier: MIT */
/*
 * svc_raw: a service that speaks doc/service-protocol.md by hand, without
 * libvstor-service, for tests that must write exactly what they want into
 * the rings (well-behaved, wrong or hostile).
 *
 *   struct svc_raw *r = svc_raw_connect(path, "name", "iqn...", 64);
 *   svc_raw_attach(r, 1, &reply);                // reply.status, .flags
 *   struct vs_svc_sqe e;
 *   svc_raw_take(r, &e, 2000);                   // next submission entry
 *   svc_raw_complete(r, &(struct vs_svc_cqe){ .tag = e.tag, ... });
 *   svc_raw_close(r);
 */
#ifndef VSTOR_TEST_SVC_RAW_H
#define VSTOR_TEST_SVC_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/service_proto.h"

struct svc_raw {
	int sock, sq_efd, cq_efd;
	uint8_t *area;
	size_t area_bytes;
	struct vs_svc_welcome w;
	struct vs_svc_area_hdr *hdr;
	struct vs_svc_sqe *sq;
	struct vs_svc_cqe *cq;
	struct vs_svc_nexus_rec *nexus;
	uint8_t *data;
	uint32_t sq_head, cq_tail;
	uint64_t next_id;
	char error[VS_SVC_TEXT_MAX];    /* an ERROR message vstord sent, if any */
};

/* Connect and send HELLO (hello may be NULL for a plain one with these
 * values); NULL if no WELCOME came (then *error_out, if given, holds
 * vstord's ERROR message or ""). */
struct svc_raw *svc_raw_connect(const char *path, const char *name, const char *target,
                                uint32_t entries);
struct svc_raw *svc_raw_connect_hello(const char *path, const struct vs_svc_hello *hello,
                                      char *error_out, size_t len);
void svc_raw_close(struct svc_raw *r);
/* A plain HELLO to edit. */
void svc_raw_hello_init(struct vs_svc_hello *h, const char *name, const char *target,
                        uint32_t entries);

/* ATTACH / DETACH and wait (ms) for the REPLY; 0 when it came. */
int  svc_raw_attach(struct svc_raw *r, uint64_t lun, struct vs_svc_reply *out);
int  svc_raw_detach(struct svc_raw *r, uint64_t lun, bool force, struct vs_svc_reply *out);
/* REGION `id` of `bytes` from memfd `fd` (-1: none) and wait for the
 * REPLY; 0 when it came. */
int  svc_raw_region(struct svc_raw *r, uint32_t id, int fd, uint64_t bytes,
                    struct vs_svc_reply *out);
/* Wait up to ms for any message; its type (0: none, -1: closed). */
int  svc_raw_recv(struct svc_raw *r, void *buf, size_t len, int ms);
/* Send raw bytes as one message (hostile tests). */
int  svc_raw_send(struct svc_raw *r, const void *buf, size_t len);

/* The next submission entry, waiting up to ms; false if none came. */
bool svc_raw_take(struct svc_raw *r, struct vs_svc_sqe *e, int ms);
/* Write a completion and ring the doorbell. */
void svc_raw_complete(struct svc_raw *r, const struct vs_svc_cqe *c);
/* The same without the doorbell, whatever cq_flags says. */
void svc_raw_complete_quiet(struct svc_raw *r, const struct vs_svc_cqe *c);
/* GOOD, xfer_len = data_length for data-in. */
void svc_raw_complete_good(struct svc_raw *r, const struct vs_svc_sqe *e);
/* True once vstord has closed the connection (waits up to ms). */
bool svc_raw_closed(struct svc_raw *r, int ms);

#endif
