/* SPDX-License-Identifier: MIT */
/*
 * The in-process iSCSI test harness: a vs_iscsi with a vdisk+ram port,
 * connections injected over socketpair(), and a hand-built "initiator"
 * (see iscsi_harness.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/port.h"
#include "vstor/scsi.h"
#include "vstor/vdisk.h"
#include "fabrics/iscsi/conn.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "fabrics/iscsi/chap.h"
#include "fabrics/iscsi/keys.h"
#include "iscsi_harness.h"

struct pdu rx;

/* ---------------------------------------------------------------- fixture */

struct vs_iscsi_config next_cfg;

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vs_vdisk_adapter_config acfg = { .target_name = TGT, .rel_target_port_id = 1 };
	struct vs_port_config pcfg = { .name = "unit" };
	struct vs_kv kv[] = { { "size", "16M" } };
	struct vs_vdisk_lun_config lcfg = { .block_size = BLK };
	struct vs_iscsi_config icfg = { .threads = 2, .queue_depth = 16, .nop_interval_ms = 60000 };
	struct vs_iscsi_target_config tcfg = { .iqn = TGT };

	if (next_cfg.threads)
		icfg = next_cfg;
	memset(&next_cfg, 0, sizeof(next_cfg));
	vs_iscsi_set_log_level(1);
	f->port = vs_port_create(&vs_vdisk_miniport, &pcfg, &acfg);
	assert_non_null(f->port);
	lcfg.bdev = vs_bdev_open("ram", kv, 1);
	assert_non_null(lcfg.bdev);
	assert_int_equal(vs_port_lun_add(f->port, 0, &lcfg), 0);
	f->is = vs_iscsi_create(&icfg);
	assert_non_null(f->is);
	tcfg.port = f->port;
	assert_int_equal(vs_iscsi_add_target(f->is, &tcfg), 0);
	assert_int_equal(vs_iscsi_start(f->is), 0);
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	vs_iscsi_stop(f->is, 1000);
	vs_iscsi_destroy(f->is);
	vs_port_destroy(f->port);
	free(f);
	return 0;
}

/* A connection as if accepted on a portal: one end of a socketpair. */
int connect_fx(struct fx *f)
{
	int sv[2];
	struct timeval tv = { .tv_sec = 5 };
	struct iscsi_conn *c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	c = vs_iscsi_conn_create(f->is, sv[1], "unit-peer", "127.0.0.1:3260");
	assert_non_null(c);
	vs_iscsi_conn_attach(c, &f->is->loops[0]);
	return sv[0];
}

bool wait_sessions(struct fx *f, size_t n, int ms)
{
	struct vs_iscsi_session_info info[8];

	for (int waited = 0;; waited += 10) {
		if (vs_iscsi_sessions(f->is, info, 8) == n)
			return true;
		if (waited >= ms)
			return false;
		usleep(10000);
	}
}

/* ---------------------------------------------------------------- wire */

void put_digest(uint8_t *p, uint32_t crc)
{
	p[0] = (uint8_t)crc; p[1] = (uint8_t)(crc >> 8); p[2] = (uint8_t)(crc >> 16); p[3] = (uint8_t)(crc >> 24);
}

void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		/* No SIGPIPE when the target closed: the assert below fails. */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void send_pdu_ahs(struct cl *cl, uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
                  const void *data, uint32_t dlen)
{
	uint8_t pad[4] = { 0 }, dig[4];
	uint32_t padn = iscsi_pad4(dlen) - dlen;

	assert_true(ahs_len % 4 == 0 && ahs_len <= 255 * 4);
	bhs[4] = (uint8_t)(ahs_len / 4);
	bhs[5] = (uint8_t)(dlen >> 16); bhs[6] = (uint8_t)(dlen >> 8); bhs[7] = (uint8_t)dlen;
	write_all(cl->fd, bhs, 48);
	if (ahs_len)
		write_all(cl->fd, ahs, ahs_len);
	if (cl->hd) {
		/* §11.2: the header digest covers the BHS and the AHS. */
		put_digest(dig, vs_crc32c(vs_crc32c(0, bhs, 48), ahs, ahs_len));
		write_all(cl->fd, dig, 4);
	}
	if (dlen) {
		write_all(cl->fd, data, dlen);
		write_all(cl->fd, pad, padn);
		if (cl->dd) {
			uint32_t crc = vs_crc32c(0, data, dlen);

			crc = vs_crc32c(crc, pad, padn);
			put_digest(dig, cl->bad_data_digest ? ~crc : crc);
			write_all(cl->fd, dig, 4);
		}
	}
}

void send_pdu(struct cl *cl, uint8_t *bhs, const void *data, uint32_t dlen)
{
	send_pdu_ahs(cl, bhs, NULL, 0, data, dlen);
}

int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0 = got a PDU; -1 = EOF or 5 s timeout. */
int recv_pdu(struct cl *cl, struct pdu *p)
{
	uint8_t dig[4], pad[4];
	uint32_t padn;

	if (read_full(cl->fd, p->bhs, 48) < 0)
		return -1;
	if (cl->hd) {
		assert_int_equal(read_full(cl->fd, dig, 4), 0);
		assert_int_equal(vs_crc32c(0, p->bhs, 48),
		                 (uint32_t)dig[0] | dig[1] << 8 | dig[2] << 16 | (uint32_t)dig[3] << 24);
	}
	p->dlen = (uint32_t)p->bhs[5] << 16 | p->bhs[6] << 8 | p->bhs[7];
	assert_true(p->dlen <= sizeof(p->data));
	padn = iscsi_pad4(p->dlen) - p->dlen;
	if (p->dlen) {
		assert_int_equal(read_full(cl->fd, p->data, p->dlen), 0);
		assert_int_equal(read_full(cl->fd, pad, padn), 0);
		if (cl->dd) {
			uint32_t crc = vs_crc32c(vs_crc32c(0, p->data, p->dlen), pad, padn);

			assert_int_equal(read_full(cl->fd, dig, 4), 0);
			assert_int_equal(crc, (uint32_t)dig[0] | dig[1] << 8 | dig[2] << 16 |
			                      (uint32_t)dig[3] << 24);
		}
	}
	/* Track StatSN for status-bearing PDUs. */
	return 0;
}

uint32_t be32(const uint8_t *p) { return iscsi_get_be32(p); }

/* ---------------------------------------------------------------- login */

const char *key_value(const struct pdu *p, const char *key)
{
	static char val[256];
	size_t kl = strlen(key);

	for (uint32_t i = 0; i < p->dlen;) {
		const char *kv = (const char *)p->data + i;
		size_t l = strnlen(kv, p->dlen - i);

		if (l > kl && strncmp(kv, key, kl) == 0 && kv[kl] == '=') {
			snprintf(val, sizeof(val), "%s", kv + kl + 1);
			return val;
		}
		i += (uint32_t)l + 1;
	}
	return NULL;
}


/* Append key=value and its NUL separator (§6.1). */
static int add_key(char *text, int n, size_t cap, const char *key, const char *value)
{
	int w = snprintf(text + n, cap - (size_t)n, "%s=%s", key, value);

	assert_true(w > 0 && (size_t)(n + w) < cap);
	return n + w + 1;
}

/* One Login Request / Response exchange; the response is in rx.  Returns
 * its status (class << 8 | detail), or -1 when the target closed. */
static int login_round(struct cl *cl, const struct login_opts *o, int csg, int nsg,
                       const char *text, int n)
{
	static const uint8_t def_isid[6] = { 0x80, 0, 0, 0x12, 0x34, 0 };
	uint8_t bhs[48] = { 0 };

	bhs[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = (uint8_t)(ISCSI_LOGIN_TRANSIT | csg << 2 | nsg);
	memcpy(bhs + 8, o->isid ? o->isid : def_isid, 6);
	iscsi_put_be16(bhs + 14, o->tsih);
	iscsi_put_be32(bhs + 16, 0x1000);       /* ITT */
	iscsi_put_be32(bhs + 24, 1);            /* CmdSN */
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	send_pdu(cl, bhs, text, (uint32_t)n);
	if (recv_pdu(cl, &rx) < 0)
		return -1;
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_LOGIN_RESP);
	cl->exp_statsn = be32(rx.bhs + 24) + 1;
	return rx.bhs[36] << 8 | rx.bhs[37];
}

static void hex_value(char *out, size_t cap, const uint8_t *b, size_t n)
{
	assert_int_equal(vs_iscsi_encode_hex(b, n, out, cap), 0);
}

/*
 * The security stage with CHAP MD5 (RFC 7143 §12.1.3): AuthMethod, CHAP_A,
 * then CHAP_N/CHAP_R (and our own challenge for mutual CHAP).  Returns the
 * first non-zero login status, -1 on a closed connection, 0 when the
 * target let us go on to the operational stage.
 */
static int chap_stage(struct cl *cl, const struct login_opts *o, const char *leading, int ln)
{
	char text[1024], hex[2 * ISCSI_CHAP_CHALLENGE_MAX + 3];
	uint8_t chal[ISCSI_CHAP_CHALLENGE_MAX], resp[ISCSI_CHAP_DIGEST_MAX], mine[16];
	size_t clen = 0, rlen = 0;
	uint64_t id;
	int n, st;

	memcpy(text, leading, (size_t)ln);
	n = add_key(text, ln, sizeof(text), "AuthMethod", "CHAP");
	st = login_round(cl, o, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, text, n);
	if (st)
		return st;
	assert_string_equal(key_value(&rx, "AuthMethod"), "CHAP");
	n = add_key(text, 0, sizeof(text), "CHAP_A", "5");
	st = login_round(cl, o, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, text, n);
	if (st)
		return st;
	assert_string_equal(key_value(&rx, "CHAP_A"), "5");
	assert_int_equal(vs_iscsi_parse_number(key_value(&rx, "CHAP_I"), &id), 0);
	assert_int_equal(vs_iscsi_decode_binary(key_value(&rx, "CHAP_C"), chal, sizeof(chal), &clen), 0);
	assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_MD5, (uint8_t)id, o->secret, chal, clen, resp,
	                                    &rlen), 0);
	hex_value(hex, sizeof(hex), resp, rlen);
	n = add_key(text, 0, sizeof(text), "CHAP_N", o->user);
	n = add_key(text, n, sizeof(text), "CHAP_R", hex);
	if (o->mutual_user) {
		for (size_t i = 0; i < sizeof(mine); i++)
			mine[i] = (uint8_t)(0xa5 ^ i * 29);
		hex_value(hex, sizeof(hex), mine, sizeof(mine));
		n = add_key(text, n, sizeof(text), "CHAP_I", "77");
		n = add_key(text, n, sizeof(text), "CHAP_C", hex);
	}
	st = login_round(cl, o, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, text, n);
	if (st)
		return st;
	if (o->mutual_user) {
		/* The target proves it knows the mutual secret. */
		assert_string_equal(key_value(&rx, "CHAP_N"), o->mutual_user);
		assert_int_equal(vs_iscsi_decode_binary(key_value(&rx, "CHAP_R"), chal, sizeof(chal), &clen), 0);
		assert_int_equal(vs_iscsi_chap_compute(ISCSI_CHAP_MD5, 77, o->mutual_secret, mine,
		                                    sizeof(mine), resp, &rlen), 0);
		assert_int_equal(clen, rlen);
		assert_memory_equal(chal, resp, rlen);
	}
	assert_true(rx.bhs[1] & ISCSI_LOGIN_TRANSIT);
	assert_int_equal(ISCSI_LOGIN_NSG(rx.bhs[1]), ISCSI_STAGE_OPERATIONAL);
	return 0;
}

int do_login(struct cl *cl, const struct login_opts *o)
{
	char text[1024], num[16];
	int n = 0, st;

	n = add_key(text, n, sizeof(text), "InitiatorName", o->initiator ? o->initiator : INI);
	if (!o->discovery)
		n = add_key(text, n, sizeof(text), "TargetName", o->target ? o->target : TGT);
	n = add_key(text, n, sizeof(text), "SessionType", o->discovery ? "Discovery" : "Normal");
	if (o->user) {
		st = chap_stage(cl, o, text, n);
		if (st && !o->expect_fail)
			fail_msg("CHAP login failed: status 0x%04x", st);
		if (st)
			return st;
		n = 0;
	}
	n = add_key(text, n, sizeof(text), "HeaderDigest", o->digest ? o->digest : "None");
	n = add_key(text, n, sizeof(text), "DataDigest", o->digest ? o->digest : "None");
	snprintf(num, sizeof(num), "%u", o->mrdsl ? o->mrdsl : 65536);
	n = add_key(text, n, sizeof(text), "MaxRecvDataSegmentLength", num);
	if (o->discovery)       /* the session-wide keys are irrelevant (RFC 7143 §13) */
		goto send;
	n = add_key(text, n, sizeof(text), "ImmediateData", "Yes");
	n = add_key(text, n, sizeof(text), "InitialR2T", o->initial_r2t ? "Yes" : "No");
	snprintf(num, sizeof(num), "%u", o->first_burst ? o->first_burst : 65536);
	n = add_key(text, n, sizeof(text), "FirstBurstLength", num);
	snprintf(num, sizeof(num), "%u", o->max_burst ? o->max_burst : 262144);
	n = add_key(text, n, sizeof(text), "MaxBurstLength", num);
	n = add_key(text, n, sizeof(text), "ErrorRecoveryLevel", "0");
	snprintf(num, sizeof(num), "%u", o->max_r2t ? o->max_r2t : 1);
	n = add_key(text, n, sizeof(text), "MaxOutstandingR2T", num);
send:
	st = login_round(cl, o, ISCSI_STAGE_OPERATIONAL, ISCSI_STAGE_FULL_FEATURE, text, n);
	if (st < 0)
		return -1;
	if (o->expect_fail && st)
		return st;
	assert_int_equal(st, 0);
	assert_true(rx.bhs[1] & ISCSI_LOGIN_TRANSIT);
	assert_int_equal(ISCSI_LOGIN_NSG(rx.bhs[1]), ISCSI_STAGE_FULL_FEATURE);
	cl->tsih = iscsi_get_be16(rx.bhs + 14);
	assert_int_not_equal(cl->tsih, 0);
	cl->cmdsn = be32(rx.bhs + 28);
	cl->itt = 1;
	cl->hd = cl->dd = o->digest && strcmp(o->digest, "CRC32C") == 0;
	{
		const char *v = key_value(&rx, "MaxRecvDataSegmentLength");

		cl->tgt_mrdsl = v ? (uint32_t)atoi(v) : 8192;
	}
	cl->first_burst = o->first_burst ? o->first_burst : 65536;
	cl->initial_r2t = o->initial_r2t;
	cl->immediate = true;
	return 0;
}

struct cl *new_client(struct fx *f, const struct login_opts *o)
{
	static struct cl cls[4];
	static int next;
	struct cl *cl = &cls[next++ % 4];
	struct login_opts def = { 0 };

	memset(cl, 0, sizeof(*cl));
	cl->fd = connect_fx(f);
	assert_int_equal(do_login(cl, o ? o : &def), 0);
	return cl;
}

/* ---------------------------------------------------------------- commands */


void cmd_header(struct cl *cl, uint8_t *bhs, const uint8_t *cdb, size_t cdb_len, uint8_t rw,
                uint32_t edtl, bool final, uint32_t itt)
{
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_SCSI_CMD;
	bhs[1] = (final ? ISCSI_FLAG_FINAL : 0) | rw | 1;   /* SIMPLE */
	iscsi_put_be32(bhs + 16, itt);
	iscsi_put_be32(bhs + 20, edtl);
	iscsi_put_be32(bhs + 24, cl->cmdsn++);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	memcpy(bhs + 32, cdb, cdb_len);
}

void data_out_header(struct cl *cl, uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t datasn,
                     uint32_t offset, bool final)
{
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_DATA_OUT;
	bhs[1] = final ? ISCSI_FLAG_FINAL : 0;
	iscsi_put_be32(bhs + 16, itt);
	iscsi_put_be32(bhs + 20, ttt);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	iscsi_put_be32(bhs + 36, datasn);
	iscsi_put_be32(bhs + 40, offset);
}

void send_data_out(struct cl *cl, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t offset,
                   const uint8_t *data, uint32_t len, bool final)
{
	uint8_t bhs[48];

	data_out_header(cl, bhs, itt, ttt, datasn, offset, final);
	send_pdu(cl, bhs, data + offset, len);
}

/* Run one command to completion, checking the PDU sequence on the way. */
void exec(struct cl *cl, const uint8_t *cdb, size_t cdb_len, uint8_t rw, uint32_t edtl,
          const uint8_t *out, uint8_t *in, struct result *r)
{
	uint8_t bhs[48];
	uint32_t itt = cl->itt++;
	uint32_t imm = 0, next_datasn = 0, next_off = 0;

	memset(r, 0, sizeof(*r));
	if (rw == ISCSI_CMD_WRITE && cl->immediate)
		imm = edtl < cl->first_burst ? edtl : cl->first_burst;
	if (imm > cl->tgt_mrdsl)
		imm = cl->tgt_mrdsl;
	/* F=1: no unsolicited Data-Out beyond the immediate data. */
	cmd_header(cl, bhs, cdb, cdb_len, rw, edtl, true, itt);
	send_pdu(cl, bhs, out, imm);
	for (;;) {
		uint8_t op;

		assert_int_equal(recv_pdu(cl, &rx), 0);
		op = rx.bhs[0] & 0x3f;
		if (op == ISCSI_OP_R2T) {
			uint32_t ttt = be32(rx.bhs + 20), off = be32(rx.bhs + 40), len = be32(rx.bhs + 44);
			uint32_t sn = 0;

			assert_int_equal(be32(rx.bhs + 16), itt);
			assert_int_equal(be32(rx.bhs + 36), r->r2ts);   /* R2TSN */
			assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);  /* not advanced */
			r->r2ts++;
			assert_true(off + len <= edtl);
			while (len) {
				uint32_t n = len < cl->tgt_mrdsl ? len : cl->tgt_mrdsl;

				send_data_out(cl, itt, ttt, sn++, off, out, n, n == len);
				off += n;
				len -= n;
			}
			continue;
		}
		if (op == ISCSI_OP_DATA_IN) {
			uint32_t dl = rx.dlen;

			assert_int_equal(be32(rx.bhs + 16), itt);
			assert_int_equal(be32(rx.bhs + 36), next_datasn);
			assert_int_equal(be32(rx.bhs + 40), next_off);
			assert_true(dl <= 65536 || dl <= cl->tgt_mrdsl);
			memcpy(in + next_off, rx.data, dl);
			next_datasn++;
			next_off += dl;
			r->din_pdus++;
			r->data_in += dl;
			if (rx.bhs[1] & ISCSI_FLAG_STATUS) {
				assert_true(rx.bhs[1] & ISCSI_FLAG_FINAL);
				assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
				cl->exp_statsn++;
				r->status = rx.bhs[3];
				r->flags = rx.bhs[1] & (ISCSI_FLAG_OVERFLOW | ISCSI_FLAG_UNDERFLOW);
				r->residual = be32(rx.bhs + 44);
				r->status_in_data = true;
				return;
			}
			continue;
		}
		assert_int_equal(op, ISCSI_OP_SCSI_RESP);
		assert_int_equal(be32(rx.bhs + 16), itt);
		assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
		cl->exp_statsn++;
		r->status = rx.bhs[3];
		r->flags = rx.bhs[1] & (ISCSI_FLAG_OVERFLOW | ISCSI_FLAG_UNDERFLOW);
		r->residual = be32(rx.bhs + 44);
		if (rx.dlen >= 2 + 14) {
			r->sense_key = rx.data[2 + 2] & 0xf;
			r->asc = rx.data[2 + 12];
			r->ascq = rx.data[2 + 13];
		}
		return;
	}
}

uint32_t write_until_r2t(struct cl *cl, uint32_t itt, uint32_t lba, uint32_t len,
                         const uint8_t *out, uint32_t imm)
{
	uint8_t bhs[48], cdb[10];

	rw10(cdb, WRITE_10, lba, (uint16_t)(len / BLK));
	cmd_header(cl, bhs, cdb, 10, ISCSI_CMD_WRITE, len, true, itt);
	send_pdu(cl, bhs, out, imm);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_R2T);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 40), imm);
	return be32(rx.bhs + 20);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	iscsi_put_be32(cdb + 2, lba);
	iscsi_put_be16(cdb + 7, blocks);
}

void clear_ua(struct cl *cl)
{
	uint8_t tur[6] = { 0 };
	struct result r;

	for (int i = 0; i < 8; i++) {
		exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
		if (r.status == SAM_STAT_GOOD)
			return;
		assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	}
	fail_msg("unit attention never cleared");
}

/* Ping and expect the echo next: proves nothing else was queued before. */
void nop_header(struct cl *cl, uint8_t *bhs, uint32_t itt)
{
	memset(bhs, 0, 48);
	bhs[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be32(bhs + 16, itt);
	iscsi_put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
}

void ping(struct cl *cl, uint32_t itt)
{
	uint8_t bhs[48], data[100];

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + itt);
	nop_header(cl, bhs, itt);
	send_pdu(cl, bhs, data, sizeof(data));
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_NOP_IN);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 20), ISCSI_RESERVED_TAG);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	assert_int_equal(rx.dlen, sizeof(data));
	assert_memory_equal(rx.data, data, sizeof(data));
}

void fill(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i >> 9) * 31 + i * 13 + seed);
}


void send_tmf(struct cl *cl, uint8_t fn, uint32_t itt, uint32_t ref_itt, uint32_t ref_cmdsn)
{
	uint8_t bhs[48] = { 0 };

	bhs[0] = ISCSI_OP_TASK_MGMT_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = 0x80 | fn;
	iscsi_put_be32(bhs + 16, itt);
	iscsi_put_be32(bhs + 20, ref_itt);
	iscsi_put_be32(bhs + 24, cl->cmdsn);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	iscsi_put_be32(bhs + 32, ref_cmdsn);
	send_pdu(cl, bhs, NULL, 0);
}

uint8_t tmf_response(struct cl *cl, uint32_t itt)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_TASK_MGMT_RESP);
	assert_int_equal(be32(rx.bhs + 16), itt);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	return rx.bhs[2];
}

uint8_t expect_reject(struct cl *cl)
{
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_REJECT);
	assert_int_equal(be32(rx.bhs + 16), ISCSI_RESERVED_TAG);
	assert_int_equal(be32(rx.bhs + 24), cl->exp_statsn);
	cl->exp_statsn++;
	/* §11.17: the data segment is the rejected PDU's header. */
	assert_int_equal(rx.dlen, 48);
	return rx.bhs[2];
}


void ob_put(struct obuf *o, const void *d, size_t n)
{
	assert_true(o->len + n <= o->cap);
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

void ob_data_out(struct obuf *o, struct cl *cl, uint32_t itt, uint32_t ttt, uint32_t datasn,
                 uint32_t offset, const uint8_t *buf, uint32_t len, bool final)
{
	uint8_t bhs[48];

	data_out_header(cl, bhs, itt, ttt, datasn, offset, final);
	ob_pdu(o, bhs, buf + offset, len);
}


/* Append one PDU to a send buffer, with the client's digests (none if cl
 * is NULL). */
void ob_pdu_dig(struct obuf *o, const struct cl *cl, uint8_t *bhs, const uint8_t *data,
                uint32_t dlen)
{
	static const uint8_t pad[4];
	uint32_t padn = iscsi_pad4(dlen) - dlen;
	uint8_t dig[4];

	bhs[5] = (uint8_t)(dlen >> 16); bhs[6] = (uint8_t)(dlen >> 8); bhs[7] = (uint8_t)dlen;
	ob_put(o, bhs, 48);
	if (cl && cl->hd) {
		put_digest(dig, vs_crc32c(0, bhs, 48));
		ob_put(o, dig, 4);
	}
	if (dlen) {
		ob_put(o, data, dlen);
		ob_put(o, pad, padn);
		if (cl && cl->dd) {
			put_digest(dig, vs_crc32c(vs_crc32c(0, data, dlen), pad, padn));
			ob_put(o, dig, 4);
		}
	}
}

void ob_pdu(struct obuf *o, uint8_t *bhs, const uint8_t *data, uint32_t dlen)
{
	ob_pdu_dig(o, NULL, bhs, data, dlen);
}
