/* SPDX-License-Identifier: MIT */
/*
 * Byte-level checks of sense data for the D_SENSE tests: the format is the
 * point, so these read the bytes where SPC-4 puts them instead of going
 * through a parser that accepts both formats.
 * Included after the cmocka includes.
 */
#ifndef TEST_SENSE_CHECK_H
#define TEST_SENSE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/scsi.h"

/* SPC-4 4.5.2.1: response code 72h, key / ASC / ASCQ in bytes 1..3. */
static inline void assert_desc_sense(const uint8_t *s, size_t len, uint8_t key, uint16_t asc_ascq)
{
	assert_true(len >= 8);
	assert_int_equal(s[0], 0x72);
	assert_int_equal(s[1] & 0x0f, key);
	assert_int_equal(s[2], VS_ASC(asc_ascq));
	assert_int_equal(s[3], VS_ASCQ(asc_ascq));
	assert_int_equal(len, 8u + s[7]);
}

/* SPC-4 4.5.3: response code 70h, key in byte 2, ASC / ASCQ in 12..13. */
static inline void assert_fixed_sense(const uint8_t *s, size_t len, uint8_t key,
                                      uint16_t asc_ascq)
{
	assert_int_equal(len, 18);
	assert_int_equal(s[0] & 0x7f, 0x70);
	assert_int_equal(s[2] & 0x0f, key);
	assert_int_equal(s[7], 10);
	assert_int_equal(s[12], VS_ASC(asc_ascq));
	assert_int_equal(s[13], VS_ASCQ(asc_ascq));
}

/* The descriptor of `type` in descriptor-format sense, or NULL. */
static inline const uint8_t *find_sense_desc(const uint8_t *s, size_t len, uint8_t type)
{
	size_t end = 8u + s[7];

	for (size_t at = 8; at + 2 <= end && at + 2 <= len; at += 2u + s[at + 1])
		if (s[at] == type)
			return &s[at];
	return NULL;
}

/* SPC-4 4.5.2.4.2: a sense key specific descriptor with a field pointer. */
static inline void assert_desc_field_ptr(const uint8_t *s, size_t len, bool in_cdb,
                                         uint16_t byte, int bit)
{
	const uint8_t *d = find_sense_desc(s, len, 0x02);

	assert_non_null(d);
	assert_int_equal(d[1], 0x06);
	assert_true(d[4] & 0x80);                       /* SKSV */
	assert_int_equal(!!(d[4] & 0x40), in_cdb);      /* C/D */
	if (bit >= 0)
		assert_int_equal(d[4] & 0x0f, 0x08 | bit);      /* BPV + bit */
	else
		assert_int_equal(d[4] & 0x08, 0);
	assert_int_equal(d[5] << 8 | d[6], byte);
}

#endif
