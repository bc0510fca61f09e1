/* SPDX-License-Identifier: MIT */
/*
 * r2t_client PORT TARGET OFFER
 *
 * Logs in offering MaxOutstandingR2T=OFFER (RFC 7143 §13.17) and
 * MaxBurstLength 64 KiB, writes 1 MiB with InitialR2T=Yes and no immediate
 * data, and counts how many R2Ts the target has outstanding before the
 * first Data-Out goes out; then answers every R2T in order (each answer
 * lets the target issue the next), reads the 1 MiB back and compares.
 * Prints "negotiated N, outstanding M, R2Ts T" and exits 0 when the write
 * and the read-back succeeded, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/raw_iscsi.h"

#define LEN     (1024u * 1024u)
#define BURST   65536u
#define BLOCK   512u

static const char *initiator = "iqn.2026-11.org.vstor:e2e-r2t";
static uint8_t out[LEN], in[LEN];

struct r2t { uint32_t ttt, off, len; };

static int answer(struct raw_conn *c, uint32_t itt, const struct r2t *r)
{
	struct iscsi_bhs d;
	uint32_t sn = 0;

	for (uint32_t off = r->off; off < r->off + r->len; sn++) {
		uint32_t n = r->off + r->len - off;

		if (n > c->target_mrdsl)
			n = c->target_mrdsl;
		raw_data_out_bhs(c, &d, itt, r->ttt, sn, off, off + n == r->off + r->len);
		if (raw_send_pdu(c, &d, out + off, n))
			return -1;
		off += n;
	}
	return 0;
}

static int take_r2t(struct raw_conn *c, uint32_t itt, struct r2t *r, uint32_t want_sn)
{
	static struct raw_pdu p;

	if (raw_wait_r2t(c, itt, &p))
		return -1;
	r->ttt = bhs_be32(&p.h, 20);
	r->off = bhs_be32(&p.h, 40);
	r->len = bhs_be32(&p.h, 44);
	if (bhs_be32(&p.h, 36) != want_sn)
		return raw_fail(c, "R2TSN %u, want %u", bhs_be32(&p.h, 36), want_sn);
	if (r->off + r->len > LEN || r->len > BURST)
		return raw_fail(c, "R2T offset %u length %u outside the write", r->off, r->len);
	return 0;
}

static int run(struct raw_conn *c, int port, const char *target, uint32_t offer)
{
	static struct raw_pdu p;
	struct r2t r[LEN / BURST];
	struct iscsi_bhs h;
	struct raw_result res;
	uint8_t cdb[10] = { 0x2a };     /* WRITE(10), LBA 0 */
	uint32_t itt, n = 0, answered = 0, outstanding, total = LEN / BURST;

	if (raw_connect(c, port, 10000))
		return -1;
	memcpy(c->isid, (const uint8_t[6]){ 0x80, 0, 0, 0x52, 0x32, 0x54 }, 6);
	c->offer_max_r2t = offer;
	c->offer_max_burst = BURST;
	if (raw_login(c, initiator, target))
		return -1;
	for (int i = 0; i < 4; i++) {       /* eat POWER ON / RESET */
		static const uint8_t tur[6];

		if (raw_scsi_in(c, tur, 6, 0, NULL, 0, &res))
			return -1;
		if (res.status == 0)
			break;
	}
	for (uint32_t i = 0; i < LEN; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 9));
	iscsi_put_be16(cdb + 7, LEN / BLOCK);
	itt = c->itt;
	raw_cmd_bhs(c, &h, cdb, 10, ISCSI_CMD_WRITE, LEN);
	if (raw_send_pdu(c, &h, NULL, 0))
		return -1;
	/* Every R2T the window allows comes before we send a byte. */
	for (; n < c->max_r2t && n < total; n++)
		if (take_r2t(c, itt, &r[n], n))
			return -1;
	outstanding = n;
	/* In order (DataSequenceInOrder=Yes); each answer opens the window
	 * for the next R2T. */
	while (answered < total) {
		if (answer(c, itt, &r[answered++]))
			return -1;
		if (n < total) {
			if (take_r2t(c, itt, &r[n], n))
				return -1;
			n++;
		}
	}
	for (;;) {
		int rc = raw_recv_pdu(c, &p);

		if (rc <= 0)
			return raw_fail(c, "no SCSI Response for the write");
		if (bhs_opcode(&p.h) == ISCSI_OP_SCSI_RESP)
			break;
	}
	if (p.h.b[3] != 0)
		return raw_fail(c, "write: SCSI status 0x%02x", p.h.b[3]);
	cdb[0] = 0x28;                  /* READ(10) */
	if (raw_scsi_in(c, cdb, 10, LEN, in, LEN, &res))
		return -1;
	if (res.status != 0 || res.data_len != LEN || memcmp(in, out, LEN))
		return raw_fail(c, "read back: status 0x%02x, %u bytes, %s", res.status, res.data_len,
		                memcmp(in, out, LEN) ? "different data" : "same data");
	if (raw_logout(c))
		return -1;
	printf("negotiated %u, outstanding %u, R2Ts %u\n", c->max_r2t, outstanding, n);
	return 0;
}

int main(int argc, char **argv)
{
	struct raw_conn c;

	if (argc != 4) {
		fprintf(stderr, "usage: r2t_client PORT TARGET MAX_OUTSTANDING_R2T\n");
		return 2;
	}
	if (run(&c, atoi(argv[1]), argv[2], (uint32_t)atoi(argv[3]))) {
		fprintf(stderr, "r2t_client: %s\n", c.err);
		return 1;
	}
	raw_close(&c);
	return 0;
}
