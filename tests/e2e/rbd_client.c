/* SPDX-License-Identifier: MIT */
/*
 * rbd_client: initiator steps for the rbd backend's e2e tests
 * (tests/e2e/rbd_*.sh), on libiscsi.
 *
 *   rbd_client lbas PORTAL IQN LUN LBA
 *       GET LBA STATUS at LBA; prints the first descriptor as
 *       "LBA COUNT mapped|deallocated".
 *   rbd_client unmap PORTAL IQN LUN LBA COUNT
 *       UNMAP COUNT blocks at LBA (one descriptor).
 *   rbd_client watch PORTAL IQN LUN SECONDS LOG
 *       one session, kept: READ(16) of block 0 every 100 ms, and one line
 *       appended to LOG (flushed) each time the outcome changes: "GOOD",
 *       "NOT READY AA/QQ", or anything else as "CHECK K/AA/QQ" / "STATUS
 *       SS".  Done (exit 0) once it has seen GOOD, then NOT READY /
 *       LOGICAL UNIT IS IN PROCESS OF BECOMING READY (04/01), then GOOD
 *       again on the same session; exit 1 on any other outcome (MEDIUM
 *       ERROR above all), a lost session, or SECONDS without that.
 *
 * Unit attentions are cleared once after login; exit 2 = bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_NAME "rbd_client"
#define INITIATOR "iqn.2026-11.org.vstor:rbd-e2e"
#include "lib/lib_client.h"

#define BLOCK 512

/* End a one-command mode: free its task, log out; rc. */
static int finish(struct iscsi_context *is, struct scsi_task *t, int rc)
{
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return rc;
}

static int mode_lbas(const char *portal, const char *iqn, int lun, uint64_t lba)
{
	struct iscsi_context *is = login(portal, iqn, lun, "lbas");
	struct scsi_task *t;
	struct scsi_get_lba_status *st;
	int rc = 1;

	if (!is || !clear_ua(is, lun))
		return 1;
	t = iscsi_get_lba_status_sync(is, lun, lba, 8 + 16);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		FAIL("GET LBA STATUS at %" PRIu64 ": %s", lba, t ? "not GOOD" : iscsi_get_error(is));
	} else if (!(st = scsi_datain_unmarshall(t)) || st->num_descriptors < 1) {
		FAIL("GET LBA STATUS at %" PRIu64 ": no descriptor", lba);
	} else {
		printf("%" PRIu64 " %" PRIu32 " %s\n", st->descriptors[0].lba,
		       st->descriptors[0].num_blocks,
		       st->descriptors[0].provisioning == SCSI_PROVISIONING_TYPE_DEALLOCATED
		               ? "deallocated" : "mapped");
		rc = 0;
	}
	return finish(is, t, rc);
}

static int mode_unmap(const char *portal, const char *iqn, int lun, uint64_t lba, uint32_t n)
{
	struct iscsi_context *is = login(portal, iqn, lun, "unmap");
	struct unmap_list l = { .lba = lba, .num = n };
	struct scsi_task *t;
	int rc = 1;

	if (!is || !clear_ua(is, lun))
		return 1;
	t = iscsi_unmap_sync(is, lun, 0, 0, &l, 1);
	if (!t || t->status != SCSI_STATUS_GOOD)
		FAIL("UNMAP %" PRIu32 " blocks at %" PRIu64 ": %s", n, lba,
		     t ? "not GOOD" : iscsi_get_error(is));
	else
		rc = 0;
	return finish(is, t, rc);
}

/* The outcome of one command, as one line. */
static void outcome(struct scsi_task *t, char *buf, size_t len)
{
	if (t->status == SCSI_STATUS_GOOD)
		snprintf(buf, len, "GOOD");
	else if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_NOT_READY)
		snprintf(buf, len, "NOT READY %02x/%02x", t->sense.ascq >> 8, t->sense.ascq & 0xff);
	else if (t->status == SCSI_STATUS_CHECK_CONDITION)
		snprintf(buf, len, "CHECK %x/%02x/%02x", t->sense.key, t->sense.ascq >> 8,
		         t->sense.ascq & 0xff);
	else
		snprintf(buf, len, "STATUS %02x", t->status);
}

static int mode_watch(const char *portal, const char *iqn, int lun, int seconds,
                      const char *logpath)
{
	struct iscsi_context *is = login(portal, iqn, lun, "watch");
	FILE *log = fopen(logpath, "a");
	double end = now_s() + seconds;
	char last[64] = "", cur[64];
	int phase = 0;          /* 0: want GOOD, 1: want NOT READY, 2: want GOOD again */

	if (!log) {
		perror(logpath);
		return 2;
	}
	if (!is || !clear_ua(is, lun))
		return 1;
	while (now_s() < end && phase < 3) {
		struct scsi_task *t = iscsi_read16_sync(is, lun, 0, BLOCK, BLOCK, 0, 0, 0, 0, 0);

		if (!t) {
			FAIL("READ(16): the session is gone: %s", iscsi_get_error(is));
			break;
		}
		outcome(t, cur, sizeof(cur));
		scsi_free_scsi_task(t);
		if (strcmp(cur, last) != 0) {
			fprintf(log, "%s\n", cur);
			fflush(log);
			snprintf(last, sizeof(last), "%s", cur);
		}
		if (!strcmp(cur, "GOOD") && (phase == 0 || phase == 2))
			phase++;
		else if (!strcmp(cur, "NOT READY 04/01") && phase == 1)
			phase++;
		else if (strcmp(cur, "GOOD") && strcmp(cur, "NOT READY 04/01")) {
			FAIL("READ(16) of block 0: %s", cur);
			break;
		}
		usleep(100 * 1000);
	}
	fclose(log);
	if (phase < 3 && !failures)
		FAIL("no GOOD, NOT READY 04/01, GOOD within %d s (reached step %d)", seconds, phase);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "lbas"))
		return mode_lbas(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 0));
	if (argc == 7 && !strcmp(argv[1], "unmap"))
		return mode_unmap(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 0),
		                  (uint32_t)strtoul(argv[6], NULL, 0));
	if (argc == 7 && !strcmp(argv[1], "watch"))
		return mode_watch(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
	fprintf(stderr, "usage: rbd_client lbas PORTAL IQN LUN LBA | unmap PORTAL IQN LUN LBA COUNT |\n"
	                "       watch PORTAL IQN LUN SECONDS LOG\n");
	return 2;
}
