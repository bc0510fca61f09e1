/* SPDX-License-Identifier: MIT */
/*
 * A tiny blocking NBD client for the fabric's unit tests: raw protocol,
 * so a test can also send what no real client would.  Every call returns
 * 0 / a value, or a negative errno; nothing asserts here.
 */
#ifndef VSTOR_TEST_NBD_CLIENT_H
#define VSTOR_TEST_NBD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nc {
	int fd;
	bool structured;
	uint64_t size;
	uint16_t tflags;
	uint32_t min_block, pref_block, max_payload;
};

/* Connect to 127.0.0.1:port and read the greeting (checks the magic). */
int  nc_connect(struct nc *c, int port);
void nc_close(struct nc *c);
int  nc_send(struct nc *c, const void *p, size_t n);
/* Read exactly n bytes (5 s limit); -ECONNRESET at EOF. */
int  nc_recv(struct nc *c, void *p, size_t n);
/* True if the server closed the connection (EOF within ms). */
bool nc_closed(struct nc *c, int ms);

int  nc_flags(struct nc *c, uint32_t flags);
int  nc_option(struct nc *c, uint32_t opt, const void *data, uint32_t len);
/* One option reply: type and data (at most cap bytes kept; the rest read). */
int  nc_opt_reply(struct nc *c, uint32_t *opt, uint32_t *type, void *data, uint32_t cap,
                  uint32_t *len);
/* STRUCTURED_REPLY (if structured), SET_META_CONTEXT base:allocation (if
 * meta), then GO name with NBD_INFO_BLOCK_SIZE: 0 or the error reply type. */
int  nc_go(struct nc *c, const char *name, bool structured, bool meta);

/* Send a request (with payload for WRITE). */
int  nc_request(struct nc *c, uint16_t type, uint16_t flags, uint64_t handle, uint64_t off,
                uint32_t len, const void *payload);
/*
 * Read one reply: simple (error, and `len` bytes of data for a successful
 * READ into buf) or the chunks of a structured one (OFFSET_DATA into buf,
 * BLOCK_STATUS descriptors into desc / *ndesc, ERROR → *error), until the
 * DONE chunk.  *handle gets its handle.
 */
int  nc_reply(struct nc *c, uint64_t *handle, uint32_t *error, void *buf, uint32_t len,
              uint32_t *desc, uint32_t *ndesc);
/* Request + reply for one command. */
int  nc_cmd(struct nc *c, uint16_t type, uint16_t flags, uint64_t off, uint32_t len, void *buf,
            uint32_t *error);

#endif
