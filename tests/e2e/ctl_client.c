/* SPDX-License-Identifier: MIT */
/*
 * ctl_client: the initiator side of the dynamic-LUN end-to-end tests
 * (tests/e2e/ctl_*.sh), on libiscsi.  Each mode logs in, runs a vstorctl
 * command line (via /bin/sh) at the right moment and checks what the
 * initiator sees:
 *
 *   ctl_client session PORTAL IQN CMD [LUN]
 *       log in to LUN 0 (with LUN: send it TEST UNIT READY until GOOD, so
 *       the session has used it), run CMD while the session is up; exit
 *       with CMD's status (for "refused while in use" checks).
 *   ctl_client ua-add PORTAL IQN NEWLUN NEWSIZE CMD
 *       log in, clear unit attentions, run CMD (which adds NEWLUN), then:
 *       the next command gets UNIT ATTENTION / REPORTED LUNS DATA HAS
 *       CHANGED (3F/0E, SPC-4 6.37), REPORT LUNS lists NEWLUN, READ
 *       CAPACITY(16) on it says NEWSIZE bytes.
 *   ctl_client resize PORTAL IQN LUN NEWSIZE CMD
 *       I/O on LUN (below the smaller of the two sizes) while CMD (a
 *       resize) runs on another thread; the I/O sees CAPACITY DATA HAS
 *       CHANGED (2A/09, SBC-3 4.6) and READ CAPACITY(16) then says
 *       NEWSIZE.  After a shrink, I/O beyond the new end gets ILLEGAL
 *       REQUEST / LBA OUT OF RANGE (21/00) and the last block still works.
 *   ctl_client write-block PORTAL IQN LUN LBA
 *       log in and WRITE(16) one block of 0xa5 at LBA of LUN.
 *   ctl_client force-remove PORTAL IQN CMD FILE
 *       two sessions: a writer keeps 8 WRITEs in flight on LUN 1 (4 KiB
 *       each, every one to blocks of its own, with content of its own), a
 *       verifier writes and reads back patterns on LUN 0; CMD force-removes
 *       LUN 1.  Every LUN 1 command must complete, GOOD or CHECK CONDITION
 *       LOGICAL UNIT NOT SUPPORTED (25/00), none lost or hung; LUN 0 keeps
 *       verifying, before and after; and FILE, the file behind LUN 1, holds
 *       every write that was answered GOOD.
 *
 * Prints one line per finding; exit 0 = all good, 1 = a check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_NAME "ctl_client"
#define INITIATOR "iqn.2026-11.org.vstor:ctl-e2e"
#include "lib/lib_client.h"

#define BLOCK 512
#define ASCQ_REPORTED_LUNS_CHANGED 0x3f0e
#define ASCQ_CAPACITY_CHANGED 0x2a09
#define ASCQ_LUN_NOT_SUPPORTED 0x2500

/* ---------------------------------------------------------------- modes */

static int mode_session(const char *portal, const char *iqn, const char *cmd, int use_lun)
{
	struct iscsi_context *is = login(portal, iqn, 0, "session");
	if (is && use_lun >= 0 && !clear_ua(is, use_lun)) {
		iscsi_destroy_context(is);
		return 1;
	}
	return run_logged_in(is, cmd);
}

static int mode_ua_add(const char *portal, const char *iqn, int newlun, uint64_t newsize,
                       const char *cmd)
{
	struct iscsi_context *is = login(portal, iqn, 0, "ua-add");
	if (!is || !clear_ua(is, 0))
		return 1;
	int rc = run(cmd);
	if (rc != 0)
		FAIL("'%s' exited %d", cmd, rc);

	/* SPC-4 6.37 / SAM-5 5.14: the LUN inventory changed. */
	struct scsi_task *t = iscsi_testunitready_sync(is, 0);
	if (!is_check(t, SCSI_SENSE_UNIT_ATTENTION, ASCQ_REPORTED_LUNS_CHANGED))
		FAIL("after the add, TEST UNIT READY: status %d sense %d/%04x, want UNIT ATTENTION 3F/0E",
		     t ? t->status : -1, t ? (int)t->sense.key : -1, t ? t->sense.ascq : -1);
	else
		printf("ctl_client: UNIT ATTENTION 3F/0E REPORTED LUNS DATA HAS CHANGED seen\n");
	if (t)
		scsi_free_scsi_task(t);
	/* Reported once per nexus: the next command is clean. */
	t = iscsi_testunitready_sync(is, 0);
	if (!t || t->status != SCSI_STATUS_GOOD)
		FAIL("second TEST UNIT READY not GOOD (status %d)", t ? t->status : -1);
	if (t)
		scsi_free_scsi_task(t);

	t = iscsi_reportluns_sync(is, 0, 16384);
	bool found = false;
	if (t && t->status == SCSI_STATUS_GOOD) {
		struct scsi_reportluns_list *l = scsi_datain_unmarshall(t);
		for (uint32_t i = 0; l && i < l->num; i++)
			if ((l->luns[i] & 0x3fff) == newlun)
				found = true;
	}
	if (t)
		scsi_free_scsi_task(t);
	if (!found)
		FAIL("REPORT LUNS does not list LUN %d", newlun);
	else
		printf("ctl_client: REPORT LUNS lists LUN %d\n", newlun);

	/* The new LUN itself starts with POWER ON OCCURRED for this nexus. */
	uint64_t cap = clear_ua(is, newlun) ? capacity16(is, newlun) : 0;
	if (cap != newsize)
		FAIL("READ CAPACITY(16) of LUN %d: %" PRIu64 " bytes, want %" PRIu64, newlun, cap, newsize);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

struct cmd_thread {
	const char *cmd;
	atomic_int done;
	int rc;
};

static void *cmd_main(void *arg)
{
	struct cmd_thread *c = arg;
	usleep(200000);     /* let the I/O get going */
	c->rc = run(c->cmd);
	atomic_store(&c->done, 1);
	return NULL;
}

#define ASCQ_LBA_OUT_OF_RANGE 0x2100

/* After a shrink to `end` blocks: the last block is there, the first one
 * past it and a transfer across the end are LBA OUT OF RANGE (SBC-3 4.5). */
static void check_new_end(struct iscsi_context *is, int lun, uint32_t end)
{
	static uint8_t buf[2 * BLOCK];
	struct scsi_task *t = iscsi_read10_sync(is, lun, end, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	if (!is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, ASCQ_LBA_OUT_OF_RANGE))
		FAIL("READ(10) at LBA %" PRIu32 " past the new end: not LBA OUT OF RANGE", end);
	if (t)
		scsi_free_scsi_task(t);
	t = iscsi_write10_sync(is, lun, end - 1, buf, 2 * BLOCK, BLOCK, 0, 0, 0, 0, 0);
	if (!is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, ASCQ_LBA_OUT_OF_RANGE))
		FAIL("WRITE(10) across the new end: not LBA OUT OF RANGE");
	if (t)
		scsi_free_scsi_task(t);
	t = iscsi_write10_sync(is, lun, end - 1, buf, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	if (!t || t->status != SCSI_STATUS_GOOD)
		FAIL("WRITE(10) of the new last block %" PRIu32 ": not GOOD", end - 1);
	else
		printf("ctl_client: past the new end LBA OUT OF RANGE, last block %" PRIu32 " GOOD\n",
		       end - 1);
	if (t)
		scsi_free_scsi_task(t);
}

static int mode_resize(const char *portal, const char *iqn, int lun, uint64_t newsize,
                       const char *cmd)
{
	struct iscsi_context *is = login(portal, iqn, lun, "resize");
	if (!is || !clear_ua(is, lun))
		return 1;
	uint64_t old = capacity16(is, lun);
	/* Only LBAs that exist before and after. */
	uint32_t blocks = (uint32_t)((newsize < old ? newsize : old) / BLOCK);
	struct cmd_thread ct = { .cmd = cmd };
	pthread_t th;
	pthread_create(&th, NULL, cmd_main, &ct);

	static uint8_t buf[BLOCK * 8];
	bool seen = false;
	int after = 0;
	uint64_t ios = 0;
	double deadline = now_s() + 60;
	/* I/O until the resize is done and its UA has been seen (or 200
	 * commands after the resize without it). */
	while (!(atomic_load(&ct.done) && (seen || after > 200)) && now_s() < deadline) {
		if (atomic_load(&ct.done))
			after++;
		uint32_t lba = (uint32_t)((ios * 7919) % (blocks - 8));
		memset(buf, (int)(ios & 0xff), sizeof(buf));
		struct scsi_task *t = ios & 1
			? iscsi_read10_sync(is, lun, lba, sizeof(buf), BLOCK, 0, 0, 0, 0, 0)
			: iscsi_write10_sync(is, lun, lba, buf, sizeof(buf), BLOCK, 0, 0, 0, 0, 0);
		ios++;
		if (!t) {
			FAIL("I/O %" PRIu64 ": %s", ios, iscsi_get_error(is));
			break;
		}
		if (is_check(t, SCSI_SENSE_UNIT_ATTENTION, ASCQ_CAPACITY_CHANGED)) {
			if (seen)
				FAIL("CAPACITY DATA HAS CHANGED reported twice");
			seen = true;
		} else if (t->status != SCSI_STATUS_GOOD) {
			FAIL("I/O %" PRIu64 ": status %d sense %d/%04x", ios, t->status, (int)t->sense.key,
			     t->sense.ascq);
		}
		scsi_free_scsi_task(t);
	}
	pthread_join(th, NULL);
	if (ct.rc != 0)
		FAIL("'%s' exited %d", cmd, ct.rc);
	if (!seen)
		FAIL("no UNIT ATTENTION 2A/09 CAPACITY DATA HAS CHANGED after the resize");
	else
		printf("ctl_client: UNIT ATTENTION 2A/09 CAPACITY DATA HAS CHANGED seen (%" PRIu64
		       " commands)\n", ios);
	uint64_t cap = capacity16(is, lun);
	if (cap != newsize)
		FAIL("READ CAPACITY(16): %" PRIu64 " bytes, want %" PRIu64, cap, newsize);
	else
		printf("ctl_client: READ CAPACITY(16) %" PRIu64 " bytes\n", cap);
	if (newsize < old)
		check_new_end(is, lun, (uint32_t)(newsize / BLOCK));
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

static int mode_write_block(const char *portal, const char *iqn, int lun, uint64_t lba)
{
	static uint8_t buf[BLOCK];
	struct iscsi_context *is = login(portal, iqn, lun, "write-block");
	if (!is || !clear_ua(is, lun))
		return 1;
	memset(buf, 0xa5, sizeof(buf));
	struct scsi_task *t = iscsi_write16_sync(is, lun, lba, buf, sizeof(buf), BLOCK, 0, 0, 0, 0, 0);
	if (!t || t->status != SCSI_STATUS_GOOD)
		FAIL("WRITE(16) at LBA %" PRIu64 ": %s", lba, t ? "not GOOD" : iscsi_get_error(is));
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- force-remove */

#define WRITER_QD 8
#define WRITE_BLOCKS 8
#define WRITES_MAX (1u << 16)   /* distinct 4 KiB places in a 256 MiB LUN */

struct writer {
	struct iscsi_context *is;
	atomic_int stop;
	uint64_t submitted, completed, good, lunns, other;
	double last_completion;
	uint8_t acked[WRITES_MAX];      /* write n was answered GOOD */
};

/* What write n puts in its 4 KiB: its number and each word's place. */
static void pattern(uint32_t n, uint8_t *buf)
{
	for (uint32_t i = 0; i < WRITE_BLOCKS * BLOCK / 8; i++) {
		uint64_t word = (uint64_t)n << 32 | i;
		memcpy(buf + 8 * i, &word, 8);
	}
}

struct write_req {
	struct writer *w;
	uint32_t n;
	uint8_t buf[WRITE_BLOCKS * BLOCK];
};

static void write_cb(struct iscsi_context *is, int status, void *data, void *priv)
{
	struct write_req *r = priv;
	struct writer *w = r->w;
	struct scsi_task *t = data;
	(void)is;
	w->completed++;
	w->last_completion = now_s();
	if (status == SCSI_STATUS_GOOD) {
		w->good++;
		w->acked[r->n] = 1;
	} else if (status == SCSI_STATUS_CHECK_CONDITION &&
	           is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, ASCQ_LUN_NOT_SUPPORTED)) {
		w->lunns++;
	} else {
		w->other++;
		if (w->other <= 3)
			fprintf(stderr, "ctl_client: writer: status %d sense %d/%04x\n", status,
			        t ? (int)t->sense.key : -1, t ? t->sense.ascq : -1);
	}
	if (t)
		scsi_free_scsi_task(t);
	free(r);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint32_t n = 0;
	w->last_completion = now_s();
	for (;;) {
		/* After LOGICAL UNIT NOT SUPPORTED nothing new goes out. */
		bool stopping = atomic_load(&w->stop) || w->lunns > 0 || n == WRITES_MAX;
		while (!stopping && w->submitted - w->completed < WRITER_QD) {
			struct write_req *r = malloc(sizeof(*r));
			if (!r) {
				FAIL("writer: out of memory");
				return NULL;
			}
			r->w = w;
			r->n = n;
			pattern(n, r->buf);
			if (!iscsi_write10_task(w->is, 1, n * WRITE_BLOCKS, r->buf, sizeof(r->buf), BLOCK, 0,
			                        0, 0, 0, 0, write_cb, r)) {
				FAIL("writer: cannot queue a WRITE: %s", iscsi_get_error(w->is));
				free(r);
				return NULL;
			}
			w->submitted++;
			stopping = ++n == WRITES_MAX;
		}
		if (stopping && w->submitted == w->completed)
			return NULL;
		struct pollfd p = { .fd = iscsi_get_fd(w->is), .events = (short)iscsi_which_events(w->is) };
		int r = poll(&p, 1, 500);
		if (r < 0 && errno != EINTR) {
			FAIL("writer: poll: %s", strerror(errno));
			return NULL;
		}
		if (iscsi_service(w->is, r > 0 ? p.revents : 0) < 0) {
			FAIL("writer: connection lost: %s", iscsi_get_error(w->is));
			return NULL;
		}
		/* A command that never completes is the bug this test is for. */
		if (w->submitted != w->completed && now_s() - w->last_completion > 30) {
			FAIL("writer: %" PRIu64 " commands hung (no completion for 30 s)",
			     w->submitted - w->completed);
			return NULL;
		}
	}
}

/* Acknowledged means written (SAM-5 5.2): every GOOD write is in the file
 * behind the removed LUN once the removal has flushed and closed it. */
static void check_acked(const struct writer *w, const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	uint64_t checked = 0;
	uint8_t want[WRITE_BLOCKS * BLOCK], got[WRITE_BLOCKS * BLOCK];
	if (fd < 0) {
		FAIL("%s: %s", file, strerror(errno));
		return;
	}
	for (uint32_t n = 0; n < WRITES_MAX; n++) {
		if (!w->acked[n])
			continue;
		pattern(n, want);
		off_t off = (off_t)n * sizeof(got);
		if (pread(fd, got, sizeof(got), off) != (ssize_t)sizeof(got) ||
		    memcmp(got, want, sizeof(got)) != 0) {
			FAIL("acknowledged write %" PRIu32 " (offset %lld) is not in %s", n, (long long)off,
			     file);
			break;
		}
		checked++;
	}
	close(fd);
	if (checked == w->good)
		printf("ctl_client: all %" PRIu64 " acknowledged writes are in %s\n", checked, file);
}

struct verifier {
	struct iscsi_context *is;
	atomic_int stop;
	atomic_uint_fast64_t verified;
	uint64_t ua;
};

/* One command with a retry on UNIT ATTENTION (the removal raises 3F/0E on
 * this nexus too; SAM-5 5.14: a UA is reported once, then the command is
 * re-issued). */
static struct scsi_task *verify_cmd(struct verifier *v, bool write, uint32_t lba, uint8_t *buf)
{
	for (int i = 0; i < 4; i++) {
		struct scsi_task *t = write
			? iscsi_write10_sync(v->is, 0, lba, buf, BLOCK * 8, BLOCK, 0, 0, 0, 0, 0)
			: iscsi_read10_sync(v->is, 0, lba, BLOCK * 8, BLOCK, 0, 0, 0, 0, 0);
		if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
		    t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
			v->ua++;
			scsi_free_scsi_task(t);
			continue;
		}
		return t;
	}
	return NULL;
}

static void *verifier_main(void *arg)
{
	struct verifier *v = arg;
	uint8_t out[BLOCK * 8];
	for (uint64_t i = 0; !atomic_load(&v->stop); i++) {
		uint32_t lba = (uint32_t)((i * 8) % 2048);
		for (size_t b = 0; b < sizeof(out); b += 8) {
			uint64_t tag[1] = { (i << 20) ^ (lba + b) };
			memcpy(out + b, tag, 8);
		}
		struct scsi_task *t = verify_cmd(v, true, lba, out);
		if (!t || t->status != SCSI_STATUS_GOOD) {
			FAIL("verifier: WRITE at %u: %s", lba, t ? "bad status" : iscsi_get_error(v->is));
			if (t)
				scsi_free_scsi_task(t);
			return NULL;
		}
		scsi_free_scsi_task(t);
		t = verify_cmd(v, false, lba, NULL);
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != (int)sizeof(out) ||
		    memcmp(t->datain.data, out, sizeof(out)) != 0) {
			FAIL("verifier: READ at %u does not return what was written", lba);
			if (t)
				scsi_free_scsi_task(t);
			return NULL;
		}
		scsi_free_scsi_task(t);
		atomic_fetch_add(&v->verified, 1);
	}
	return NULL;
}

static int mode_force_remove(const char *portal, const char *iqn, const char *cmd,
                             const char *file)
{
	static struct writer w;
	static struct verifier v;
	w.is = login(portal, iqn, 1, "writer");
	v.is = login(portal, iqn, 0, "verifier");
	if (!w.is || !v.is || !clear_ua(w.is, 1) || !clear_ua(v.is, 0))
		return 1;
	pthread_t wt, vt;
	pthread_create(&wt, NULL, writer_main, &w);
	pthread_create(&vt, NULL, verifier_main, &v);

	usleep(700000);
	uint64_t verified_before = atomic_load(&v.verified);
	int rc = run(cmd);
	if (rc != 0)
		FAIL("'%s' exited %d", cmd, rc);
	uint64_t verified_at = atomic_load(&v.verified);
	usleep(700000);
	atomic_store(&w.stop, 1);
	pthread_join(wt, NULL);
	atomic_store(&v.stop, 1);
	pthread_join(vt, NULL);
	uint64_t verified_after = atomic_load(&v.verified);
	check_acked(&w, file);

	printf("ctl_client: LUN 1: %" PRIu64 " submitted, %" PRIu64 " completed (%" PRIu64
	       " GOOD, %" PRIu64 " LOGICAL UNIT NOT SUPPORTED, %" PRIu64 " other)\n",
	       w.submitted, w.completed, w.good, w.lunns, w.other);
	printf("ctl_client: LUN 0: %" PRIu64 " verified before, %" PRIu64 " after the removal "
	       "(%" PRIu64 " unit attentions)\n",
	       verified_before, verified_after - verified_at, v.ua);
	if (w.submitted != w.completed)
		FAIL("LUN 1: %" PRIu64 " commands never completed", w.submitted - w.completed);
	if (w.other)
		FAIL("LUN 1: %" PRIu64 " commands ended neither GOOD nor LOGICAL UNIT NOT SUPPORTED",
		     w.other);
	if (w.good == 0)
		FAIL("LUN 1: no WRITE succeeded before the removal");
	if (w.lunns == 0)
		FAIL("LUN 1: no LOGICAL UNIT NOT SUPPORTED after the removal");
	if (verified_before == 0 || verified_after - verified_at == 0)
		FAIL("LUN 0 did not keep serving verified data (%" PRIu64 " before, %" PRIu64 " after)",
		     verified_before, verified_after - verified_at);
	/* The departed LUN stays gone for new commands too. */
	struct scsi_task *t = iscsi_testunitready_sync(w.is, 1);
	if (!is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, ASCQ_LUN_NOT_SUPPORTED))
		FAIL("TEST UNIT READY on removed LUN 1: not LOGICAL UNIT NOT SUPPORTED");
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(w.is);
	iscsi_logout_sync(v.is);
	iscsi_destroy_context(w.is);
	iscsi_destroy_context(v.is);
	return failures ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ctl_client session PORTAL IQN CMD [LUN]\n"
	                "       ctl_client ua-add PORTAL IQN NEWLUN NEWSIZE CMD\n"
	                "       ctl_client resize PORTAL IQN LUN NEWSIZE CMD\n"
	                "       ctl_client write-block PORTAL IQN LUN LBA\n"
	                "       ctl_client force-remove PORTAL IQN CMD FILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "session"))
		return mode_session(argv[2], argv[3], argv[4], argc == 6 ? atoi(argv[5]) : -1);
	if (argc == 7 && !strcmp(argv[1], "ua-add"))
		return mode_ua_add(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 10), argv[6]);
	if (argc == 7 && !strcmp(argv[1], "resize"))
		return mode_resize(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 10), argv[6]);
	if (argc == 6 && !strcmp(argv[1], "write-block"))
		return mode_write_block(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 10));
	if (argc == 6 && !strcmp(argv[1], "force-remove"))
		return mode_force_remove(argv[2], argv[3], argv[4], argv[5]);
	return usage();
}
