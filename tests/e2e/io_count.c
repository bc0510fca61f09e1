/* SPDX-License-Identifier: MIT */
/*
 * io_count: a known workload on libiscsi, for the tests that check what
 * vstord counts (tests/e2e/metrics.sh) and shows (vstorctl_top.sh).
 *
 *   io_count rw PORTAL IQN LUN READS WRITES BLOCKS
 *       log in, TEST UNIT READY until GOOD, then exactly WRITES WRITE(16)
 *       and READS READ(16) of BLOCKS 512-byte blocks each, all GOOD, and
 *       one READ(16) past the end, which must be CHECK CONDITION ILLEGAL
 *       REQUEST / LBA OUT OF RANGE (21/00); log out.
 *   io_count refuse PORTAL IQN INITIATOR [USER SECRET]
 *       a login as INITIATOR (with CHAP USER/SECRET) that must be refused.
 *   io_count load PORTAL IQN LUN SECONDS
 *       4 KiB reads and writes, one at a time, for SECONDS.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_NAME "io_count"
#define INITIATOR "iqn.2026-11.org.vstor:io-count"
#include "lib/lib_client.h"

#define BLOCK 512

static int mode_rw(const char *portal, const char *iqn, int lun, int reads, int writes, int blocks)
{
	size_t len = (size_t)blocks * BLOCK;
	uint8_t *buf = calloc(1, len);
	struct iscsi_context *is = login(portal, iqn, lun, "rw");

	if (!buf || !is || !clear_ua(is, lun))
		return 1;
	uint64_t end = capacity16(is, lun) / BLOCK;     /* one READ CAPACITY: "other" */
	for (int i = 0; i < writes + reads && !failures; i++) {
		bool w = i < writes;
		uint64_t lba = ((uint64_t)i * (uint64_t)blocks) % (end - (uint64_t)blocks);
		struct scsi_task *t;

		memset(buf, w ? (uint8_t)i : 0, len);
		t = w ? iscsi_write16_sync(is, lun, lba, buf, (uint32_t)len, BLOCK, 0, 0, 0, 0, 0)
		      : iscsi_read16_sync(is, lun, lba, (uint32_t)len, BLOCK, 0, 0, 0, 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("%s(16) at LBA %" PRIu64 ": %s", w ? "WRITE" : "READ", lba,
			     t ? "not GOOD" : iscsi_get_error(is));
		if (t)
			scsi_free_scsi_task(t);
	}
	struct scsi_task *t = iscsi_read16_sync(is, lun, end, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	if (!is_check(t, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE))
		FAIL("READ(16) past the end: not ILLEGAL REQUEST / LBA OUT OF RANGE");
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	free(buf);
	return failures ? 1 : 0;
}

static int mode_refuse(const char *portal, const char *iqn, const char *initiator,
                       const char *user, const char *secret)
{
	struct login_opts o = { .initiator = initiator, .who = "refuse", .user = user,
		                .secret = secret, .expect_failure = true };
	struct iscsi_context *is = login_ex(portal, iqn, 0, &o);

	if (is) {
		FAIL("login as %s to %s was not refused", initiator, iqn);
		iscsi_logout_sync(is);
		iscsi_destroy_context(is);
	}
	return failures ? 1 : 0;
}

static int mode_load(const char *portal, const char *iqn, int lun, double seconds)
{
	static uint8_t buf[4096];
	struct iscsi_context *is = login(portal, iqn, lun, "load");
	uint64_t n = 0;

	if (!is || !clear_ua(is, lun))
		return 1;
	uint64_t blocks = capacity16(is, lun) / BLOCK;
	double until = now_s() + seconds;
	while (now_s() < until && !failures) {
		uint64_t lba = (n * 7919 * 8) % (blocks - 8);
		struct scsi_task *t = n % 2 ? iscsi_read16_sync(is, lun, lba, 4096, BLOCK, 0, 0, 0, 0, 0)
		                            : iscsi_write16_sync(is, lun, lba, buf, 4096, BLOCK, 0, 0, 0,
		                                                 0, 0);
		if (!t || t->status != SCSI_STATUS_GOOD)
			FAIL("I/O %" PRIu64 ": %s", n, t ? "not GOOD" : iscsi_get_error(is));
		if (t)
			scsi_free_scsi_task(t);
		n++;
	}
	printf("io_count: %" PRIu64 " I/Os\n", n);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "rw"))
		return mode_rw(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
		               atoi(argv[7]));
	if ((argc == 5 || argc == 7) && !strcmp(argv[1], "refuse"))
		return mode_refuse(argv[2], argv[3], argv[4], argc == 7 ? argv[5] : NULL,
		                   argc == 7 ? argv[6] : NULL);
	if (argc == 6 && !strcmp(argv[1], "load"))
		return mode_load(argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
	fprintf(stderr, "usage: io_count rw PORTAL IQN LUN READS WRITES BLOCKS\n"
	                "       io_count refuse PORTAL IQN INITIATOR [USER SECRET]\n"
	                "       io_count load PORTAL IQN LUN SECONDS\n");
	return 2;
}
