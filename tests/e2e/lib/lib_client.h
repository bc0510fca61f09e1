/* SPDX-License-Identifier: MIT */
/*
 * libiscsi helpers shared by the initiator programs of the control-plane
 * e2e tests (ctl_client.c, ctl_probe.c).  Header-only: each tests/e2e C
 * file is its own program.  Define CLIENT_NAME (the FAIL prefix) and
 * INITIATOR (the base InitiatorName) before including it.
 *
 * FAIL() prints one line and counts; a program exits 1 when `failures` is
 * non-zero.
 */
#ifndef VSTOR_E2E_LIB_CLIENT_H
#define VSTOR_E2E_LIB_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static atomic_int failures;

#define FAIL(...)                                                        \
	do {                                                             \
		fprintf(stderr, CLIENT_NAME ": FAIL: " __VA_ARGS__);     \
		fputc('\n', stderr);                                     \
		failures++;                                              \
	} while (0)

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How to log in; all fields optional. */
struct login_opts {
	const char *initiator;          /* full InitiatorName; NULL: INITIATOR "-" who */
	const char *who;                /* names the session in messages */
	bool header_digest;             /* offer HeaderDigest=CRC32C only */
	const char *user, *secret;      /* CHAP (RFC 7143 12.1.3) */
	const char *target_user, *target_secret;    /* mutual CHAP */
	bool expect_failure;            /* a refused login is no FAIL */
};

static inline struct iscsi_context *login_ex(const char *portal, const char *iqn, int lun,
                                             const struct login_opts *o)
{
	char name[256];
	const char *who = o->who ? o->who : "client";
	if (o->initiator)
		snprintf(name, sizeof(name), "%s", o->initiator);
	else
		snprintf(name, sizeof(name), INITIATOR "-%s", who);
	struct iscsi_context *is = iscsi_create_context(name);
	if (!is) {
		FAIL("iscsi_create_context");
		return NULL;
	}
	iscsi_set_targetname(is, iqn);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(is, o->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
	                                             : ISCSI_HEADER_DIGEST_NONE);
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 20);
	if (o->user)
		iscsi_set_initiator_username_pwd(is, o->user, o->secret);
	if (o->target_user)
		iscsi_set_target_username_pwd(is, o->target_user, o->target_secret);
	if (iscsi_full_connect_sync(is, portal, lun) != 0) {
		if (o->expect_failure)
			printf(CLIENT_NAME ": %s: login refused: %s\n", who, iscsi_get_error(is));
		else
			FAIL("%s: login to %s on %s failed: %s", who, iqn, portal, iscsi_get_error(is));
		iscsi_destroy_context(is);
		return NULL;
	}
	return is;
}

static inline struct iscsi_context *login(const char *portal, const char *iqn, int lun,
                                          const char *who)
{
	struct login_opts o = { .who = who };
	return login_ex(portal, iqn, lun, &o);
}

static inline bool is_check(struct scsi_task *t, int key, int ascq)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION && (int)t->sense.key == key &&
	       t->sense.ascq == ascq;
}

/* TEST UNIT READY until GOOD: eat POWER ON and friends. */
static inline bool clear_ua(struct iscsi_context *is, int lun)
{
	for (int i = 0; i < 16; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(is, lun);
		if (!t) {
			FAIL("TEST UNIT READY: %s", iscsi_get_error(is));
			return false;
		}
		bool good = t->status == SCSI_STATUS_GOOD;
		bool ua = t->status == SCSI_STATUS_CHECK_CONDITION &&
		          t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
		scsi_free_scsi_task(t);
		if (good)
			return true;
		if (!ua) {
			FAIL("TEST UNIT READY: neither GOOD nor UNIT ATTENTION");
			return false;
		}
	}
	FAIL("TEST UNIT READY: still UNIT ATTENTION after 16 tries");
	return false;
}

/* Run a shell command; its exit status (127 if it did not exit). */
static inline int run(const char *cmd)
{
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return 127;
	return WEXITSTATUS(st);
}

/* With a session up (NULL: its login failed), run cmd, then log out:
 * cmd's exit status, 1 without a session. */
static inline int run_logged_in(struct iscsi_context *is, const char *cmd)
{
	if (!is)
		return 1;
	int rc = run(cmd);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return rc;
}

static inline uint64_t capacity16(struct iscsi_context *is, int lun)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(is, lun);
	uint64_t bytes = 0;
	if (t && t->status == SCSI_STATUS_GOOD) {
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
		if (rc)
			bytes = (rc->returned_lba + 1) * rc->block_length;
	}
	if (t)
		scsi_free_scsi_task(t);
	return bytes;
}

#endif
