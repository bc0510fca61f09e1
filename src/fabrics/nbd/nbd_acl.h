/* SPDX-License-Identifier: MIT */
/* Export access lists (nbd_acl.c). */
#ifndef VSTOR_NBD_ACL_H
#define VSTOR_NBD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vstor/nbd.h"

enum { NBD_ACL_V4 = 1, NBD_ACL_V6, NBD_ACL_TLS };

struct nbd_acl_entry {
	uint8_t kind;
	uint8_t prefix;                 /* bits that must match */
	uint8_t addr[16];
	char identity[128];
};

/* Parse "ADDR", "ADDR/PREFIX" or "tls:IDENTITY"; false with why. */
bool vs_nbd_acl_parse(const char *s, struct nbd_acl_entry *e, char *why, size_t whylen);
/* Empty list: everyone.  Else the peer's address or its TLS identity
 * (NULL or "" without TLS) must match an entry. */
bool vs_nbd_acl_allows(const struct nbd_acl_entry *e, size_t n, const struct sockaddr_storage *peer,
                    const char *tls_identity);
/* Only tls: entries: the export is served over TLS only. */
bool vs_nbd_acl_tls_only(const struct nbd_acl_entry *e, size_t n);

#endif
