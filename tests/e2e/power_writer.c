/* SPDX-License-Identifier: MIT */
/*
 * A libiscsi client for the power-loss test (power_loss.sh): it writes
 * through a LUN whose stack has a volatile write cache (the vcache filter)
 * and keeps a log of what the target promised was durable, so that after
 * the power fails the image can be checked against the promises.
 *
 *   power_writer write URL LOG SECONDS [QD]
 *       QD (default 32) WRITE(10)s of one block in flight, each to a block
 *       of its own (a numbered, checksummed record; no block is written
 *       twice), one in eight with FUA, and a SYNCHRONIZE CACHE(10) every
 *       200 acknowledged writes; until the target fails a request (the
 *       power went) or SECONDS pass.  The log gets, in the order they
 *       happened:
 *         W N LBA FUA   write N acknowledged GOOD (FUA 0/1)
 *         S K           a SYNCHRONIZE CACHE completed GOOD that was issued
 *                       when K writes had been acknowledged
 *   power_writer verify-file IMAGE LOG
 *       Every write acknowledged with FUA, and every write among the first
 *       K acknowledged before a SYNCHRONIZE CACHE that completed (SBC-3
 *       5.22: it covers what completed before it was issued), must be in
 *       the image, whole.  Any other acknowledged write may be missing (it
 *       was only ever in the volatile cache), but a block that is there
 *       must be the record written to it, never garbage.
 *
 * Exit status: 0 ok, 1 a durable write is missing or a block is corrupt,
 * or a write got an unexpected status, 2 usage / connection error.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/url_login.h"

#define BLOCK 512
#define QD_MAX 64
#define SYNC_EVERY 200
#define MAX_WRITES (1u << 20)

static const char *initiator = "iqn.2026-11.org.vstor:e2e-power";

/* Block LBA holds "power seq=N lba=L" records with an additive checksum. */
static void fill(uint8_t *buf, uint64_t seq, uint64_t lba)
{
	uint32_t sum = 0;

	memset(buf, 0, BLOCK);
	snprintf((char *)buf, BLOCK - 8, "power seq=%08" PRIu64 " lba=%08" PRIu64 " ", seq, lba);
	for (int i = 64; i < BLOCK - 4; i++)
		buf[i] = (uint8_t)(seq * 31 + lba * 7 + (uint64_t)i);
	for (int i = 0; i < BLOCK - 4; i++)
		sum = sum * 31 + buf[i];
	memcpy(buf + BLOCK - 4, &sum, 4);
}

struct slot {
	uint8_t buf[BLOCK];
	uint64_t seq, lba;
	bool fua, busy;
	struct scsi_task *task;
};

struct writer {
	struct iscsi_context *is;
	int lun;
	FILE *log;
	struct slot slots[QD_MAX];
	unsigned qd, inflight;
	uint64_t next_seq, acked, syncs, sync_at;
	bool sync_busy, gone, bad;
	struct scsi_task *sync_task;
};

static struct writer wr;

static void write_done(struct iscsi_context *is, int status, void *data, void *private)
{
	struct slot *s = private;

	(void)is;
	(void)data;
	s->busy = false;
	wr.inflight--;
	if (status == SCSI_STATUS_GOOD) {
		fprintf(wr.log, "W %" PRIu64 " %" PRIu64 " %d\n", s->seq, s->lba, s->fua);
		fflush(wr.log);
		wr.acked++;
	} else if (status == SCSI_STATUS_CHECK_CONDITION &&
	           s->task->sense.key == SCSI_SENSE_MEDIUM_ERROR) {
		wr.gone = true;         /* the power went: the dead disk fails everything */
	} else if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED ||
	           status == SCSI_STATUS_TIMEOUT) {
		wr.gone = true;         /* vstord killed under us */
	} else {
		fprintf(stderr, "power_writer: WRITE LBA %" PRIu64 ": status 0x%x sense %x\n", s->lba,
		        status, s->task->sense.key);
		wr.bad = true;
	}
	scsi_free_scsi_task(s->task);
	s->task = NULL;
}

static void sync_done(struct iscsi_context *is, int status, void *data, void *private)
{
	(void)is;
	(void)data;
	(void)private;
	wr.sync_busy = false;
	if (status == SCSI_STATUS_GOOD) {
		fprintf(wr.log, "S %" PRIu64 "\n", wr.sync_at);
		fflush(wr.log);
		wr.syncs++;
	} else {
		wr.gone = true;
	}
	scsi_free_scsi_task(wr.sync_task);
	wr.sync_task = NULL;
}

static struct iscsi_context *connect_url(const char *url, int *lun)
{
	return url_login("power_writer", initiator, url, false, lun);
}

static int do_write(const char *url, const char *logpath, int seconds, unsigned qd)
{
	struct writer *w = &wr;
	time_t end = time(NULL) + seconds, hard_end = end + 10;

	w->qd = qd;
	if (!(w->is = connect_url(url, &w->lun)))
		return 2;
	if (!(w->log = fopen(logpath, "w"))) {
		perror(logpath);
		return 2;
	}
	/* the first commands after login may see POWER ON: answer them */
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(w->is, w->lun);

		if (t && t->status == SCSI_STATUS_GOOD) {
			scsi_free_scsi_task(t);
			break;
		}
		if (t)
			scsi_free_scsi_task(t);
	}
	for (;;) {
		bool more = !w->gone && !w->bad && time(NULL) < end && w->next_seq < MAX_WRITES;
		struct pollfd pfd;

		for (unsigned i = 0; more && i < w->qd; i++) {
			struct slot *s = &w->slots[i];

			if (s->busy)
				continue;
			s->seq = w->next_seq++;
			s->lba = s->seq;        /* each write its own block */
			s->fua = s->seq % 8 == 7;
			fill(s->buf, s->seq, s->lba);
			s->task = iscsi_write10_task(w->is, w->lun, (uint32_t)s->lba, s->buf, BLOCK,
			                             BLOCK, 0, 0, s->fua, 0, 0, write_done, s);
			if (!s->task) {
				w->gone = true;
				break;
			}
			s->busy = true;
			w->inflight++;
		}
		if (more && !w->sync_busy && w->acked >= (w->syncs + 1) * SYNC_EVERY) {
			w->sync_at = w->acked;  /* covers the writes acknowledged so far */
			w->sync_task = iscsi_synchronizecache10_task(w->is, w->lun, 0, 0, 0, 0,
			                                             sync_done, NULL);
			w->sync_busy = w->sync_task != NULL;
		}
		if ((!more && w->inflight == 0 && !w->sync_busy) || time(NULL) >= hard_end)
			break;
		pfd.fd = iscsi_get_fd(w->is);
		pfd.events = (short)iscsi_which_events(w->is);
		if (pfd.fd < 0 || poll(&pfd, 1, 200) < 0 || iscsi_service(w->is, pfd.revents) < 0) {
			w->gone = true;
			break;
		}
	}
	iscsi_destroy_context(w->is);
	fclose(w->log);
	fprintf(stderr, "power_writer: %" PRIu64 " writes acknowledged, %" PRIu64
	        " SYNCHRONIZE CACHE completed%s\n", w->acked, w->syncs,
	        w->gone ? ", then the disk failed" : "");
	if (w->bad)
		return 1;
	return w->acked ? 0 : 2;
}

struct ack {
	uint64_t seq, lba;
	bool fua;
};

static int do_verify_file(const char *image, const char *logpath)
{
	static struct ack acks[MAX_WRITES];
	uint64_t n = 0, covered = 0, durable = 0, lost_ok = 0, kept = 0;
	FILE *log = fopen(logpath, "r");
	char kind;
	int fd, bad = 0;

	if (!log) {
		perror(logpath);
		return 2;
	}
	while (fscanf(log, " %c", &kind) == 1) {
		uint64_t a, b;
		int fua;

		if (kind == 'W' && fscanf(log, "%" SCNu64 " %" SCNu64 " %d", &a, &b, &fua) == 3 &&
		    n < MAX_WRITES) {
			acks[n++] = (struct ack){ a, b, fua != 0 };
		} else if (kind == 'S' && fscanf(log, "%" SCNu64, &a) == 1) {
			if (a > covered)
				covered = a;    /* the first `a` acknowledged are durable */
		} else {
			fprintf(stderr, "power_writer: %s: malformed log\n", logpath);
			fclose(log);
			return 2;
		}
	}
	fclose(log);
	if ((fd = open(image, O_RDONLY)) < 0) {
		perror(image);
		return 2;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint8_t got[BLOCK], want[BLOCK], zero[BLOCK] = { 0 };
		bool must = acks[i].fua || i < covered;

		if (pread(fd, got, BLOCK, (off_t)(acks[i].lba * BLOCK)) != BLOCK)
			memset(got, 0, BLOCK);
		fill(want, acks[i].seq, acks[i].lba);
		if (memcmp(got, want, BLOCK) == 0) {
			durable += must;
			kept += !must;
			continue;
		}
		if (!must && memcmp(got, zero, BLOCK) == 0) {
			lost_ok++;      /* only in the volatile cache when the power went */
			continue;
		}
		if (bad++ < 10)
			fprintf(stderr, "power_writer: write %" PRIu64 " (LBA %" PRIu64 ", %s) %s\n",
			        acks[i].seq, acks[i].lba,
			        acks[i].fua ? "FUA" : i < covered ? "covered by SYNCHRONIZE CACHE" : "not durable",
			        memcmp(got, zero, BLOCK) == 0 ? "is missing" : "holds garbage");
	}
	close(fd);
	printf("acknowledged %" PRIu64 ", durable %" PRIu64 " all present, not durable: %" PRIu64
	       " lost, %" PRIu64 " present, bad %d\n", n, durable, lost_ok, kept, bad);
	return bad || !n ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], argv[3], atoi(argv[4]),
		                argc > 5 ? (unsigned)atoi(argv[5]) % (QD_MAX + 1) : 32);
	if (argc == 4 && strcmp(argv[1], "verify-file") == 0)
		return do_verify_file(argv[2], argv[3]);
	fprintf(stderr, "usage: power_writer write URL LOG SECONDS [QD]\n"
	                "       power_writer verify-file IMAGE LOG\n");
	return 2;
}
