/* SPDX-License-Identifier: MIT */
/*
 * Validators for names and addresses the config and the control plane
 * accept: iSCSI names (RFC 7143 §4.2.7) and portals (ADDR:PORT).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static bool fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t whylen, const char *fmt, ...)
{
	if (why && whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Characters allowed in an iSCSI name after stringprep normalisation
 * (RFC 7143 §4.2.7.2, RFC 3722): we accept the ASCII subset, i.e. lowercase
 * letters, digits, '-', '.' and ':'.
 */
static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == ':';
}

/* "iqn." yyyy-mm "." reversed-domain [ ":" anything ]  (RFC 7143 §4.2.7.2) */
static bool iqn_valid(const char *name, char *why, size_t whylen)
{
	const char *p = name + 4;

	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)p[i]))
			return fail(why, whylen, "iqn name needs a date yyyy-mm after \"iqn.\"");
	if (p[4] != '-' || !isdigit((unsigned char)p[5]) || !isdigit((unsigned char)p[6]))
		return fail(why, whylen, "iqn name needs a date yyyy-mm after \"iqn.\"");
	int month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12)
		return fail(why, whylen, "iqn date month must be 01-12, got %.2s", p + 5);
	if (p[7] != '.')
		return fail(why, whylen, "iqn name needs '.' and a reversed domain name after the date");
	p += 8;

	/* Naming authority: reversed DNS labels up to the first ':'.  The
	 * character set was checked by the caller; a label must not be empty
	 * nor start or end with '-' (RFC 1035 2.3.1 host names). */
	size_t label = 0;
	char prev = '.';
	for (; *p && *p != ':'; prev = *p, p++) {
		if (*p == '.') {
			if (label == 0)
				return fail(why, whylen, "iqn naming authority has an empty domain label");
			if (prev == '-')
				return fail(why, whylen, "iqn domain labels must not end with '-'");
			label = 0;
			continue;
		}
		if (*p == '-' && label == 0)
			return fail(why, whylen, "iqn domain labels must not start with '-'");
		label++;
	}
	if (label == 0)
		return fail(why, whylen, "iqn naming authority (reversed domain name) is missing or ends in '.'");
	if (prev == '-')
		return fail(why, whylen, "iqn domain labels must not end with '-'");
	return true;
}

bool vs_iscsi_name_valid(const char *name, char *why, size_t whylen)
{
	if (!name || !*name)
		return fail(why, whylen, "must not be empty");
	size_t n = strlen(name);
	if (n > VS_ISCSI_NAME_MAX)
		return fail(why, whylen, "longer than %d bytes (RFC 7143 4.2.7.1)", VS_ISCSI_NAME_MAX);

	if (strncmp(name, "eui.", 4) == 0) {
		/* EUI-64 as 16 hex digits (RFC 7143 §4.2.7.3) */
		if (n != 20 || !all_hex(name + 4, 16))
			return fail(why, whylen, "eui name must be \"eui.\" and 16 hex digits");
		return true;
	}
	if (strncmp(name, "naa.", 4) == 0) {
		/* NAA 64-bit or 128-bit identifier (RFC 7143 §4.2.7.4) */
		if ((n != 20 && n != 36) || !all_hex(name + 4, n - 4))
			return fail(why, whylen, "naa name must be \"naa.\" and 16 or 32 hex digits");
		return true;
	}
	if (strncmp(name, "iqn.", 4) != 0)
		return fail(why, whylen, "must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7)");
	for (size_t i = 0; i < n; i++) {
		if (!name_char_ok(name[i])) {
			if (name[i] >= 'A' && name[i] <= 'Z')
				return fail(why, whylen, "must be lowercase (RFC 7143 4.2.7.2), got '%c'", name[i]);
			return fail(why, whylen,
			            "may hold only lowercase letters, digits, '-', '.' and ':' (RFC 7143 4.2.7.2), "
			            "got byte 0x%02x",
			            (unsigned char)name[i]);
		}
	}
	return iqn_valid(name, why, whylen);
}

bool vs_portal_valid(const char *s, char *why, size_t whylen)
{
	char addr[64];
	const char *port;

	if (!s || !*s)
		return fail(why, whylen, "must be ADDR:PORT or [IPv6]:PORT, got an empty string");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return fail(why, whylen, "must be [IPv6]:PORT, got \"%s\"", s);
		size_t len = (size_t)(close - s - 1);
		if (len == 0 || len >= sizeof(addr))
			return fail(why, whylen, "bad IPv6 address in \"%s\"", s);
		memcpy(addr, s + 1, len);
		addr[len] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, addr, &a6) != 1)
			return fail(why, whylen, "\"%s\" is not an IPv6 address", addr);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return fail(why, whylen, "must be ADDR:PORT or [IPv6]:PORT, got \"%s\"", s);
		if (strchr(s, ':') != colon)
			return fail(why, whylen, "IPv6 addresses need brackets: [ADDR]:PORT, got \"%s\"", s);
		size_t len = (size_t)(colon - s);
		if (len == 0 || len >= sizeof(addr))
			return fail(why, whylen, "must be ADDR:PORT, got \"%s\"", s);
		memcpy(addr, s, len);
		addr[len] = '\0';
		struct in_addr a4;
		if (inet_pton(AF_INET, addr, &a4) != 1)
			return fail(why, whylen, "\"%s\" is not an IPv4 address", addr);
		port = colon + 1;
	}
	if (!*port)
		return fail(why, whylen, "port missing in \"%s\"", s);
	unsigned long v = 0;
	for (const char *p = port; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return fail(why, whylen, "port must be a number 1-65535, got \"%s\"", port);
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return fail(why, whylen, "port must be 1-65535, got %s", port);
	}
	if (v == 0)
		return fail(why, whylen, "port must be 1-65535, got %s", port);
	return true;
}

void vs_config_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const struct { uint64_t mul; char suffix; } units[] = {
		{ 1ULL << 40, 'T' }, { 1ULL << 30, 'G' }, { 1ULL << 20, 'M' }, { 1ULL << 10, 'K' },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (bytes >= units[i].mul && bytes % units[i].mul == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", bytes / units[i].mul, units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, bytes);
}
