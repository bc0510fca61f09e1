/* SPDX-License-Identifier: MIT */
/*
 * A tiny raw-socket iSCSI initiator for e2e tests that need control libiscsi
 * does not give: exact ISIDs, half-sent PDUs, abrupt resets.  Header-only
 * (each tests/e2e C file is its own program).  No digests, one connection
 * per session, ErrorRecoveryLevel 0.  Every socket operation has a
 * timeout (SO_RCVTIMEO / SO_SNDTIMEO), so a silent target fails the test
 * instead of hanging it.
 *
 * PDU layouts are RFC 7143 §11; field offsets are noted where used.
 */
#ifndef VSTOR_E2E_RAW_ISCSI_H
#define VSTOR_E2E_RAW_ISCSI_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fabrics/iscsi/pdu.h"

#define RAW_MAX_RECV_DSL 65536u   /* what we declare (§13.12) */

struct raw_conn {
	int fd;
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;          /* next Initiator Task Tag */
	uint32_t cmdsn;        /* next CmdSN */
	uint32_t exp_statsn;
	/* Negotiated with the target (§13.10-13.14). */
	uint32_t target_mrdsl; /* the target's MaxRecvDataSegmentLength */
	uint32_t first_burst;
	bool immediate_data;
	bool initial_r2t;
	uint32_t max_r2t;      /* MaxOutstandingR2T (§13.17) */
	/* What raw_login offers; 0 = the defaults below. */
	uint32_t offer_max_r2t;    /* MaxOutstandingR2T, not sent when 0 (default 1) */
	uint32_t offer_max_burst;  /* MaxBurstLength, 262144 when 0 */
	uint16_t login_status; /* class << 8 | detail of the last Login Response */
	char err[256];
};

struct raw_pdu {
	struct iscsi_bhs h;
	uint32_t len;          /* data segment length */
	uint8_t data[RAW_MAX_RECV_DSL + 4];
};

static inline int raw_fail(struct raw_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Connect from source address src (a local address such as 127.0.0.2;
 * NULL: the kernel's choice) to 127.0.0.1:port; every later send/recv
 * times out after ms. */
static inline int raw_connect_from(struct raw_conn *c, const char *src, int port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->itt = 1;
	c->cmdsn = 1;
	c->target_mrdsl = 8192;   /* §13.12 default until declared */
	c->first_burst = 65536;
	c->initial_r2t = true;
	c->max_r2t = 1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return raw_fail(c, "socket: %s", strerror(errno));
	if (src) {
		struct sockaddr_in from = { .sin_family = AF_INET };

		if (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
		    bind(c->fd, (struct sockaddr *)&from, sizeof(from)))
			return raw_fail(c, "bind %s: %s", src, strerror(errno));
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return raw_fail(c, "setsockopt: %s", strerror(errno));
	/* SO_SNDTIMEO bounds connect() too. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return raw_fail(c, "connect 127.0.0.1:%d: %s", port, strerror(errno));
	return 0;
}

static inline int raw_connect(struct raw_conn *c, int port, int timeout_ms)
{
	return raw_connect_from(c, NULL, port, timeout_ms);
}

static inline void raw_set_timeout(struct raw_conn *c, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Close with SO_LINGER 0: the kernel sends RST and drops unsent data. */
static inline void raw_reset(struct raw_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (c->fd < 0)
		return;
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

static inline void raw_close(struct raw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static inline int raw_send(struct raw_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return raw_fail(c, "send: %s", n < 0 ? strerror(errno) : "short");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 1 = got len bytes, 0 = orderly EOF before any byte, -1 = error/timeout
 * (errno kept: EAGAIN means the timeout expired). */
static inline int raw_recv_exact(struct raw_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(c->fd, p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			if (got == 0)
				return 0;
			errno = EPIPE;
			return raw_fail(c, "recv: EOF inside a PDU");
		}
		if (n < 0) {
			int e = errno;
			raw_fail(c, "recv: %s", strerror(e));
			errno = e;
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

/* Send a PDU: BHS + data segment padded to 4 bytes (§11.2.3). */
static inline int raw_send_pdu(struct raw_conn *c, struct iscsi_bhs *h, const void *data, uint32_t len)
{
	static const uint8_t zero[4];
	bhs_set_dsl(h, len);
	if (raw_send(c, h->b, ISCSI_BHS_LEN) || (len && raw_send(c, data, len)) ||
	    (iscsi_pad4(len) != len && raw_send(c, zero, iscsi_pad4(len) - len)))
		return -1;
	return 0;
}

static inline bool raw_advances_statsn(const struct iscsi_bhs *h)
{
	switch (bhs_opcode(h)) {
	case ISCSI_OP_LOGIN_RESP: case ISCSI_OP_SCSI_RESP: case ISCSI_OP_LOGOUT_RESP:
	case ISCSI_OP_TEXT_RESP: case ISCSI_OP_TASK_MGMT_RESP: case ISCSI_OP_REJECT:
		return true;
	case ISCSI_OP_DATA_IN:
		return bhs_flags(h) & ISCSI_FLAG_STATUS;
	case ISCSI_OP_NOP_IN:   /* §11.19.3: not for an unsolicited NOP-In */
		return bhs_itt(h) != ISCSI_RESERVED_TAG;
	default:
		return false;
	}
}

/*
 * Receive one PDU.  Answers target pings (NOP-In with a TTT, §11.19) on the
 * way and keeps ExpStatSN.  1 = PDU, 0 = connection closed by the target,
 * -1 = error or timeout (errno EAGAIN/EWOULDBLOCK).
 */
static inline int raw_recv_pdu(struct raw_conn *c, struct raw_pdu *p)
{
	for (int guard = 0; guard < 64; guard++) {
		uint8_t ahs[1024];
		int r = raw_recv_exact(c, p->h.b, ISCSI_BHS_LEN);
		if (r <= 0)
			return r;
		p->len = bhs_dsl(&p->h);
		if (p->len > RAW_MAX_RECV_DSL)
			return raw_fail(c, "opcode 0x%02x: data segment %u > our limit %u",
			                bhs_opcode(&p->h), p->len, RAW_MAX_RECV_DSL);
		if (bhs_ahs_len(&p->h) && raw_recv_exact(c, ahs, bhs_ahs_len(&p->h) * 4u) != 1)
			return -1;
		if (p->len && raw_recv_exact(c, p->data, iscsi_pad4(p->len)) != 1)
			return -1;
		if (raw_advances_statsn(&p->h))
			c->exp_statsn = bhs_be32(&p->h, 24) + 1;
		if (bhs_opcode(&p->h) == ISCSI_OP_NOP_IN && bhs_itt(&p->h) == ISCSI_RESERVED_TAG &&
		    bhs_be32(&p->h, 20) != ISCSI_RESERVED_TAG) {
			/* §11.18: answer with the TTT echoed, ITT reserved, immediate. */
			struct iscsi_bhs o = { { 0 } };
			o.b[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
			o.b[1] = ISCSI_FLAG_FINAL;
			memcpy(o.b + 8, p->h.b + 8, 8);
			bhs_set_be32(&o, 16, ISCSI_RESERVED_TAG);
			bhs_set_be32(&o, 20, bhs_be32(&p->h, 20));
			bhs_set_be32(&o, 24, c->cmdsn);
			bhs_set_be32(&o, 28, c->exp_statsn);
			if (raw_send_pdu(c, &o, NULL, 0))
				return -1;
			continue;
		}
		return 1;
	}
	return raw_fail(c, "too many target pings in a row");
}

/* Value of key=value in a login text segment, or NULL. */
static inline const char *raw_key(const struct raw_pdu *p, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	for (uint32_t i = 0; i < p->len;) {
		const char *kv = (const char *)p->data + i;
		size_t n = strnlen(kv, p->len - i);
		if (n > klen && !strncmp(kv, key, klen) && kv[klen] == '=') {
			snprintf(out, cap, "%.*s", (int)(n - klen - 1), kv + klen + 1);
			return out;
		}
		i += (uint32_t)n + 1;
	}
	return NULL;
}

static inline size_t raw_addkey(char *buf, size_t off, size_t cap, const char *key, const char *val)
{
	int n = snprintf(buf + off, cap - off, "%s=%s", key, val);
	if (n < 0 || (size_t)n + 1 > cap - off)
		return off;
	return off + (size_t)n + 1;   /* keep the NUL separator (§6.1) */
}

/* One Login Request / Response round trip (§11.12, §11.13). */
static inline int raw_login_step(struct raw_conn *c, struct raw_pdu *rsp, int csg, int nsg,
                                 const char *text, size_t len)
{
	struct iscsi_bhs h = { { 0 } };
	h.b[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	h.b[1] = (uint8_t)(ISCSI_LOGIN_TRANSIT | csg << 2 | nsg);
	memcpy(h.b + 8, c->isid, 6);
	iscsi_put_be16(h.b + 14, c->tsih);
	bhs_set_be32(&h, 16, c->itt);
	/* CID (bytes 20-21) stays 0. */
	bhs_set_be32(&h, 24, c->cmdsn);
	bhs_set_be32(&h, 28, c->exp_statsn);
	if (raw_send_pdu(c, &h, text, (uint32_t)len))
		return -1;
	int r = raw_recv_pdu(c, rsp);
	if (r == 0)
		return raw_fail(c, "login: target closed the connection");
	if (r < 0)
		return -1;
	if (bhs_opcode(&rsp->h) != ISCSI_OP_LOGIN_RESP)
		return raw_fail(c, "login: got opcode 0x%02x, want Login Response", bhs_opcode(&rsp->h));
	c->login_status = iscsi_get_be16(rsp->h.b + 36);
	if (c->login_status)
		return raw_fail(c, "login: status class 0x%02x detail 0x%02x", rsp->h.b[36], rsp->h.b[37]);
	if (rsp->h.b[1] & ISCSI_LOGIN_CONTINUE)
		return raw_fail(c, "login: continued responses not supported by this test client");
	return 0;
}

/*
 * Log in to a normal session (target) or a discovery session (target
 * NULL): security stage with AuthMethod=None, then the operational stage,
 * until the target agrees to full feature phase.  c->isid must be set;
 * c->tsih = 0 for a new session.
 */
static inline int raw_login(struct raw_conn *c, const char *initiator, const char *target)
{
	static struct raw_pdu rsp;
	char text[1024], v[64];
	size_t n = 0;
	int round;

	n = raw_addkey(text, n, sizeof(text), "InitiatorName", initiator);
	if (target)
		n = raw_addkey(text, n, sizeof(text), "TargetName", target);
	n = raw_addkey(text, n, sizeof(text), "SessionType", target ? "Normal" : "Discovery");
	n = raw_addkey(text, n, sizeof(text), "AuthMethod", "None");
	for (round = 0; round < 4; round++) {
		if (raw_login_step(c, &rsp, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, text, n))
			return -1;
		if ((rsp.h.b[1] & ISCSI_LOGIN_TRANSIT) && ISCSI_LOGIN_NSG(rsp.h.b[1]) == ISCSI_STAGE_OPERATIONAL)
			break;
		n = 0;   /* §11.12.1: keep asking to transit, nothing new to say */
	}
	if (round == 4)
		return raw_fail(c, "login: target never left the security stage");

	n = 0;
	n = raw_addkey(text, n, sizeof(text), "HeaderDigest", "None");
	n = raw_addkey(text, n, sizeof(text), "DataDigest", "None");
	snprintf(v, sizeof(v), "%u", RAW_MAX_RECV_DSL);
	n = raw_addkey(text, n, sizeof(text), "MaxRecvDataSegmentLength", v);
	if (!target)            /* the session-wide keys are irrelevant (RFC 7143 §13) */
		goto operational;
	n = raw_addkey(text, n, sizeof(text), "ErrorRecoveryLevel", "0");
	n = raw_addkey(text, n, sizeof(text), "InitialR2T", "Yes");
	n = raw_addkey(text, n, sizeof(text), "ImmediateData", "Yes");
	snprintf(v, sizeof(v), "%u", c->offer_max_burst ? c->offer_max_burst : 262144u);
	n = raw_addkey(text, n, sizeof(text), "MaxBurstLength", v);
	if (c->offer_max_r2t) {
		snprintf(v, sizeof(v), "%u", c->offer_max_r2t);
		n = raw_addkey(text, n, sizeof(text), "MaxOutstandingR2T", v);
	}
	n = raw_addkey(text, n, sizeof(text), "FirstBurstLength", "65536");
operational:
	for (round = 0; round < 4; round++) {
		if (raw_login_step(c, &rsp, ISCSI_STAGE_OPERATIONAL, ISCSI_STAGE_FULL_FEATURE, text, n))
			return -1;
		if (raw_key(&rsp, "MaxRecvDataSegmentLength", v, sizeof(v)))
			c->target_mrdsl = (uint32_t)strtoul(v, NULL, 10);
		if (raw_key(&rsp, "FirstBurstLength", v, sizeof(v)))
			c->first_burst = (uint32_t)strtoul(v, NULL, 10);
		if (raw_key(&rsp, "ImmediateData", v, sizeof(v)))
			c->immediate_data = !strcmp(v, "Yes");
		if (raw_key(&rsp, "InitialR2T", v, sizeof(v)))
			c->initial_r2t = !strcmp(v, "Yes");
		if (raw_key(&rsp, "MaxOutstandingR2T", v, sizeof(v)))
			c->max_r2t = (uint32_t)strtoul(v, NULL, 10);
		if ((rsp.h.b[1] & ISCSI_LOGIN_TRANSIT) && ISCSI_LOGIN_NSG(rsp.h.b[1]) == ISCSI_STAGE_FULL_FEATURE)
			break;
		n = 0;
	}
	if (round == 4)
		return raw_fail(c, "login: target never entered full feature phase");
	c->tsih = iscsi_get_be16(rsp.h.b + 14);
	if (c->tsih == 0)
		return raw_fail(c, "login: final Login Response has TSIH 0 (§11.13.3)");
	/* §11.12.8: the first command carries the CmdSN the target expects. */
	c->cmdsn = bhs_be32(&rsp.h, 28);
	c->itt++;
	return 0;
}

/* Fill a SCSI Command BHS (§11.3) for LUN 0; takes the next ITT and CmdSN. */
static inline void raw_cmd_bhs(struct raw_conn *c, struct iscsi_bhs *h, const uint8_t *cdb, size_t cdb_len,
                               uint8_t dir_flags, uint32_t edtl)
{
	memset(h, 0, sizeof(*h));
	h->b[0] = ISCSI_OP_SCSI_CMD;
	h->b[1] = (uint8_t)(ISCSI_FLAG_FINAL | dir_flags | 1 /* SIMPLE task attribute */);
	iscsi_put_be64(h->b + 8, vs_iscsi_scsi_to_lun(0));
	bhs_set_be32(h, 16, c->itt++);
	bhs_set_be32(h, 20, edtl);
	bhs_set_be32(h, 24, c->cmdsn++);
	bhs_set_be32(h, 28, c->exp_statsn);
	memcpy(h->b + 32, cdb, cdb_len);
}

struct raw_result {
	uint8_t status;        /* SCSI status (SAM-5) */
	uint8_t sense_key, asc, ascq;
	uint32_t data_len;     /* Data-In bytes received */
};

/*
 * Run a command without data-out (TEST UNIT READY, READ CAPACITY...);
 * Data-In goes to buf (cap bytes).  0 = completed (see res->status).
 */
static inline int raw_scsi_in(struct raw_conn *c, const uint8_t *cdb, size_t cdb_len, uint32_t edtl,
                              uint8_t *buf, uint32_t cap, struct raw_result *res)
{
	static struct raw_pdu p;
	struct iscsi_bhs h;
	uint32_t itt = c->itt;

	memset(res, 0, sizeof(*res));
	raw_cmd_bhs(c, &h, cdb, cdb_len, edtl ? ISCSI_CMD_READ : 0, edtl);
	if (raw_send_pdu(c, &h, NULL, 0))
		return -1;
	for (int guard = 0; guard < 1024; guard++) {
		int r = raw_recv_pdu(c, &p);
		if (r == 0)
			return raw_fail(c, "scsi 0x%02x: target closed the connection", cdb[0]);
		if (r < 0)
			return -1;
		uint8_t op = bhs_opcode(&p.h);
		if (op == ISCSI_OP_ASYNC_MSG)
			continue;
		if (bhs_itt(&p.h) != itt)
			return raw_fail(c, "scsi 0x%02x: opcode 0x%02x with ITT 0x%x, want 0x%x", cdb[0], op,
			                bhs_itt(&p.h), itt);
		if (op == ISCSI_OP_DATA_IN) {
			uint32_t off = bhs_be32(&p.h, 40);
			if (off + p.len > cap || off + p.len > edtl)
				return raw_fail(c, "scsi 0x%02x: Data-In beyond the buffer", cdb[0]);
			memcpy(buf + off, p.data, p.len);
			if (off + p.len > res->data_len)
				res->data_len = off + p.len;
			if (bhs_flags(&p.h) & ISCSI_FLAG_STATUS) {
				res->status = p.h.b[3];
				return 0;
			}
			continue;
		}
		if (op != ISCSI_OP_SCSI_RESP)
			return raw_fail(c, "scsi 0x%02x: unexpected opcode 0x%02x", cdb[0], op);
		if (p.h.b[2] != 0)
			return raw_fail(c, "scsi 0x%02x: iSCSI response 0x%02x (not completed at target)",
			                cdb[0], p.h.b[2]);
		res->status = p.h.b[3];
		/* §11.4.7: SenseLength, then fixed-format sense (SPC-4 4.5.3). */
		if (p.len >= 2 + 14 && iscsi_get_be16(p.data) >= 14) {
			res->sense_key = p.data[2 + 2] & 0x0f;
			res->asc = p.data[2 + 12];
			res->ascq = p.data[2 + 13];
		}
		return 0;
	}
	return raw_fail(c, "scsi 0x%02x: no response after 1024 PDUs", cdb[0]);
}

/* Wait for an R2T (§11.8) for `itt`; 0 and the R2T in *p. */
static inline int raw_wait_r2t(struct raw_conn *c, uint32_t itt, struct raw_pdu *p)
{
	for (int guard = 0; guard < 16; guard++) {
		int r = raw_recv_pdu(c, p);
		if (r == 0)
			return raw_fail(c, "target closed the connection while we waited for an R2T");
		if (r < 0)
			return -1;
		if (bhs_opcode(&p->h) == ISCSI_OP_ASYNC_MSG)
			continue;
		if (bhs_opcode(&p->h) != ISCSI_OP_R2T || bhs_itt(&p->h) != itt)
			return raw_fail(c, "opcode 0x%02x ITT 0x%x, want R2T for ITT 0x%x", bhs_opcode(&p->h),
			                bhs_itt(&p->h), itt);
		return 0;
	}
	return raw_fail(c, "no R2T");
}

/* A Data-Out header (§11.7) for LUN 0 answering TTT at offset/DataSN. */
static inline void raw_data_out_bhs(struct raw_conn *c, struct iscsi_bhs *d, uint32_t itt, uint32_t ttt,
                                    uint32_t datasn, uint32_t offset, bool final)
{
	memset(d, 0, sizeof(*d));
	d->b[0] = ISCSI_OP_DATA_OUT;
	d->b[1] = final ? ISCSI_FLAG_FINAL : 0;
	iscsi_put_be64(d->b + 8, vs_iscsi_scsi_to_lun(0));
	bhs_set_be32(d, 16, itt);
	bhs_set_be32(d, 20, ttt);
	bhs_set_be32(d, 28, c->exp_statsn);
	bhs_set_be32(d, 36, datasn);
	bhs_set_be32(d, 40, offset);
}

/* NOP-Out ping (§11.18) as an immediate command; 0 when the NOP-In echoes it. */
static inline int raw_ping(struct raw_conn *c)
{
	static struct raw_pdu p;
	static const char payload[] = "vstor-e2e-ping";
	struct iscsi_bhs h = { { 0 } };
	uint32_t itt = c->itt++;

	h.b[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
	h.b[1] = ISCSI_FLAG_FINAL;
	bhs_set_be32(&h, 16, itt);
	bhs_set_be32(&h, 20, ISCSI_RESERVED_TAG);
	bhs_set_be32(&h, 24, c->cmdsn);   /* immediate: CmdSN not advanced */
	bhs_set_be32(&h, 28, c->exp_statsn);
	if (raw_send_pdu(c, &h, payload, sizeof(payload)))
		return -1;
	for (int guard = 0; guard < 16; guard++) {
		int r = raw_recv_pdu(c, &p);
		if (r == 0)
			return raw_fail(c, "ping: target closed the connection");
		if (r < 0)
			return -1;
		if (bhs_opcode(&p.h) == ISCSI_OP_ASYNC_MSG)
			continue;
		if (bhs_opcode(&p.h) != ISCSI_OP_NOP_IN || bhs_itt(&p.h) != itt)
			return raw_fail(c, "ping: opcode 0x%02x ITT 0x%x, want NOP-In ITT 0x%x",
			                bhs_opcode(&p.h), bhs_itt(&p.h), itt);
		/* §11.19: the ping data comes back unchanged. */
		if (p.len != sizeof(payload) || memcmp(p.data, payload, sizeof(payload)))
			return raw_fail(c, "ping: NOP-In data (%u bytes) differs from the NOP-Out data", p.len);
		return 0;
	}
	return raw_fail(c, "ping: no NOP-In");
}

/* Logout, reason "close the session" (§11.14); 0 on Response 0. */
static inline int raw_logout(struct raw_conn *c)
{
	static struct raw_pdu p;
	struct iscsi_bhs h = { { 0 } };
	uint32_t itt = c->itt++;

	h.b[0] = ISCSI_OP_LOGOUT_REQ | ISCSI_FLAG_IMMEDIATE;
	h.b[1] = ISCSI_FLAG_FINAL | 0;
	bhs_set_be32(&h, 16, itt);
	bhs_set_be32(&h, 24, c->cmdsn);
	bhs_set_be32(&h, 28, c->exp_statsn);
	if (raw_send_pdu(c, &h, NULL, 0))
		return -1;
	for (int guard = 0; guard < 16; guard++) {
		int r = raw_recv_pdu(c, &p);
		if (r <= 0)
			return r == 0 ? raw_fail(c, "logout: closed before the Logout Response") : -1;
		if (bhs_opcode(&p.h) != ISCSI_OP_LOGOUT_RESP)
			continue;
		if (p.h.b[2] != 0)
			return raw_fail(c, "logout: response 0x%02x", p.h.b[2]);
		return 0;
	}
	return raw_fail(c, "logout: no Logout Response");
}

#endif
