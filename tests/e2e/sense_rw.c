/* SPDX-License-Identifier: MIT */
/*
 * sense_rw PORTAL IQN LUN read|write LBA [BYTE]: one READ(16) or WRITE(16)
 * of one 512-byte block (written full of BYTE, default 0xa5), and one line
 * on stdout saying how it ended, for scripts to compare:
 *   GOOD [BYTE]                  (a read: the block's first byte, hex)
 *   CHECK CONDITION K/AA/QQ      (sense key, ASC, ASCQ in hex)
 *   STATUS SS                    (any other SCSI status, hex: 08 is BUSY)
 * Exit 0 when the command was answered at all, 1 if it was not.
 */
#include <inttypes.h>
#include <string.h>

#define CLIENT_NAME "sense_rw"
#define INITIATOR "iqn.2026-11.org.vstor:e2e-sense"
#include "lib/lib_client.h"

#define BLOCK 512

int main(int argc, char **argv)
{
	static uint8_t buf[BLOCK];
	struct iscsi_context *is;
	struct scsi_task *t;
	bool rd;
	int lun;
	uint64_t lba;

	if (argc < 6 || argc > 7 || (strcmp(argv[4], "read") && strcmp(argv[4], "write"))) {
		fprintf(stderr, "usage: sense_rw PORTAL IQN LUN read|write LBA [BYTE]\n");
		return 2;
	}
	lun = atoi(argv[3]);
	rd = !strcmp(argv[4], "read");
	lba = strtoull(argv[5], NULL, 10);
	memset(buf, argc == 7 ? (int)strtoul(argv[6], NULL, 0) : 0xa5, sizeof(buf));
	is = login(argv[1], argv[2], lun, "sense");
	if (!is || !clear_ua(is, lun))
		return 1;
	t = rd ? iscsi_read16_sync(is, lun, lba, BLOCK, BLOCK, 0, 0, 0, 0, 0)
	       : iscsi_write16_sync(is, lun, lba, buf, BLOCK, BLOCK, 0, 0, 0, 0, 0);
	if (!t) {
		FAIL("%s at LBA %" PRIu64 ": %s", argv[4], lba, iscsi_get_error(is));
	} else if (t->status == SCSI_STATUS_GOOD) {
		if (rd && t->datain.size >= 1)
			printf("GOOD %02x\n", t->datain.data[0]);
		else
			printf("GOOD\n");
	} else if (t->status == SCSI_STATUS_CHECK_CONDITION) {
		printf("CHECK CONDITION %x/%02x/%02x\n", (unsigned)t->sense.key,
		       (unsigned)t->sense.ascq >> 8, (unsigned)t->sense.ascq & 0xff);
	} else {
		printf("STATUS %02x\n", (unsigned)t->status);
	}
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}
