/* SPDX-License-Identifier: MIT */
/*
 * The one sense data builder of vstor (SPC-4 4.5).  Every layer that
 * answers CHECK CONDITION or returns sense as parameter data (REQUEST
 * SENSE, the iSCSI asynchronous message) describes what it wants to say in
 * a struct vs_sense and lets vs_sense_build lay it out, in fixed format
 * (SPC-4 4.5.3) or descriptor format (SPC-4 4.5.2) as the caller says.
 * Which format a LUN wants is the port's business (sense_format.c); this
 * file knows nothing of LUNs, so the fabric, the port and every miniport
 * reach it through srb.h without depending on each other.
 *
 * It lives in the port library because that is where the SRB helpers a
 * miniport finishes its SRBs with already live, and every user of sense
 * links the port anyway; it uses no port state.
 */
#include <string.h>

#include "vstor/scsi.h"
#include "vstor/srb.h"

#define FIXED_LEN         18    /* SPC-4 4.5.3: 8 + ADDITIONAL SENSE LENGTH 10 */
#define DESC_HDR_LEN      8     /* SPC-4 4.5.2.1 */
#define DESC_INFO         0x00  /* SPC-4 4.5.2.2 information descriptor */
#define DESC_CMD_SPECIFIC 0x01  /* SPC-4 4.5.2.3 command-specific information */
#define DESC_SKS          0x02  /* SPC-4 4.5.2.4 sense key specific */
#define RESP_FIXED        0x70  /* current error, fixed format */
#define RESP_DESC         0x72  /* current error, descriptor format */
#define SKSV              0x80  /* sense-key specific valid (SPC-4 4.5.2.4.1) */
#define SENSE_LONGEST     (DESC_HDR_LEN + 12 + 12 + 8)

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* SPC-4 4.5.3: INFORMATION and COMMAND-SPECIFIC INFORMATION are 4 bytes
 * here; a larger value cannot be told (for INFORMATION, VALID stays 0). */
static size_t lay_out_fixed(uint8_t *s, const struct vs_sense *in)
{
	s[0] = RESP_FIXED;
	s[2] = in->key & 0x0f;
	if (in->info_valid && in->info <= UINT32_MAX) {
		s[0] |= 0x80;                   /* VALID */
		put_be(&s[3], in->info, 4);
	}
	s[7] = FIXED_LEN - 8;                   /* ADDITIONAL SENSE LENGTH */
	if (in->cmd_specific_valid && in->cmd_specific <= UINT32_MAX)
		put_be(&s[8], in->cmd_specific, 4);
	s[12] = VS_ASC(in->asc_ascq);
	s[13] = VS_ASCQ(in->asc_ascq);
	if (in->sks_valid) {
		memcpy(&s[15], in->sks, 3);
		s[15] |= SKSV;
	}
	return FIXED_LEN;
}

/* An information (00h) or command-specific information (01h) descriptor:
 * ADDITIONAL LENGTH 0Ah, an 8-byte value (SPC-4 4.5.2.2, 4.5.2.3). */
static size_t put_value_descriptor(uint8_t *d, uint8_t type, uint64_t value)
{
	d[0] = type;
	d[1] = 0x0a;
	if (type == DESC_INFO)
		d[2] = 0x80;                    /* VALID */
	put_be(&d[4], value, 8);
	return 12;
}

static size_t lay_out_descriptor(uint8_t *s, const struct vs_sense *in)
{
	size_t n = DESC_HDR_LEN;

	s[0] = RESP_DESC;
	s[1] = in->key & 0x0f;
	s[2] = VS_ASC(in->asc_ascq);
	s[3] = VS_ASCQ(in->asc_ascq);
	if (in->info_valid)
		n += put_value_descriptor(&s[n], DESC_INFO, in->info);
	if (in->cmd_specific_valid)
		n += put_value_descriptor(&s[n], DESC_CMD_SPECIFIC, in->cmd_specific);
	if (in->sks_valid) {
		s[n + 0] = DESC_SKS;
		s[n + 1] = 0x06;
		memcpy(&s[n + 4], in->sks, 3);
		s[n + 4] |= SKSV;
		n += 8;
	}
	s[7] = (uint8_t)(n - DESC_HDR_LEN);     /* ADDITIONAL SENSE LENGTH */
	return n;
}

size_t vs_sense_build(uint8_t *buf, size_t len, bool descriptor, const struct vs_sense *in)
{
	uint8_t s[SENSE_LONGEST] = {0};
	size_t n = descriptor ? lay_out_descriptor(s, in) : lay_out_fixed(s, in);

	if (n > len)
		n = len;
	memcpy(buf, s, n);
	return n;
}

/* SPC-4 4.5.2.4.2 field pointer: SKSV, C/D (1 = CDB), BPV + BIT POINTER,
 * FIELD POINTER. */
void vs_sense_field_pointer(struct vs_sense *s, bool in_cdb, uint16_t byte, int bit)
{
	s->sks_valid = true;
	s->sks[0] = SKSV | (in_cdb ? 0x40 : 0x00);
	if (bit >= 0 && bit <= 7)
		s->sks[0] |= 0x08 | (uint8_t)bit;
	put_be(&s->sks[1], byte, 2);
}

/* SPC-4 4.5.2.4.4 progress indication: a fraction of 65536. */
void vs_sense_progress(struct vs_sense *s, uint16_t progress)
{
	s->sks_valid = true;
	s->sks[0] = SKSV;
	put_be(&s->sks[1], progress, 2);
}

bool vs_sense_parse(const uint8_t *buf, size_t len, struct vs_sense *out)
{
	uint8_t code;

	memset(out, 0, sizeof(*out));
	if (len < 1)
		return false;
	code = buf[0] & 0x7f;
	if ((code == RESP_FIXED || code == RESP_FIXED + 1) && len >= 14) {
		out->key = buf[2] & 0x0f;
		out->asc_ascq = (uint16_t)(buf[12] << 8 | buf[13]);
		out->info_valid = buf[0] & 0x80;
		out->info = get_be(&buf[3], 4);
		out->cmd_specific = get_be(&buf[8], 4);
		out->cmd_specific_valid = out->cmd_specific != 0;
		if (len >= 18 && (buf[15] & SKSV)) {
			out->sks_valid = true;
			memcpy(out->sks, &buf[15], 3);
		}
		return true;
	}
	if ((code == RESP_DESC || code == RESP_DESC + 1) && len >= DESC_HDR_LEN) {
		size_t end = DESC_HDR_LEN + buf[7];

		out->key = buf[1] & 0x0f;
		out->asc_ascq = (uint16_t)(buf[2] << 8 | buf[3]);
		if (end > len)
			end = len;
		for (size_t at = DESC_HDR_LEN; at + 2 <= end && at + 2 + buf[at + 1] <= end;
		     at += 2 + buf[at + 1]) {
			const uint8_t *d = &buf[at];

			if (d[0] == DESC_INFO && d[1] == 0x0a) {
				out->info_valid = d[2] & 0x80;
				out->info = get_be(&d[4], 8);
			} else if (d[0] == DESC_CMD_SPECIFIC && d[1] == 0x0a) {
				out->cmd_specific_valid = true;
				out->cmd_specific = get_be(&d[4], 8);
			} else if (d[0] == DESC_SKS && d[1] == 0x06 && (d[4] & SKSV)) {
				out->sks_valid = true;
				memcpy(out->sks, &d[4], 3);
			}
		}
		return true;
	}
	return false;
}

bool vs_sense_is_descriptor(const uint8_t *buf, size_t len)
{
	return len >= 1 && ((buf[0] & 0x7f) == RESP_DESC || (buf[0] & 0x7f) == RESP_DESC + 1);
}

size_t vs_sense_fixed(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq)
{
	struct vs_sense s = { .key = key, .asc_ascq = asc_ascq };

	return vs_sense_build(buf, len, false, &s);
}

size_t vs_sense_descriptor(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq)
{
	struct vs_sense s = { .key = key, .asc_ascq = asc_ascq };

	return vs_sense_build(buf, len, true, &s);
}
