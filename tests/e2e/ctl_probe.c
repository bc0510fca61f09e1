/* SPDX-License-Identifier: MIT */
/*
 * ctl_probe: libiscsi initiator steps for the control-plane e2e tests
 * (tests/e2e/ctl_*.sh), one per mode:
 *
 *   ctl_probe io PORTAL IQN LUN write|check LBA BYTE
 *       write one 512-byte block filled with BYTE (decimal) at LBA, or read
 *       it back and check every byte.
 *   ctl_probe hold PORTAL IQN INITIATOR crc32c|none CMD
 *       log in as INITIATOR offering only that HeaderDigest, run CMD while
 *       logged in, log out; exit with CMD's status.
 *   ctl_probe chap PORTAL IQN INITIATOR USER|- SECRET [TUSER TSECRET]
 *       log in with CHAP as USER (- : no CHAP), mutual when TUSER is
 *       given, then TEST UNIT READY; exit 0 when that worked, 1 when the
 *       login was refused, 2 when the session then failed.
 *   ctl_probe stats PORTAL IQN LUN
 *       a known mix on LUN (TEST UNIT READYs, 8 KiB READs, 4 KiB WRITEs,
 *       READs past the end, INQUIRYs), each timed; prints what the
 *       daemon's stats must say as one JSON object: exact counts and, per
 *       percentile, the bucket bound the target's figure cannot exceed.
 *   ctl_probe remove-target PORTAL KEEP_IQN GONE_IQN CMD
 *       one session to KEEP, two to GONE (LUN 0 each); verified I/O on
 *       KEEP; CMD (force-removes GONE); then both GONE sessions are dead
 *       and KEEP still verifies.
 *
 * Prints one line per finding; exit 0 = all good, 1 = a check failed,
 * 2 = bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_NAME "ctl_probe"
#define INITIATOR "iqn.2026-11.org.vstor:ctl-probe"
#include "lib/lib_client.h"

#define BLOCK 512

/* ---------------------------------------------------------------- io */

static int mode_io(const char *portal, const char *iqn, int lun, const char *op, uint32_t lba,
                   int byte)
{
	struct iscsi_context *is = login(portal, iqn, lun, "io");
	if (!is || !clear_ua(is, lun))
		return 1;
	uint8_t buf[BLOCK];
	memset(buf, byte, sizeof(buf));
	struct scsi_task *t;
	if (!strcmp(op, "write")) {
		t = iscsi_write10_sync(is, lun, lba, buf, BLOCK, BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("WRITE(10) LUN %d LBA %" PRIu32 ": %s", lun, lba,
			     t ? "status not GOOD" : iscsi_get_error(is));
	} else {
		t = iscsi_read10_sync(is, lun, lba, BLOCK, BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != BLOCK)
			FAIL("READ(10) LUN %d LBA %" PRIu32 ": %s", lun, lba,
			     t ? "status not GOOD" : iscsi_get_error(is));
		else if (memcmp(t->datain.data, buf, BLOCK) != 0)
			FAIL("READ(10) LUN %d LBA %" PRIu32 ": data is not %d x %d", lun, lba, BLOCK, byte);
		else
			printf(CLIENT_NAME ": LUN %d LBA %" PRIu32 " holds %d x %d\n", lun, lba, BLOCK, byte);
	}
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- hold */

static int mode_hold(const char *portal, const char *iqn, const char *initiator, bool crc,
                     const char *cmd)
{
	struct login_opts o = { .initiator = initiator, .who = "hold", .header_digest = crc };
	return run_logged_in(login_ex(portal, iqn, 0, &o), cmd);
}

/* ---------------------------------------------------------------- chap */

static int mode_chap(const char *portal, const char *iqn, const char *initiator, const char *user,
                     const char *secret, const char *tuser, const char *tsecret)
{
	struct login_opts o = { .initiator = initiator, .who = "chap", .expect_failure = true };
	if (strcmp(user, "-") != 0) {
		o.user = user;
		o.secret = secret;
		o.target_user = tuser;
		o.target_secret = tsecret;
	}
	struct iscsi_context *is = login_ex(portal, iqn, 0, &o);
	if (!is)
		return 1;
	if (clear_ua(is, 0))
		printf(CLIENT_NAME ": logged in%s\n", tuser ? " (mutual CHAP)" : user[0] != '-' ? " (CHAP)" : "");
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 2 : 0;
}

/* ---------------------------------------------------------------- stats */

#define STAT_MAX 512

enum op_class { CL_READ, CL_WRITE, CL_OTHER };

struct tally {
	uint64_t ops[3], read_bytes, write_bytes, errors;
	uint64_t lat_us[STAT_MAX];
	size_t n;
};

static double t0;

/* Account one completed command the way the port does (src/port/stats.c):
 * by opcode class, bytes only when GOOD, errors = CHECK CONDITION other
 * than UNIT ATTENTION; latency as seen here, which contains the target's. */
static void account(struct tally *ty, enum op_class cl, struct scsi_task *t, uint32_t bytes,
                    double started)
{
	uint64_t us = (uint64_t)((now_s() - started) * 1e6);
	ty->ops[cl]++;
	if (t->status == SCSI_STATUS_GOOD && cl == CL_READ)
		ty->read_bytes += bytes;
	if (t->status == SCSI_STATUS_GOOD && cl == CL_WRITE)
		ty->write_bytes += bytes;
	if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key != SCSI_SENSE_UNIT_ATTENTION)
		ty->errors++;
	if (ty->n < STAT_MAX)
		ty->lat_us[ty->n++] = us;
	scsi_free_scsi_task(t);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The bucket bound of the want-th smallest latency (stats.c's rule). */
static uint64_t bound_us(const struct tally *ty, double p)
{
	uint64_t want = (uint64_t)((p / 100.0) * (double)ty->n + 0.999999);
	if (want == 0)
		want = 1;
	uint64_t us = ty->lat_us[want - 1];
	unsigned b = us ? 64u - (unsigned)__builtin_clzll(us) : 0u;
	return 1ull << (b < 32 ? b : 31);
}

static int mode_stats(const char *portal, const char *iqn, int lun)
{
	struct iscsi_context *is = login(portal, iqn, 0, "stats");
	if (!is)
		return 1;
	static struct tally ty;
	static uint8_t buf[8192];
	uint64_t blocks = 0;
	struct scsi_task *t;

	/* TEST UNIT READY until GOOD (the first gets POWER ON). */
	for (int i = 0; i < 16; i++) {
		t0 = now_s();
		t = iscsi_testunitready_sync(is, lun);
		if (!t) {
			FAIL("TEST UNIT READY: %s", iscsi_get_error(is));
			return 1;
		}
		bool good = t->status == SCSI_STATUS_GOOD;
		account(&ty, CL_OTHER, t, 0, t0);
		if (good)
			break;
	}
	t0 = now_s();
	t = iscsi_readcapacity16_sync(is, lun);
	if (t && t->status == SCSI_STATUS_GOOD) {
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
		blocks = rc ? rc->returned_lba + 1 : 0;
	}
	if (!t || blocks < 64) {
		FAIL("READ CAPACITY(16) on LUN %d", lun);
		return 1;
	}
	account(&ty, CL_OTHER, t, 0, t0);
	for (int i = 0; i < 50; i++) {
		memset(buf, i, 4096);
		t0 = now_s();
		t = iscsi_write10_sync(is, lun, (uint32_t)(i * 8), buf, 4096, BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("WRITE(10) %d", i);
		if (t)
			account(&ty, CL_WRITE, t, 4096, t0);
	}
	for (int i = 0; i < 30; i++) {
		t0 = now_s();
		t = iscsi_read10_sync(is, lun, (uint32_t)(i * 16), 8192, BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("READ(10) %d", i);
		if (t)
			account(&ty, CL_READ, t, 8192, t0);
	}
	/* Past the end: CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE. */
	for (int i = 0; i < 5; i++) {
		t0 = now_s();
		t = iscsi_read10_sync(is, lun, (uint32_t)blocks, BLOCK, BLOCK, 0, 0, 0, 0, 0);
		if (!is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, 0x2100))
			FAIL("READ(10) past the end: not LBA OUT OF RANGE");
		if (t)
			account(&ty, CL_READ, t, BLOCK, t0);
	}
	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		t = iscsi_inquiry_sync(is, lun, 0, 0, 96);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("INQUIRY %d", i);
		if (t)
			account(&ty, CL_OTHER, t, 0, t0);
	}
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	qsort(ty.lat_us, ty.n, sizeof(ty.lat_us[0]), cmp_u64);
	printf("{\"ops\": %" PRIu64 ", \"read_ops\": %" PRIu64 ", \"write_ops\": %" PRIu64
	       ", \"other_ops\": %" PRIu64 ", \"read_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"errors\": %" PRIu64
	       ", \"latency_bound_us\": {\"p50\": %" PRIu64 ", \"p99\": %" PRIu64
	       ", \"p99_9\": %" PRIu64 "}}\n",
	       ty.ops[0] + ty.ops[1] + ty.ops[2], ty.ops[CL_READ], ty.ops[CL_WRITE], ty.ops[CL_OTHER],
	       ty.read_bytes, ty.write_bytes, ty.read_bytes + ty.write_bytes, ty.errors,
	       bound_us(&ty, 50), bound_us(&ty, 99), bound_us(&ty, 99.9));
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- remove-target */

/* Write a pattern at LBA 0 and read it back; true if it comes back. */
static bool verify(struct iscsi_context *is, int round)
{
	uint8_t out[BLOCK];
	memset(out, 0x40 + round, sizeof(out));
	for (int attempt = 0; attempt < 4; attempt++) {
		struct scsi_task *t = iscsi_write10_sync(is, 0, 0, out, BLOCK, BLOCK, 0, 0, 0, 0, 0);
		bool ua = t && t->status == SCSI_STATUS_CHECK_CONDITION &&
		          t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
		bool good = t && t->status == SCSI_STATUS_GOOD;
		if (t)
			scsi_free_scsi_task(t);
		if (ua)
			continue;
		if (!good)
			return false;
		t = iscsi_read10_sync(is, 0, 0, BLOCK, BLOCK, 0, 0, 0, 0, 0);
		good = t && t->status == SCSI_STATUS_GOOD && t->datain.size == BLOCK &&
		       memcmp(t->datain.data, out, BLOCK) == 0;
		if (t)
			scsi_free_scsi_task(t);
		return good;
	}
	return false;
}

static int mode_remove_target(const char *portal, const char *keep, const char *gone,
                              const char *cmd)
{
	struct iscsi_context *k = login(portal, keep, 0, "keep");
	struct iscsi_context *g[2] = { login(portal, gone, 0, "gone-a"), login(portal, gone, 0, "gone-b") };
	if (!k || !g[0] || !g[1] || !clear_ua(k, 0) || !clear_ua(g[0], 0) || !clear_ua(g[1], 0))
		return 1;
	if (!verify(k, 1))
		FAIL("%s: verified I/O before the removal", keep);
	int rc = run(cmd);
	if (rc != 0)
		FAIL("'%s' exited %d", cmd, rc);
	/* The removed target's sessions were dropped: their next command
	 * finds the connection gone (no reconnect: noautoreconnect). */
	for (int i = 0; i < 2; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(g[i], 0);
		/* A SCSI status (GOOD, CHECK CONDITION...) means the target
		 * answered: the session was not dropped. */
		bool answered = t && (t->status == SCSI_STATUS_GOOD ||
		                      t->status == SCSI_STATUS_CHECK_CONDITION);
		if (answered)
			FAIL("%s: session %d still up after the forced removal (status %d)", gone, i,
			     t ? t->status : -1);
		else
			printf(CLIENT_NAME ": %s session %d dropped (no SCSI status, libiscsi status 0x%x)\n",
			       gone, i, t ? (unsigned)t->status : 0u);
		if (t)
			scsi_free_scsi_task(t);
		iscsi_destroy_context(g[i]);
	}
	if (!verify(k, 2))
		FAIL("%s: verified I/O after the removal", keep);
	else
		printf(CLIENT_NAME ": %s still serves verified data\n", keep);
	iscsi_logout_sync(k);
	iscsi_destroy_context(k);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr, "usage: ctl_probe io PORTAL IQN LUN write|check LBA BYTE\n"
	                "       ctl_probe hold PORTAL IQN INITIATOR crc32c|none CMD\n"
	                "       ctl_probe chap PORTAL IQN INITIATOR USER|- SECRET [TUSER TSECRET]\n"
	                "       ctl_probe stats PORTAL IQN LUN\n"
	                "       ctl_probe remove-target PORTAL KEEP_IQN GONE_IQN CMD\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 8 && !strcmp(argv[1], "io") &&
	    (!strcmp(argv[5], "write") || !strcmp(argv[5], "check")))
		return mode_io(argv[2], argv[3], atoi(argv[4]), argv[5],
		               (uint32_t)strtoul(argv[6], NULL, 10), atoi(argv[7]));
	if (argc == 7 && !strcmp(argv[1], "hold"))
		return mode_hold(argv[2], argv[3], argv[4], !strcmp(argv[5], "crc32c"), argv[6]);
	if ((argc == 7 || argc == 9) && !strcmp(argv[1], "chap"))
		return mode_chap(argv[2], argv[3], argv[4], argv[5], argv[6], argc == 9 ? argv[7] : NULL,
		                 argc == 9 ? argv[8] : NULL);
	if (argc == 5 && !strcmp(argv[1], "stats"))
		return mode_stats(argv[2], argv[3], atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "remove-target"))
		return mode_remove_target(argv[2], argv[3], argv[4], argv[5]);
	return usage();
}
