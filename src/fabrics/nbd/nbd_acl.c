/* SPDX-License-Identifier: MIT */
/*
 * Export access lists: client addresses (one address or a network in
 * CIDR notation, IPv4 or IPv6; an IPv4 client on an IPv6 socket is seen
 * as its IPv4 address) and TLS identities ("tls:NAME").
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_acl.h"

#define TLS_PREFIX "tls:"

static bool set_why(char *why, size_t len, const char *msg)
{
	if (why && len)
		snprintf(why, len, "%s", msg);
	return false;
}

bool vs_nbd_acl_parse(const char *s, struct nbd_acl_entry *e, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;

	memset(e, 0, sizeof(*e));
	if (!s || !*s)
		return set_why(why, whylen, "empty entry");
	if (!strncmp(s, TLS_PREFIX, strlen(TLS_PREFIX))) {
		const char *id = s + strlen(TLS_PREFIX);

		if (!*id || strlen(id) >= sizeof(e->identity))
			return set_why(why, whylen, "tls: needs an identity of 1-127 bytes");
		e->kind = NBD_ACL_TLS;
		snprintf(e->identity, sizeof(e->identity), "%s", id);
		return true;
	}
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return set_why(why, whylen, "not an IP address, network or tls:IDENTITY");
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, e->addr) == 1) {
		e->kind = NBD_ACL_V4;
		e->prefix = 32;
	} else if (inet_pton(AF_INET6, addr, e->addr) == 1) {
		e->kind = NBD_ACL_V6;
		e->prefix = 128;
	} else {
		return set_why(why, whylen, "not an IP address, network or tls:IDENTITY");
	}
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);

		if (!slash[1] || *end || p < 0 || p > e->prefix)
			return set_why(why, whylen, e->kind == NBD_ACL_V4 ? "prefix must be 0-32"
			                                                  : "prefix must be 0-128");
		e->prefix = (uint8_t)p;
	}
	return true;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* The peer as 4 (IPv4, also IPv4-mapped IPv6) or 16 bytes. */
static int peer_bytes(const struct sockaddr_storage *ss, uint8_t out[16])
{
	if (ss->ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return NBD_ACL_V4;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, &a->s6_addr[12], 4);
			return NBD_ACL_V4;
		}
		memcpy(out, a->s6_addr, 16);
		return NBD_ACL_V6;
	}
	return -1;
}

bool vs_nbd_acl_allows(const struct nbd_acl_entry *e, size_t n, const struct sockaddr_storage *peer,
                    const char *tls_identity)
{
	uint8_t pb[16];
	int kind;

	if (n == 0)
		return true;
	kind = peer ? peer_bytes(peer, pb) : -1;
	for (size_t i = 0; i < n; i++) {
		if (e[i].kind == NBD_ACL_TLS) {
			if (tls_identity && *tls_identity && !strcmp(e[i].identity, tls_identity))
				return true;
		} else if ((int)e[i].kind == kind && prefix_match(e[i].addr, pb, e[i].prefix)) {
			return true;
		}
	}
	return false;
}

bool vs_nbd_acl_tls_only(const struct nbd_acl_entry *e, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (e[i].kind != NBD_ACL_TLS)
			return false;
	return true;
}

bool vs_nbd_acl_entry_valid(const char *entry, char *why, size_t whylen)
{
	struct nbd_acl_entry e;

	return vs_nbd_acl_parse(entry, &e, why, whylen);
}
