/* SPDX-License-Identifier: MIT */
/*
 * Numeric socket addresses as vstor's configs write them: "ADDR:PORT"
 * for IPv4, "[ADDR]:PORT" for IPv6 (no host names: a portal never
 * depends on DNS).
 */
#ifndef VSTOR_UTIL_ADDR_H
#define VSTOR_UTIL_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* 0, or -EINVAL if s is not a numeric ADDR:PORT / [V6ADDR]:PORT. */
int vs_addr_parse(const char *s, struct sockaddr_storage *ss);
/* The length bind/connect take for ss. */
socklen_t vs_addr_len(const struct sockaddr_storage *ss);
/* "ADDR:PORT" / "[ADDR]:PORT" (an IPv4-mapped IPv6 address as IPv4). */
void vs_addr_format(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
