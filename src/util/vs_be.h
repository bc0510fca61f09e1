/* SPDX-License-Identifier: MIT */
/*
 * Big-endian fields, as SCSI (SAM-5 3.5: "most significant byte first")
 * and network protocols lay them out.
 */
#ifndef VSTOR_UTIL_BE_H
#define VSTOR_UTIL_BE_H

#include <stdint.h>

static inline uint16_t vs_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t vs_get32(const uint8_t *p)
{
	return ((uint32_t)vs_get16(p) << 16) | vs_get16(p + 2);
}
static inline uint64_t vs_get64(const uint8_t *p)
{
	return ((uint64_t)vs_get32(p) << 32) | vs_get32(p + 4);
}
static inline void vs_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void vs_put32(uint8_t *p, uint32_t v)
{
	vs_put16(p, (uint16_t)(v >> 16));
	vs_put16(p + 2, (uint16_t)v);
}
static inline void vs_put64(uint8_t *p, uint64_t v)
{
	vs_put32(p, (uint32_t)(v >> 32));
	vs_put32(p + 4, (uint32_t)v);
}

#endif
