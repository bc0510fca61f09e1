/* SPDX-License-Identifier: MIT */
/*
 * msgdev: a storage service in raw mode -- it answers SCSI itself -- that
 * is no disk: a one-LUN processor device (SPC-4 peripheral device type
 * 03h) that keeps the last message an initiator SENT and gives it back to
 * RECEIVE (SPC-2 processor commands SEND 0Ah / RECEIVE 08h).
 * doc/services.md.
 *
 *   msgdev [-s SOCKET] [-t TARGET] [-n NAME] LUN
 *
 * It answers INQUIRY (standard data, VPD pages 00h and 83h), TEST UNIT
 * READY, REQUEST SENSE, SEND and RECEIVE; anything else gets ILLEGAL
 * REQUEST, INVALID COMMAND OPERATION CODE.  REPORT LUNS, unit attentions
 * and task management are vstord's.
 *
 * Build: cc -o msgdev msgdev.c $(pkg-config --cflags --libs vstor-service)
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vstor/service.h>

#define INQUIRY          0x12
#define TEST_UNIT_READY  0x00
#define REQUEST_SENSE    0x03
#define RECEIVE          0x08
#define SEND             0x0a
#define MSG_MAX          65536

#define ILLEGAL_REQUEST  0x05

struct msgdev {
	pthread_mutex_t mu;
	uint8_t msg[MSG_MAX];
	uint32_t len;
};

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Copy what fits of d[0..n) into the command's buffer; done. */
static void data_in(struct vs_svc_cmd *cmd, const void *d, uint32_t n)
{
	uint32_t cap;
	void *buf = vs_svc_cmd_data(cmd, &cap);

	n = buf ? min32(n, cap) : 0;
	if (n)
		memcpy(buf, d, n);
	vs_svc_cmd_done(cmd, 0, n);
}

static void inquiry(struct vs_svc_cmd *cmd, const uint8_t *cdb)
{
	uint8_t d[64] = { 0 };
	uint16_t alloc = (uint16_t)(cdb[3] << 8 | cdb[4]);

	if (cdb[1] & 1) {                       /* EVPD */
		d[0] = 0x03;
		d[1] = cdb[2];
		if (cdb[2] == 0x00) {           /* supported VPD pages */
			d[3] = 2;
			d[4] = 0x00;
			d[5] = 0x83;
			data_in(cmd, d, min32(6, alloc));
		} else if (cdb[2] == 0x83) {    /* device identification: T10 vendor ID */
			const char id[] = "VSTOR   MSGDEV-EXAMPLE";
			d[4] = 0x02;            /* code set ASCII */
			d[5] = 0x01;            /* association LU, type T10 vendor ID */
			d[7] = (uint8_t)(sizeof(id) - 1);
			memcpy(&d[8], id, sizeof(id) - 1);
			d[3] = (uint8_t)(4 + sizeof(id) - 1);
			data_in(cmd, d, min32(4u + d[3], alloc));
		} else {
			vs_svc_cmd_sense(cmd, ILLEGAL_REQUEST, 0x24, 0x00);     /* INVALID FIELD IN CDB */
		}
		return;
	}
	if (cdb[2]) {
		vs_svc_cmd_sense(cmd, ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	d[0] = 0x03;                            /* processor device */
	d[2] = 0x06;                            /* SPC-4 */
	d[3] = 0x02;                            /* response data format 2 */
	d[4] = 36 - 5;
	memcpy(&d[8], "VSTOR   ", 8);
	memcpy(&d[16], "MSGDEV EXAMPLE  ", 16);
	memcpy(&d[32], "0001", 4);
	data_in(cmd, d, min32(36, alloc));
}

static void command(void *ctx, struct vs_svc_cmd *cmd)
{
	struct msgdev *m = ctx;
	uint8_t len;
	const uint8_t *cdb = vs_svc_cmd_cdb(cmd, &len);
	uint32_t n = len >= 6 ? (uint32_t)cdb[2] << 16 | (uint32_t)cdb[3] << 8 | cdb[4] : 0;
	uint32_t cap;
	void *buf;

	switch (cdb[0]) {
	case INQUIRY:
		inquiry(cmd, cdb);
		return;
	case TEST_UNIT_READY:
		vs_svc_cmd_done(cmd, 0, 0);
		return;
	case REQUEST_SENSE: {                   /* nothing to report: NO SENSE */
		uint8_t s[18] = { 0x70, 0, 0, 0, 0, 0, 0, 10 };
		data_in(cmd, s, min32(sizeof(s), cdb[4]));
		return;
	}
	case SEND:
		buf = vs_svc_cmd_data(cmd, &cap);
		if (n > MSG_MAX || n > cap) {
			vs_svc_cmd_sense(cmd, ILLEGAL_REQUEST, 0x24, 0x00);
			return;
		}
		pthread_mutex_lock(&m->mu);
		memcpy(m->msg, buf, n);         /* the data is where the initiator's arrived */
		m->len = n;
		pthread_mutex_unlock(&m->mu);
		vs_svc_cmd_done(cmd, 0, 0);
		return;
	case RECEIVE:
		pthread_mutex_lock(&m->mu);
		buf = vs_svc_cmd_data(cmd, &cap);
		n = min32(min32(n, m->len), buf ? cap : 0);
		if (n)
			memcpy(buf, m->msg, n);
		pthread_mutex_unlock(&m->mu);
		vs_svc_cmd_done(cmd, 0, n);
		return;
	default:
		vs_svc_cmd_sense(cmd, ILLEGAL_REQUEST, 0x20, 0x00);     /* INVALID COMMAND OPERATION CODE */
	}
}

static const struct vs_svc_raw_ops ops = { .command = command };
static struct vs_svc *svc;

static void on_signal(int sig)
{
	(void)sig;
	vs_svc_stop(svc);
}

int main(int argc, char **argv)
{
	struct vs_svc_options o = { .name = "msgdev", .target = "iqn.2026-11.org.vstor:default" };
	struct vs_svc_raw_lun info = { .peripheral_type = 0x03, .description = "message device" };
	static struct msgdev m = { .mu = PTHREAD_MUTEX_INITIALIZER };
	int i, rc;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-s"))
			o.socket_path = argv[i + 1];
		else if (!strcmp(argv[i], "-t"))
			o.target = argv[i + 1];
		else if (!strcmp(argv[i], "-n"))
			o.name = argv[i + 1];
		else
			break;
	}
	if (i + 1 != argc) {
		fprintf(stderr, "usage: msgdev [-s SOCKET] [-t TARGET] [-n NAME] LUN\n");
		return 2;
	}
	svc = vs_svc_open(&o);
	if (!svc || vs_svc_attach_raw(svc, strtoull(argv[i], NULL, 10), &info, &ops, &m) < 0) {
		fprintf(stderr, "msgdev: %s\n", vs_svc_error());
		vs_svc_close(svc);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "msgdev: serving\n");
	rc = vs_svc_run(svc);
	if (rc < 0)
		fprintf(stderr, "msgdev: %s\n", vs_svc_error());
	vs_svc_close(svc);
	return rc < 0 ? 1 : 0;
}
