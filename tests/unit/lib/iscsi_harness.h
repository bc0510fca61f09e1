/* SPDX-License-Identifier: MIT */
/*
 * iscsi_harness: the iSCSI fabric in-process, for unit tests.  A vs_iscsi
 * with one target (TGT) over a vdisk+ram port (16 MiB LUN 0, 512-byte
 * blocks); connections are injected as one end of a socketpair(), as if a
 * portal had accepted them, and the test drives the other end with
 * hand-built PDUs.
 *
 *   cmocka_unit_test_setup_teardown(test_x, fx_setup, fx_teardown)
 *   next_cfg = (struct vs_iscsi_config){ ... };   // before fx_setup: own config
 *
 *   struct cl *cl = new_client(f, &(struct login_opts){ .first_burst = 4096 });
 *   clear_ua(cl);                                  // eat POWER ON / RESET
 *   exec(cl, cdb, 10, ISCSI_CMD_WRITE, len, out, NULL, &r);   // whole command
 *   cmd_header(...); send_pdu(...); recv_pdu(cl, &rx);        // PDU by PDU
 *
 * Every read has a 5 s timeout: recv_pdu returns -1 on EOF or timeout, so
 * "the target closed the connection" is recv_pdu(...) == -1.  The client
 * tracks ExpStatSN itself (exec, ping, tmf_response assert the StatSN of
 * each status PDU); a test that reads PDUs by hand advances exp_statsn.
 */
#ifndef VSTOR_TEST_ISCSI_HARNESS_H
#define VSTOR_TEST_ISCSI_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vstor/iscsi.h"
#include "fabrics/iscsi/pdu.h"

#define TGT "iqn.2026-01.org.vstor:unit"
#define INI "iqn.2026-01.org.vstor:initiator"
#define BLK 512u

struct fx {
	struct vs_port *port;
	struct vs_iscsi *is;
};

/* One initiator connection. */
struct cl {
	int fd;
	uint32_t cmdsn, exp_statsn, itt;
	bool hd, dd;
	uint32_t tgt_mrdsl;         /* what the target accepts per PDU */
	uint32_t first_burst;
	bool initial_r2t, immediate;
	uint16_t tsih;
	bool bad_data_digest;       /* send_pdu corrupts the data digest */
};

struct pdu {
	uint8_t bhs[48];
	uint32_t dlen;
	uint8_t data[300 * 1024];
};

extern struct pdu rx;                   /* one receive buffer for the whole test */
extern struct vs_iscsi_config next_cfg; /* used (and cleared) by the next fx_setup */

int  fx_setup(void **state);
int  fx_teardown(void **state);
/* A connection as if accepted on a portal; returns the initiator's end. */
int  connect_fx(struct fx *f);
/* Wait up to ms for the fabric to hold exactly n sessions; true if it did. */
bool wait_sessions(struct fx *f, size_t n, int ms);

/* ---- wire */
void put_digest(uint8_t *p, uint32_t crc);
void write_all(int fd, const void *buf, size_t len);
/* BHS (DataSegmentLength filled in), digests as negotiated, data, pad. */
void send_pdu(struct cl *cl, uint8_t *bhs, const void *data, uint32_t dlen);
/* The same with ahs_len (a multiple of 4) bytes of AHS after the BHS. */
void send_pdu_ahs(struct cl *cl, uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
                  const void *data, uint32_t dlen);
int  read_full(int fd, void *buf, size_t len);
/* 0 = got a PDU (digests checked); -1 = EOF or 5 s timeout. */
int  recv_pdu(struct cl *cl, struct pdu *p);
uint32_t be32(const uint8_t *p);

/* ---- login */
struct login_opts {
	const char *digest;         /* "None" or "CRC32C" */
	uint32_t mrdsl;             /* ours, i.e. the target's MaxXmitDSL */
	uint32_t first_burst, max_burst;
	uint32_t max_r2t;           /* MaxOutstandingR2T we offer (0 = 1) */
	bool initial_r2t;
	const uint8_t *isid;
	const char *initiator;      /* NULL = INI */
	const char *target;         /* NULL = TGT */
	bool discovery;             /* SessionType=Discovery (no TargetName) */
	uint16_t tsih;
	bool expect_fail;
	/* CHAP (RFC 7143 §12.1.3): when user is set, the security stage runs
	 * CHAP (MD5) with user/secret; with mutual_user, the initiator also
	 * challenges the target and checks its answer against mutual_secret. */
	const char *user, *secret, *mutual_user, *mutual_secret;
};

const char *key_value(const struct pdu *p, const char *key);
/* 0 on success (full feature phase), the login status when expect_fail,
 * -1 when the target closed the connection. */
int  do_login(struct cl *cl, const struct login_opts *o);
struct cl *new_client(struct fx *f, const struct login_opts *o);

/* ---- commands */
struct result {
	uint8_t status;
	uint8_t sense_key, asc, ascq;
	uint8_t flags;              /* O/U from the final PDU */
	uint32_t residual;
	uint32_t data_in, din_pdus, r2ts;
	bool status_in_data;
};

void cmd_header(struct cl *cl, uint8_t *bhs, const uint8_t *cdb, size_t cdb_len, uint8_t rw,
                uint32_t edtl, bool final, uint32_t itt);
void data_out_header(struct cl *cl, uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t datasn,
                     uint32_t offset, bool final);
void send_data_out(struct cl *cl, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t offset,
                   const uint8_t *data, uint32_t len, bool final);
/* Run one command to completion, checking the PDU sequence on the way. */
void exec(struct cl *cl, const uint8_t *cdb, size_t cdb_len, uint8_t rw, uint32_t edtl,
          const uint8_t *out, uint8_t *in, struct result *r);
void rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks);
/* A WRITE(10) of len bytes at lba, imm of them immediate, F=1 (so with
 * InitialR2T=Yes the rest is solicited): waits for the first R2T, leaves it
 * in rx and returns its TTT.  The task then waits for our Data-Out. */
uint32_t write_until_r2t(struct cl *cl, uint32_t itt, uint32_t lba, uint32_t len,
                         const uint8_t *out, uint32_t imm);
uint64_t now_ms(void);          /* CLOCK_MONOTONIC */
void clear_ua(struct cl *cl);
/* An immediate NOP-Out ping header (§11.18) with ITT itt, no TTT. */
void nop_header(struct cl *cl, uint8_t *bhs, uint32_t itt);
/* Ping and expect the echo next: proves nothing else was queued before. */
void ping(struct cl *cl, uint32_t itt);
void fill(uint8_t *buf, size_t len, uint32_t seed);
void send_tmf(struct cl *cl, uint8_t fn, uint32_t itt, uint32_t ref_itt, uint32_t ref_cmdsn);
/* The next PDU must be the TMF response for itt; returns its Response. */
uint8_t tmf_response(struct cl *cl, uint32_t itt);
/* The next PDU must be a Reject (StatSN checked); returns its reason and
 * leaves the rejected header in rx.data. */
uint8_t expect_reject(struct cl *cl);

/* ---- a send buffer, for clients that must never block */
struct obuf {
	uint8_t *p;
	size_t len, off, cap;
};

void ob_put(struct obuf *o, const void *d, size_t n);
void ob_pdu(struct obuf *o, uint8_t *bhs, const uint8_t *data, uint32_t dlen);
/* The same with the client's digests (none if cl is NULL). */
void ob_pdu_dig(struct obuf *o, const struct cl *cl, uint8_t *bhs, const uint8_t *data,
                uint32_t dlen);
void ob_data_out(struct obuf *o, struct cl *cl, uint32_t itt, uint32_t ttt, uint32_t datasn,
                 uint32_t offset, const uint8_t *buf, uint32_t len, bool final);

#endif
