/* SPDX-License-Identifier: MIT */
/*
 * Clients that vanish mid-PDU must not hurt the daemon or other sessions.
 *
 *   vanish_client abuse PORT TARGET_IQN N
 *       N raw-socket connections, each reset (SO_LINGER 0 -> RST) at a
 *       different point: mid-login, mid-command-header, mid-immediate-data,
 *       with an R2T outstanding, mid-Data-Out, with a 1 MiB READ being sent,
 *       with several writes waiting for R2Ts, and reinstated (a second
 *       login with its ISID) while a write waits for data.  Even rounds
 *       reuse one ISID, so a login may also race the clean-up of the
 *       session (RFC 7143 §6.3.5) whose connection was just reset.
 *   vanish_client io URL ROUNDS
 *       libiscsi (sync API): ROUNDS x WRITE(10) 8 blocks + READ(10) back,
 *       data compared; every command must end GOOD (one UNIT ATTENTION for
 *       the new I_T nexus is allowed).
 * Exit 0 on success, 1 on any deviation, 2 on usage.
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "lib/raw_iscsi.h"

#define TIMEOUT_MS 5000
#define BLOCK 512
#define WRITE_BLOCKS 64           /* the abandoned WRITE(10)s */
#define IO_BLOCKS 8
#define IO_FIRST_LBA 8192u        /* away from the LBAs the abusers touch */
#define IO_REGION 1024u

static const char *abuse_initiator = "iqn.2026-11.org.vstor:e2e-vanish-raw";
static const char *io_initiator = "iqn.2026-11.org.vstor:e2e-vanish-io";
static uint8_t payload[WRITE_BLOCKS * BLOCK];

static void write10_cdb(uint8_t *cdb, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x2a;   /* WRITE(10), SBC-3 5.40 */
	iscsi_put_be32(cdb + 2, lba);
	iscsi_put_be16(cdb + 7, blocks);
}

/* Immediate data we may send with a 64-block WRITE: less than the whole
 * transfer so an R2T must follow (§13.11, §13.14, §13.12). */
static uint32_t imm_len(const struct raw_conn *c)
{
	uint32_t n = 16384;
	if (n > c->target_mrdsl)
		n = c->target_mrdsl;
	if (n > c->first_burst)
		n = c->first_burst;
	return n & ~(uint32_t)(BLOCK - 1);
}

static const char *const variants[] = {
	"mid-login-header", "mid-command-header", "mid-immediate-data", "R2T-outstanding",
	"mid-Data-Out", "READ-being-sent", "4-writes-waiting-R2T",
	"reinstated-with-R2T-outstanding",
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static int abuse_one(int port, const char *target, unsigned round)
{
	static struct raw_pdu p;
	struct raw_conn c;
	struct iscsi_bhs h;
	uint8_t cdb[10];
	unsigned v = round % NVARIANTS;
	uint32_t itt, imm;

	if (raw_connect(&c, port, TIMEOUT_MS))
		goto fail;
	/* random-format ISID (§10.12.5); even rounds share one. */
	c.isid[0] = 0x80;
	c.isid[1] = 0x76;
	c.isid[5] = round % 2 ? (uint8_t)(round + 1) : 0;
	c.isid[4] = round % 2 ? (uint8_t)(round >> 8) : 0;
	/* Variant 7 logs in twice with its ISID: keep it apart from the rest. */
	if (v == 7)
		c.isid[3] = 0x77;

	if (v == 0) {
		/* Half a Login Request header, then gone. */
		memset(&h, 0, sizeof(h));
		h.b[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
		h.b[1] = ISCSI_LOGIN_TRANSIT | ISCSI_STAGE_OPERATIONAL;
		memcpy(h.b + 8, c.isid, 6);
		if (raw_send(&c, h.b, 20))
			goto fail;
		goto reset;
	}
	if (raw_login(&c, abuse_initiator, target))
		goto fail;
	if (!c.immediate_data) {
		raw_fail(&c, "target refused ImmediateData=Yes");
		goto fail;
	}
	imm = imm_len(&c);
	write10_cdb(cdb, round * WRITE_BLOCKS, WRITE_BLOCKS);
	itt = c.itt;

	switch (v) {
	case 1:   /* 30 of 48 header bytes */
		raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
		bhs_set_dsl(&h, imm);
		if (raw_send(&c, h.b, 30))
			goto fail;
		break;
	case 2:   /* header announces imm bytes, half of them arrive */
		raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
		bhs_set_dsl(&h, imm);
		if (raw_send(&c, h.b, ISCSI_BHS_LEN) || raw_send(&c, payload, imm / 2))
			goto fail;
		break;
	case 3:   /* whole first burst sent, R2T for the rest never answered */
		raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
		if (raw_send_pdu(&c, &h, payload, imm) || raw_wait_r2t(&c, itt, &p))
			goto fail;
		break;
	case 4: { /* no immediate data; R2T answered with half a Data-Out */
		raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
		if (raw_send_pdu(&c, &h, NULL, 0) || raw_wait_r2t(&c, itt, &p))
			goto fail;
		uint32_t want = bhs_be32(&p.h, 44), off = bhs_be32(&p.h, 40);
		if (want > c.target_mrdsl)
			want = c.target_mrdsl;
		if (!want || off + want > sizeof(payload)) {
			raw_fail(&c, "R2T offset %u length %u outside the %zu-byte write", off, want,
			         sizeof(payload));
			goto fail;
		}
		struct iscsi_bhs d;
		/* §11.7.1, F = 0: more was due; TTT from the R2T */
		raw_data_out_bhs(&c, &d, itt, bhs_be32(&p.h, 20), 0, off, false);
		bhs_set_dsl(&d, want);
		if (raw_send(&c, d.b, ISCSI_BHS_LEN) || raw_send(&c, payload + off, want / 2))
			goto fail;
		break;
	}
	case 5: { /* 1 MiB READ(10): reset while the target is sending Data-In */
		uint8_t rcdb[10] = { 0x28 };
		iscsi_put_be32(rcdb + 2, 0);
		iscsi_put_be16(rcdb + 7, 2048);
		raw_cmd_bhs(&c, &h, rcdb, 10, ISCSI_CMD_READ, 2048 * BLOCK);
		if (raw_send_pdu(&c, &h, NULL, 0))
			goto fail;
		/* Take the first Data-In so the transfer is surely under way. */
		if (raw_recv_pdu(&c, &p) != 1)
			goto fail;
		if (bhs_opcode(&p.h) != ISCSI_OP_DATA_IN && bhs_opcode(&p.h) != ISCSI_OP_SCSI_RESP) {
			raw_fail(&c, "READ: opcode 0x%02x, want Data-In", bhs_opcode(&p.h));
			goto fail;
		}
		break;
	}
	case 7: { /* a second login with this ISID reinstates the session while
	           * its write waits for data (§6.3.5: the task is terminated) */
		struct raw_conn c2;
		raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
		if (raw_send_pdu(&c, &h, payload, imm) || raw_wait_r2t(&c, itt, &p))
			goto fail;
		if (raw_connect(&c2, port, TIMEOUT_MS)) {
			raw_fail(&c, "%s", c2.err);
			goto fail;
		}
		memcpy(c2.isid, c.isid, 6);
		if (raw_login(&c2, abuse_initiator, target)) {
			raw_fail(&c, "reinstating login: %s", c2.err);
			raw_close(&c2);
			goto fail;
		}
		int r;
		for (int guard = 0; guard < 16 && (r = raw_recv_pdu(&c, &p)) == 1; guard++)
			;
		if (!(r == 0 || (r < 0 && errno == ECONNRESET))) {
			raw_fail(&c, "old connection not closed after reinstatement (%s)",
			         r < 0 ? c.err : "PDUs keep coming");
			raw_close(&c2);
			goto fail;
		}
		raw_reset(&c2);
		break;
	}
	default: { /* several writes waiting for R2Ts */
		for (int k = 0; k < 4; k++) {
			write10_cdb(cdb, round * WRITE_BLOCKS * 4 + (uint32_t)k * WRITE_BLOCKS, WRITE_BLOCKS);
			raw_cmd_bhs(&c, &h, cdb, 10, ISCSI_CMD_WRITE, sizeof(payload));
			if (raw_send_pdu(&c, &h, payload, imm))
				goto fail;
		}
		if (raw_wait_r2t(&c, itt, &p))
			goto fail;
		break;
	}
	}
reset:
	raw_reset(&c);
	return 0;
fail:
	fprintf(stderr, "vanish: FAIL round %u (%s): %s\n", round, variants[v], c.err);
	raw_close(&c);
	return 1;
}

static int abuse(int port, const char *target, unsigned n)
{
	unsigned counts[NVARIANTS] = { 0 };
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (unsigned r = 0; r < n; r++) {
		if (abuse_one(port, target, r))
			return 1;
		counts[r % NVARIANTS]++;
	}
	for (unsigned v = 0; v < NVARIANTS; v++)
		printf("ok: %u x reset %s\n", counts[v], variants[v]);
	return 0;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}

static bool unit_attention(struct scsi_task *t)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

static int io(const char *url, unsigned rounds)
{
	static uint8_t wbuf[IO_BLOCKS * BLOCK];
	struct iscsi_context *is = iscsi_create_context(io_initiator);
	struct iscsi_url *u;
	int bad = 0, ua = 0;

	if (!is)
		return 1;
	u = iscsi_parse_full_url(is, url);
	if (!u) {
		fprintf(stderr, "vanish io: bad URL %s: %s\n", url, iscsi_get_error(is));
		return 1;
	}
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(is, ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 10);
	if (iscsi_full_connect_sync(is, u->portal, u->lun) != 0) {
		fprintf(stderr, "vanish io: login failed: %s\n", iscsi_get_error(is));
		return 1;
	}
	for (unsigned r = 0; r < rounds && !bad; r++) {
		uint32_t lba = IO_FIRST_LBA + (r * IO_BLOCKS) % IO_REGION;
		struct scsi_task *t;
		fill(wbuf, sizeof(wbuf), r);
		t = iscsi_write10_sync(is, u->lun, lba, wbuf, sizeof(wbuf), BLOCK, 0, 0, 0, 0, 0);
		if (unit_attention(t) && ua++ == 0) {
			scsi_free_scsi_task(t);
			t = iscsi_write10_sync(is, u->lun, lba, wbuf, sizeof(wbuf), BLOCK, 0, 0, 0, 0, 0);
		}
		if (!t || t->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "vanish io: round %u WRITE(10) LBA %u: %s\n", r, lba,
			        t ? "not GOOD" : iscsi_get_error(is));
			if (t)
				fprintf(stderr, "  status 0x%02x sense %x/%02x/%02x\n", t->status, t->sense.key,
				        t->sense.ascq >> 8, t->sense.ascq & 0xff);
			bad = 1;
		}
		if (t)
			scsi_free_scsi_task(t);
		if (bad)
			break;
		t = iscsi_read10_sync(is, u->lun, lba, sizeof(wbuf), BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != (int)sizeof(wbuf) ||
		    memcmp(t->datain.data, wbuf, sizeof(wbuf))) {
			fprintf(stderr, "vanish io: round %u READ(10) LBA %u: %s\n", r, lba,
			        !t ? iscsi_get_error(is) : t->status != SCSI_STATUS_GOOD ? "not GOOD"
			                                                                  : "data differs");
			bad = 1;
		}
		if (t)
			scsi_free_scsi_task(t);
	}
	iscsi_logout_sync(is);
	iscsi_destroy_url(u);
	iscsi_destroy_context(is);
	if (!bad)
		printf("ok: %u x WRITE(10)+READ(10) of %d blocks verified, all GOOD\n", rounds, IO_BLOCKS);
	return bad;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "abuse"))
		return abuse(atoi(argv[2]), argv[3], (unsigned)atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "io"))
		return io(argv[2], (unsigned)atoi(argv[3]));
	fprintf(stderr, "usage: vanish_client abuse PORT TARGET_IQN N | vanish_client io URL ROUNDS\n");
	return 2;
}
