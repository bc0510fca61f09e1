/* SPDX-License-Identifier: MIT */
/*
 * ctl_probe: libiscsi initiator steps for the control-plane e2e tests
 * (tests/e2e/ctl_*.sh), one per mode:
 *
 *   ctl_probe io PORTAL IQN LUN write|check LBA BYTE
 *       write one 512-byte block filled with BYTE (decimal) at LBA, or read
 *       it back and check every byte.
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

/* ---------------------------------------------------------------- main */

static int usage(void)
{
	fprintf(stderr, "usage: ctl_probe io PORTAL IQN LUN write|check LBA BYTE\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 8 && !strcmp(argv[1], "io") &&
	    (!strcmp(argv[5], "write") || !strcmp(argv[5], "check")))
		return mode_io(argv[2], argv[3], atoi(argv[4]), argv[5],
		               (uint32_t)strtoul(argv[6], NULL, 10), atoi(argv[7]));
	return usage();
}
