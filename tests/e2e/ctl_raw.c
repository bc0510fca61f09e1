/* SPDX-License-Identifier: MIT */
/*
 * ctl_raw: raw-socket initiator steps for the control-plane e2e tests, where
 * the exact bytes matter (login status codes, SendTargets text, the
 * negotiated keys, Asynchronous Messages), on lib/raw_iscsi.h:
 *
 *   ctl_raw login PORT IQN INITIATOR
 *       log in (AuthMethod=None) and out; prints "login ok" or
 *       "login status 0xCCDD" (RFC 7143 §11.13.5); exit 0 / 1.
 *   ctl_raw discover PORT INITIATOR
 *       discovery session, SendTargets=All (§13.21): prints the answer, one
 *       key=value per line.
 *   ctl_raw session PORT IQN INITIATOR CMD
 *       log in with fixed keys (digests None, MaxRecvDataSegmentLength
 *       65536, MaxBurstLength 262144, FirstBurstLength 65536, InitialR2T
 *       and ImmediateData Yes, ISID 80 12 34 56 00 07), run CMD, log out;
 *       exit with CMD's status.
 *   ctl_raw async PORT IQN CMD
 *       log in, run CMD (it adds a LUN), then expect an Asynchronous Message
 *       (§11.9) with AsyncEvent 0 and sense UNIT ATTENTION 3F/0E REPORTED
 *       LUNS DATA HAS CHANGED within 10 s.
 */
#include <sys/wait.h>

#include "lib/raw_iscsi.h"

#define TIMEOUT_MS 10000

static const uint8_t isid_fixed[6] = { 0x80, 0x12, 0x34, 0x56, 0x00, 0x07 };

static int failed(const char *what, struct raw_conn *c)
{
	fprintf(stderr, "ctl_raw: FAIL %s: %s\n", what, c ? c->err : "");
	return 1;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? 127 : WEXITSTATUS(st);
}

static int connect_login(struct raw_conn *c, int port, const char *iqn, const char *initiator)
{
	if (raw_connect(c, port, TIMEOUT_MS))
		return -1;
	memcpy(c->isid, isid_fixed, 6);
	return raw_login(c, initiator, iqn);
}

/* ---------------------------------------------------------------- login */

static int mode_login(int port, const char *iqn, const char *initiator)
{
	struct raw_conn c;
	if (connect_login(&c, port, iqn, initiator)) {
		if (!c.login_status)
			return failed("login", &c);
		printf("login status 0x%04x\n", c.login_status);
		raw_close(&c);
		return 1;
	}
	printf("login ok\n");
	int rc = raw_logout(&c) ? failed("logout", &c) : 0;
	raw_close(&c);
	return rc;
}

/* ---------------------------------------------------------------- discover */

/* Discovery login (§13.3): no TargetName; security, then operational. */
static int discovery_login(struct raw_conn *c, const char *initiator)
{
	static struct raw_pdu rsp;
	char text[512];
	size_t n = 0;

	n = raw_addkey(text, n, sizeof(text), "InitiatorName", initiator);
	n = raw_addkey(text, n, sizeof(text), "SessionType", "Discovery");
	n = raw_addkey(text, n, sizeof(text), "AuthMethod", "None");
	if (raw_login_step(c, &rsp, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, text, n))
		return -1;
	n = raw_addkey(text, 0, sizeof(text), "HeaderDigest", "None");
	n = raw_addkey(text, n, sizeof(text), "DataDigest", "None");
	n = raw_addkey(text, n, sizeof(text), "MaxRecvDataSegmentLength", "65536");
	if (raw_login_step(c, &rsp, ISCSI_STAGE_OPERATIONAL, ISCSI_STAGE_FULL_FEATURE, text, n))
		return -1;
	if (!(rsp.h.b[1] & ISCSI_LOGIN_TRANSIT))
		return raw_fail(c, "discovery login: target did not enter full feature phase");
	c->tsih = iscsi_get_be16(rsp.h.b + 14);
	c->cmdsn = bhs_be32(&rsp.h, 28);
	c->itt++;
	return 0;
}

/* Text Request (§11.10); answers with C=1 are fetched part by part. */
static int send_targets(struct raw_conn *c)
{
	static struct raw_pdu p;
	static const char key[] = "SendTargets=All";
	uint32_t ttt = ISCSI_RESERVED_TAG, itt = c->itt++;
	bool first = true;

	for (int parts = 0; parts < 64; parts++) {
		struct iscsi_bhs h = { { 0 } };
		h.b[0] = ISCSI_OP_TEXT_REQ;
		h.b[1] = ISCSI_FLAG_FINAL;
		bhs_set_be32(&h, 16, itt);
		bhs_set_be32(&h, 20, ttt);
		bhs_set_be32(&h, 24, c->cmdsn++);
		bhs_set_be32(&h, 28, c->exp_statsn);
		if (raw_send_pdu(c, &h, first ? key : NULL, first ? sizeof(key) : 0))
			return -1;
		first = false;
		int r = raw_recv_pdu(c, &p);
		if (r <= 0)
			return r == 0 ? raw_fail(c, "SendTargets: connection closed") : -1;
		if (bhs_opcode(&p.h) != ISCSI_OP_TEXT_RESP)
			return raw_fail(c, "SendTargets: opcode 0x%02x", bhs_opcode(&p.h));
		for (uint32_t i = 0; i < p.len;) {
			const char *kv = (const char *)p.data + i;
			size_t n = strnlen(kv, p.len - i);
			printf("%.*s\n", (int)n, kv);
			i += (uint32_t)n + 1;
		}
		if (!(p.h.b[1] & ISCSI_TEXT_CONTINUE))
			return 0;
		ttt = bhs_be32(&p.h, 20);
	}
	return raw_fail(c, "SendTargets: more than 64 parts");
}

static int mode_discover(int port, const char *initiator)
{
	struct raw_conn c;
	if (raw_connect(&c, port, TIMEOUT_MS))
		return failed("connect", &c);
	memcpy(c.isid, isid_fixed, 6);
	if (discovery_login(&c, initiator))
		return failed("discovery login", &c);
	if (send_targets(&c))
		return failed("SendTargets", &c);
	int rc = raw_logout(&c) ? failed("logout", &c) : 0;
	raw_close(&c);
	return rc;
}

/* ---------------------------------------------------------------- session */

static int mode_session(int port, const char *iqn, const char *initiator, const char *cmd)
{
	struct raw_conn c;
	if (connect_login(&c, port, iqn, initiator))
		return failed("login", &c);
	int rc = run(cmd);
	if (raw_logout(&c))
		rc = failed("logout", &c);
	raw_close(&c);
	return rc;
}

/* ---------------------------------------------------------------- async */

static int mode_async(int port, const char *iqn, const char *cmd)
{
	static struct raw_pdu p;
	struct raw_conn c;
	if (connect_login(&c, port, iqn, "iqn.2026-11.org.vstor:ctl-raw-async"))
		return failed("login", &c);
	int rc = run(cmd);
	if (rc != 0) {
		fprintf(stderr, "ctl_raw: FAIL '%s' exited %d\n", cmd, rc);
		return 1;
	}
	/* The message comes unasked: read until it does (pings are answered
	 * inside raw_recv_pdu). */
	for (;;) {
		int r = raw_recv_pdu(&c, &p);
		if (r <= 0)
			return failed(r == 0 ? "no Asynchronous Message: connection closed"
			                     : "no Asynchronous Message within 10 s", &c);
		if (bhs_opcode(&p.h) == ISCSI_OP_ASYNC_MSG)
			break;
		fprintf(stderr, "ctl_raw: skipping opcode 0x%02x\n", bhs_opcode(&p.h));
	}
	/* §11.9: ITT reserved, AsyncEvent 0 = SCSI asynchronous event, then
	 * SenseLength and fixed-format sense data (SPC-4 4.5.3). */
	uint8_t event = p.h.b[36];
	uint16_t slen = p.len >= 2 ? iscsi_get_be16(p.data) : 0;
	const uint8_t *s = p.data + 2;
	if (bhs_itt(&p.h) != ISCSI_RESERVED_TAG || event != 0 || slen < 14 || p.len < 2u + slen ||
	    (s[2] & 0x0f) != 0x6 || s[12] != 0x3f || s[13] != 0x0e) {
		fprintf(stderr, "ctl_raw: FAIL Asynchronous Message: ITT 0x%x AsyncEvent %u SenseLength %u "
		        "sense %x/%02x/%02x, want AsyncEvent 0, UNIT ATTENTION 3F/0E\n", bhs_itt(&p.h),
		        event, slen, slen >= 14 ? s[2] & 0x0f : 0, slen >= 14 ? s[12] : 0,
		        slen >= 14 ? s[13] : 0);
		return 1;
	}
	printf("ctl_raw: Asynchronous Message: AsyncEvent 0, sense 6/3F/0E REPORTED LUNS DATA HAS "
	       "CHANGED (LUN %llu)\n", (unsigned long long)vs_iscsi_lun_to_scsi(bhs_lun(&p.h)));
	rc = raw_logout(&c) ? failed("logout", &c) : 0;
	raw_close(&c);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "login"))
		return mode_login(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "discover"))
		return mode_discover(atoi(argv[2]), argv[3]);
	if (argc == 6 && !strcmp(argv[1], "session"))
		return mode_session(atoi(argv[2]), argv[3], argv[4], argv[5]);
	if (argc == 5 && !strcmp(argv[1], "async"))
		return mode_async(atoi(argv[2]), argv[3], argv[4]);
	fprintf(stderr, "usage: ctl_raw login PORT IQN INITIATOR\n"
	                "       ctl_raw discover PORT INITIATOR\n"
	                "       ctl_raw session PORT IQN INITIATOR CMD\n"
	                "       ctl_raw async PORT IQN CMD\n");
	return 2;
}
