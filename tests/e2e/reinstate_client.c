/* SPDX-License-Identifier: MIT */
/*
 * Session reinstatement against a live vstord (RFC 7143 §6.3.5).
 *
 *   reinstate_client PORT TARGET_IQN
 *
 *  A: login with ISID X, TSIH 0 -> full feature phase, TEST UNIT READY.
 *  C: login with ISID Y (same InitiatorName) -> a different session:
 *     A must stay alive (answers a NOP-Out ping).
 *  B: login with ISID X again, TSIH 0 -> must succeed with a new TSIH;
 *     the target must close A (§6.3.5: the old session is logged out and
 *     its tasks terminated before the new one is used); B then runs
 *     TEST UNIT READY (UNIT ATTENTION allowed first) and READ CAPACITY(10)
 *     GOOD; C is still alive.
 * Prints each check; exit 0 when all hold, 1 on any deviation.
 */
#include <time.h>

#include "lib/raw_iscsi.h"

#define TIMEOUT_MS 5000
#define SAM_GOOD 0x00
#define SAM_CHECK_CONDITION 0x02
#define SENSE_UNIT_ATTENTION 0x6

static const char *initiator = "iqn.2026-11.org.vstor:e2e-reinstate";
static const uint8_t isid_x[6] = { 0x80, 0x12, 0x34, 0x56, 0x00, 0x01 };  /* random format */
static const uint8_t isid_y[6] = { 0x80, 0x12, 0x34, 0x56, 0x00, 0x02 };

static int failed(const char *what, struct raw_conn *c)
{
	fprintf(stderr, "reinstate: FAIL %s: %s\n", what, c ? c->err : "");
	return 1;
}

static int login(struct raw_conn *c, int port, const char *target, const uint8_t *isid, const char *name)
{
	if (raw_connect(c, port, TIMEOUT_MS))
		return -1;
	memcpy(c->isid, isid, 6);
	c->tsih = 0;
	if (raw_login(c, initiator, target))
		return -1;
	printf("ok: %s logged in (ISID %02x%02x%02x%02x%02x%02x) -> TSIH %u\n", name, isid[0], isid[1],
	       isid[2], isid[3], isid[4], isid[5], c->tsih);
	return 0;
}

/* TEST UNIT READY; a UNIT ATTENTION (new I_T nexus, SAM-5 6.x) is retried. */
static int tur(struct raw_conn *c, const char *name)
{
	static const uint8_t cdb[6] = { 0x00 };
	struct raw_result r;
	for (int i = 0; i < 4; i++) {
		if (raw_scsi_in(c, cdb, sizeof(cdb), 0, NULL, 0, &r))
			return -1;
		if (r.status == SAM_GOOD) {
			printf("ok: %s TEST UNIT READY -> GOOD%s\n", name, i ? " (after UNIT ATTENTION)" : "");
			return 0;
		}
		if (r.status != SAM_CHECK_CONDITION || r.sense_key != SENSE_UNIT_ATTENTION)
			return raw_fail(c, "TEST UNIT READY: status 0x%02x sense %x/%02x/%02x", r.status,
			                r.sense_key, r.asc, r.ascq);
	}
	return raw_fail(c, "TEST UNIT READY: still UNIT ATTENTION after 4 tries");
}

static int read_capacity(struct raw_conn *c, const char *name)
{
	static const uint8_t cdb[10] = { 0x25 };
	uint8_t buf[8];
	struct raw_result r;
	if (raw_scsi_in(c, cdb, sizeof(cdb), sizeof(buf), buf, sizeof(buf), &r))
		return -1;
	if (r.status != SAM_GOOD)
		return raw_fail(c, "READ CAPACITY(10): status 0x%02x sense %x/%02x/%02x", r.status,
		                r.sense_key, r.asc, r.ascq);
	if (r.data_len != 8)
		return raw_fail(c, "READ CAPACITY(10): %u data bytes, want 8", r.data_len);
	uint32_t last = iscsi_get_be32(buf), bs = iscsi_get_be32(buf + 4);
	if (bs == 0 || last == 0)
		return raw_fail(c, "READ CAPACITY(10): last LBA %u block size %u", last, bs);
	printf("ok: %s READ CAPACITY(10) -> GOOD, %u blocks of %u bytes\n", name, last + 1, bs);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The target must close A: drain whatever it still sends (an Async Message
 * or nothing) until EOF or RST, within TIMEOUT_MS.
 */
static int expect_closed(struct raw_conn *c, const char *name)
{
	static struct raw_pdu p;
	double t0 = now();
	for (int guard = 0; guard < 16; guard++) {
		int r = raw_recv_pdu(c, &p);
		if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
			printf("ok: target closed %s (%s) %.2f s after the reinstating login\n", name,
			       r == 0 ? "EOF" : strerror(errno), now() - t0);
			return 0;
		}
		if (r < 0)
			return raw_fail(c, "%s not closed by the target: %s", name, c->err);
		printf("    %s received opcode 0x%02x before closing\n", name, bhs_opcode(&p.h));
	}
	return raw_fail(c, "%s: target keeps sending but never closes", name);
}

int main(int argc, char **argv)
{
	struct raw_conn a, b, cc;
	if (argc != 3) {
		fprintf(stderr, "usage: reinstate_client PORT TARGET_IQN\n");
		return 2;
	}
	int port = atoi(argv[1]);
	const char *target = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (login(&a, port, target, isid_x, "A"))
		return failed("A login", &a);
	if (tur(&a, "A"))
		return failed("A TEST UNIT READY", &a);

	/* A different ISID is a different I_T nexus: A must be untouched. */
	if (login(&cc, port, target, isid_y, "C"))
		return failed("C login (other ISID)", &cc);
	if (cc.tsih == a.tsih)
		return fprintf(stderr, "reinstate: FAIL C got A's TSIH %u\n", a.tsih), 1;
	if (raw_ping(&a))
		return failed("A ping after C's login (a different ISID must not end A)", &a);
	printf("ok: A answers a NOP-Out ping after C (other ISID) logged in\n");
	if (tur(&cc, "C"))
		return failed("C TEST UNIT READY", &cc);

	/* Same InitiatorName + ISID, TSIH 0: reinstatement (§6.3.5). */
	if (login(&b, port, target, isid_x, "B"))
		return failed("B login (same ISID as A: reinstatement must succeed)", &b);
	if (b.tsih == a.tsih || b.tsih == cc.tsih)
		return fprintf(stderr, "reinstate: FAIL B's TSIH %u is not new (A %u, C %u)\n", b.tsih,
		               a.tsih, cc.tsih), 1;
	printf("ok: B got a new TSIH (%u, A had %u)\n", b.tsih, a.tsih);
	if (expect_closed(&a, "A"))
		return failed("reinstatement", &a);
	if (tur(&b, "B"))
		return failed("B TEST UNIT READY", &b);
	if (read_capacity(&b, "B"))
		return failed("B READ CAPACITY(10)", &b);
	if (raw_ping(&cc))
		return failed("C ping after B reinstated ISID X (C must be untouched)", &cc);
	printf("ok: C answers a NOP-Out ping after B's reinstatement\n");

	if (raw_logout(&b))
		return failed("B logout", &b);
	if (raw_logout(&cc))
		return failed("C logout", &cc);
	printf("ok: B and C logged out\n");
	raw_close(&a);
	raw_close(&b);
	raw_close(&cc);
	return 0;
}
