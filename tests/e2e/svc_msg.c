/* SPDX-License-Identifier: MIT */
/*
 * svc_msg PORTAL IQN LUN TEXT: SEND (0Ah) TEXT to the message device of
 * doc/examples/service/msgdev.c, RECEIVE (08h) it back and print
 * "RECEIVED TEXT" (or the status it got).  Exit 0 when both were answered.
 */
#include <string.h>

#define CLIENT_NAME "svc_msg"
#define INITIATOR "iqn.2026-11.org.vstor:e2e-msg"
#include "lib/lib_client.h"

/* SPC-2 processor device SEND / RECEIVE: 24-bit TRANSFER LENGTH in 2-4 */
static struct scsi_task *cdb6(uint8_t op, uint32_t len, int dir)
{
	struct scsi_task *t = calloc(1, sizeof(*t));

	t->cdb[0] = op;
	t->cdb[2] = (uint8_t)(len >> 16);
	t->cdb[3] = (uint8_t)(len >> 8);
	t->cdb[4] = (uint8_t)len;
	t->cdb_size = 6;
	t->xfer_dir = dir;
	t->expxferlen = len;
	return t;
}

int main(int argc, char **argv)
{
	struct iscsi_context *is;
	struct scsi_task *t;
	struct iscsi_data d;
	char got[256] = "";
	int lun;

	if (argc != 5 || strlen(argv[4]) >= sizeof(got)) {
		fprintf(stderr, "usage: svc_msg PORTAL IQN LUN TEXT\n");
		return 2;
	}
	lun = atoi(argv[3]);
	is = login(argv[1], argv[2], lun, "msg");
	if (!is || !clear_ua(is, lun))
		return 1;
	d.data = (unsigned char *)argv[4];
	d.size = (int)strlen(argv[4]);
	t = iscsi_scsi_command_sync(is, lun, cdb6(0x0a, (uint32_t)d.size, SCSI_XFER_WRITE), &d);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		FAIL("SEND: %s", t ? "not GOOD" : iscsi_get_error(is));
		return 1;
	}
	scsi_free_scsi_task(t);
	t = iscsi_scsi_command_sync(is, lun, cdb6(0x08, sizeof(got) - 1, SCSI_XFER_READ), NULL);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		FAIL("RECEIVE: %s", t ? "not GOOD" : iscsi_get_error(is));
		return 1;
	}
	memcpy(got, t->datain.data, (size_t)t->datain.size < sizeof(got) - 1 ? (size_t)t->datain.size
	                                                                     : sizeof(got) - 1);
	printf("RECEIVED %s\n", got);
	scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return failures ? 1 : 0;
}
