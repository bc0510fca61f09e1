/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the receive path of a real iSCSI connection in full
 * feature phase -- conn_rx.c's state machine and every PDU handler (SCSI
 * Command with immediate data and AHS, Data-Out against R2Ts, NOP-Out, Task
 * Management, Text, Logout, SNACK, the Reject paths), down through the port
 * and vdisk over a ram LUN, on the fabric's own event-loop thread.
 *
 * Each input gets a fresh connection (one end of a socketpair, as if a
 * portal had accepted it), logged in with fixed keys; then the input is
 * sent and the target's answers are read and thrown away until the target
 * closes (after our end shut down its sending side).
 *
 * Input: byte 0 selects how, the rest is the stream.
 *   bit 0  HeaderDigest and DataDigest CRC32C (structured mode computes them)
 *   bit 1  structured: the rest is PDUs -- a 48-byte BHS, TotalAHSLength*4
 *          bytes of AHS, DataSegmentLength & 0xffff bytes of data, each
 *          clamped to what is left; lengths, padding and digests are made
 *          consistent so the fuzzer spends its time past the framing
 *   bit 2  (structured) CmdSN and ExpStatSN set to values the target
 *          expects, so commands land inside the window
 *   bit 3  InitialR2T=Yes (else No, with unsolicited data allowed)
 *   else   the rest goes out byte for byte, framing errors included
 *
 * The contract checked: no crash, leak or sanitizer report, no hang (the
 * connection closes once our side is done, -timeout catches a stuck one),
 * and the connection and its session are gone afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"
#include "fabrics/iscsi/conn.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "fabrics/iscsi/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TGT "iqn.2026-11.org.vstor:fuzz"
#define INI "iqn.2026-11.org.vstor:fuzzer"
#define MODE_DIGESTS    1
#define MODE_STRUCTURED 2
#define MODE_FIX_SN     4
#define MODE_R2T        8
#define MAX_DATA        65536u      /* the MaxRecvDataSegmentLength we declare */

static struct vs_port *port;
static struct vs_iscsi *is;

static void setup(void)
{
	struct vs_vdisk_adapter_config ac = { .target_name = TGT, .rel_target_port_id = 1 };
	/* Short timeouts: a command the fuzzer wedges must still complete. */
	struct vs_port_config pc = { .name = "fuzz", .default_timeout_ms = 2000, .abort_timeout_ms = 500 };
	struct vs_kv kv[] = { { "size", "4M" } };
	struct vs_vdisk_lun_config lc = { .block_size = 512 };
	struct vs_iscsi_config ic = { .threads = 1, .queue_depth = 8, .max_recv_dsl = MAX_DATA,
	                              .max_burst_length = 262144, .first_burst_length = 65536,
	                              .max_outstanding_r2t = 2, .nop_interval_ms = 3600000,
	                              .nop_timeout_ms = 3600000, .login_timeout_ms = 3600000 };
	struct vs_iscsi_target_config tc = { .iqn = TGT };

	vs_iscsi_set_log_level(0);
	port = vs_port_create(&vs_vdisk_miniport, &pc, &ac);
	lc.bdev = vs_bdev_open("ram", kv, 1);
	if (!port || !lc.bdev || vs_port_lun_add(port, 0, &lc) != 0)
		abort();
	is = vs_iscsi_create(&ic);
	tc.port = port;
	if (!is || vs_iscsi_add_target(is, &tc) != 0 || vs_iscsi_start(is) != 0)
		abort();
}

/* ---------------------------------------------------------------- output */

struct out {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct out *o, const void *d, size_t n)
{
	if (!n)
		return;
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->p = realloc(o->p, o->cap);
		if (!o->p)
			abort();
	}
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

/* One PDU with consistent lengths, padding and (optionally) digests. */
static void put_pdu(struct out *o, uint8_t *bhs, const uint8_t *ahs, size_t ahs_len,
                    const uint8_t *d, uint32_t dlen, bool digests)
{
	static const uint8_t zero[4];
	uint32_t pad = iscsi_pad4(dlen) - dlen;
	uint8_t dig[4];

	bhs[4] = (uint8_t)(ahs_len / 4);
	bhs_set_dsl((struct iscsi_bhs *)bhs, dlen);
	put(o, bhs, ISCSI_BHS_LEN);
	put(o, ahs, ahs_len);
	if (digests) {
		uint32_t crc = vs_crc32c(0, bhs, ISCSI_BHS_LEN);

		if (ahs_len)
			crc = vs_crc32c(crc, ahs, ahs_len);
		iscsi_put_digest(dig, crc);
		put(o, dig, 4);
	}
	if (dlen) {
		put(o, d, dlen);
		put(o, zero, pad);
		if (digests) {
			iscsi_put_digest(dig, vs_crc32c(vs_crc32c(0, d, dlen), zero, pad));
			put(o, dig, 4);
		}
	}
}

static bool carries_cmdsn(uint8_t op)
{
	return op == ISCSI_OP_NOP_OUT || op == ISCSI_OP_SCSI_CMD || op == ISCSI_OP_TASK_MGMT_REQ ||
	       op == ISCSI_OP_TEXT_REQ || op == ISCSI_OP_LOGOUT_REQ;
}

static void structured(struct out *o, const uint8_t *in, size_t n, uint8_t mode, uint32_t cmdsn,
                       uint32_t exp_statsn)
{
	while (n >= ISCSI_BHS_LEN) {
		uint8_t bhs[ISCSI_BHS_LEN];
		size_t ahs_len;
		uint32_t dlen;

		memcpy(bhs, in, ISCSI_BHS_LEN);
		in += ISCSI_BHS_LEN;
		n -= ISCSI_BHS_LEN;
		ahs_len = (size_t)bhs[4] * 4;
		if (ahs_len > n)
			ahs_len = n & ~(size_t)3;
		dlen = bhs_dsl((struct iscsi_bhs *)bhs) & 0xffffu;
		if (dlen > n - ahs_len)
			dlen = (uint32_t)(n - ahs_len);
		if (mode & MODE_FIX_SN) {
			if (carries_cmdsn(bhs[0] & ISCSI_OPCODE_MASK)) {
				iscsi_put_be32(bhs + 24, cmdsn);
				if (!(bhs[0] & ISCSI_FLAG_IMMEDIATE))
					cmdsn++;
			}
			iscsi_put_be32(bhs + 28, exp_statsn);
		}
		put_pdu(o, bhs, in, ahs_len, in + ahs_len, dlen, mode & MODE_DIGESTS);
		in += ahs_len + dlen;
		n -= ahs_len + dlen;
	}
}

/* ---------------------------------------------------------------- wire */

/* poll() that goes on after a signal (libFuzzer's -timeout alarm). */
static int poll_one(struct pollfd *pfd, int ms)
{
	int n;

	do
		n = poll(pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Write what there is to write, read and drop what the target sends, until
 * the target closes.  Never blocks on one side while the other is full. */
static void pump(int fd, const uint8_t *p, size_t len)
{
	size_t off = 0;
	bool shut = false;
	uint8_t sink[64 * 1024];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (!shut && off == len) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (!shut)
			pfd.events |= POLLOUT;
		if (poll_one(&pfd, 20000) <= 0)
			abort();    /* the target neither reads nor answers nor closes */
		if (pfd.revents & POLLOUT) {
			r = send(fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r > 0)
				off += (size_t)r;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				off = len;      /* the target closed: nothing more goes */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				return;
		}
	}
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll_one(&pfd, 10000) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EPIPE;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Straight to full feature phase (§6.3: the security stage may be skipped
 * when no authentication is required); the response's StatSN / ExpCmdSN. */
static void login(int fd, uint8_t mode, uint32_t *cmdsn, uint32_t *exp_statsn)
{
	char text[512];
	const char *dig = mode & MODE_DIGESTS ? "CRC32C" : "None";
	int n = snprintf(text, sizeof(text),
	                 "InitiatorName=" INI "%cTargetName=" TGT "%cSessionType=Normal%c"
	                 "HeaderDigest=%s%cDataDigest=%s%cMaxRecvDataSegmentLength=65536%c"
	                 "ImmediateData=Yes%cInitialR2T=%s%cMaxOutstandingR2T=2%cErrorRecoveryLevel=0",
	                 0, 0, 0, dig, 0, dig, 0, 0, 0, mode & MODE_R2T ? "Yes" : "No", 0, 0);
	struct out o = { 0 };
	uint8_t bhs[ISCSI_BHS_LEN] = { ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE,
	                               ISCSI_LOGIN_TRANSIT | ISCSI_STAGE_OPERATIONAL << 2 |
	                               ISCSI_STAGE_FULL_FEATURE };
	uint8_t rsp[ISCSI_BHS_LEN], rdata[8192];
	uint32_t dlen;

	bhs[8] = 0x80;              /* ISID: random format */
	bhs[13] = 1;
	iscsi_put_be32(bhs + 16, 1);
	put_pdu(&o, bhs, NULL, 0, (const uint8_t *)text, (uint32_t)n + 1, false);
	if (send(fd, o.p, o.len, MSG_NOSIGNAL) != (ssize_t)o.len)
		abort();
	free(o.p);
	if (read_exact(fd, rsp, sizeof(rsp)) < 0) {
		fprintf(stderr, "fuzz_conn: no login response (%s)\n", strerror(errno));
		abort();
	}
	dlen = bhs_dsl((struct iscsi_bhs *)rsp);
	if ((rsp[0] & ISCSI_OPCODE_MASK) != ISCSI_OP_LOGIN_RESP || rsp[36] || dlen > sizeof(rdata) ||
	    read_exact(fd, rdata, iscsi_pad4(dlen)) < 0)
		abort();
	*exp_statsn = iscsi_get_be32(rsp + 24) + 1;
	*cmdsn = iscsi_get_be32(rsp + 28);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_iscsi_session_info info[2];
	struct iscsi_conn *c;
	struct out o = { 0 };
	uint32_t cmdsn, exp_statsn;
	uint8_t mode;
	int sv[2];

	if (!is)
		setup();
	if (size < 1)
		return 0;
	mode = data[0];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	c = vs_iscsi_conn_create(is, sv[1], "fuzz-peer", "127.0.0.1:3260");
	if (!c)
		abort();
	vs_iscsi_conn_attach(c, &is->loops[0]);
	login(sv[0], mode, &cmdsn, &exp_statsn);
	if (mode & MODE_STRUCTURED)
		structured(&o, data + 1, size - 1, mode, cmdsn, exp_statsn);
	else
		put(&o, data + 1, size - 1);
	pump(sv[0], o.p, o.len);
	close(sv[0]);
	free(o.p);
	/* Nothing of the connection may outlive it: the next input starts
	 * from a target with no session at all. */
	for (int i = 0; atomic_load(&is->nconns) || vs_iscsi_sessions(is, info, 2); i++) {
		if (i == 10000)
			abort();
		usleep(1000);
	}
	return 0;
}
