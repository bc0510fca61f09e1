/* SPDX-License-Identifier: MIT */
/*
 * Sense data, both formats (SPC-4 4.5): fixed (response code 70h current,
 * 71h deferred; 4.5.3) and descriptor (72h / 73h; 4.5.2).  A device may
 * answer in either (descriptor format when the control mode page's D_SENSE
 * is set), so the class layer reads both.
 */
#include <errno.h>
#include <string.h>

#include "class_int.h"

#define FIXED_MIN_LEN   14u     /* through the ASCQ byte */
#define DESC_HDR_LEN    8u
#define DESC_INFORMATION 0x00   /* SPC-4 4.5.2.2 */

static void parse_fixed(const uint8_t *s, size_t len, struct vs_sense *out)
{
	size_t avail = 8u + s[7];   /* ADDITIONAL SENSE LENGTH says how much is valid */

	if (avail > len)
		avail = len;
	out->key = s[2] & 0x0f;
	if (avail >= FIXED_MIN_LEN) {
		out->asc = s[12];
		out->ascq = s[13];
	}
	/* VALID bit: INFORMATION (bytes 3..6) means something */
	if (s[0] & 0x80) {
		out->info_valid = true;
		out->info = class_get32(&s[3]);
	}
}

static void parse_descriptor(const uint8_t *s, size_t len, struct vs_sense *out)
{
	size_t end = DESC_HDR_LEN + s[7];

	if (end > len)
		end = len;
	out->key = s[1] & 0x0f;
	out->asc = s[2];
	out->ascq = s[3];
	/* walk the descriptors: type, ADDITIONAL LENGTH, body */
	for (size_t at = DESC_HDR_LEN; at + 2 <= end;) {
		uint8_t type = s[at];
		size_t dlen = 2u + s[at + 1];

		if (at + dlen > end)
			break;      /* a descriptor cut short: ignore the rest */
		if (type == DESC_INFORMATION && dlen >= 12 && (s[at + 2] & 0x80)) {
			out->info_valid = true;
			out->info = class_get64(&s[at + 4]);
		}
		at += dlen;
	}
}

int vs_sense_parse(const uint8_t *sense, size_t len, struct vs_sense *out)
{
	uint8_t code;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!sense || len < DESC_HDR_LEN)
		return -EINVAL;
	code = sense[0] & 0x7f;
	out->response_code = code;
	switch (code) {
	case 0x70:
	case 0x71:
		out->deferred = code == 0x71;
		parse_fixed(sense, len, out);
		return 0;
	case 0x72:
	case 0x73:
		out->deferred = code == 0x73;
		parse_descriptor(sense, len, out);
		return 0;
	default:
		return -EINVAL;
	}
}
