/* SPDX-License-Identifier: MIT */
/*
 * A libiscsi client for the crash-consistency e2e tests.
 *
 *   ack_writer write  URL LOG SECONDS [QD [retry]]
 *                                           keep QD (default 32) WRITE(10)s
 *                                           in flight until the target goes
 *                                           away (or SECONDS pass), logging
 *                                           "LBA SEQ" for each GOOD status;
 *                                           with "retry", a write answered
 *                                           NOT READY (02/04/xx), BUSY or
 *                                           TASK SET FULL is sent again, as
 *                                           an initiator does (counted)
 *   ack_writer soak   URL LOG SECONDS QD STOPFILE
 *                                           the same through a resource that
 *                                           comes and goes (tests/e2e/backend_nbd_kill.sh):
 *                                           one in 8 writes with FUA, a
 *                                           SYNCHRONIZE CACHE every 4096
 *                                           writes (ACK_WRITER_FLUSH_EVERY),
 *                                           until SECONDS pass or STOPFILE
 *                                           exists; NOT READY, BUSY and UNIT
 *                                           ATTENTION are retried (the write
 *                                           was not acknowledged), MEDIUM
 *                                           ERROR or any other error fails,
 *                                           and so does losing the session
 *                                           (it must stay logged in); each
 *                                           time STOPFILE.check appears it
 *                                           stops, reads every block back,
 *                                           checks it holds its last
 *                                           acknowledged write and removes
 *                                           the file (a checkpoint)
 *   ack_writer verify URL LOG               read back every logged LBA
 *                                           through iSCSI
 *   ack_writer sync   URL                   one SYNCHRONIZE CACHE(10); prints
 *                                           "GOOD" or "CHECK CONDITION K/ASC/
 *                                           ASCQ" (hex); exit 0 or 3
 *   ack_writer verify-file IMAGE LOG        the same straight from the file
 *                                           the LUN lives in (vstord stopped)
 *
 * Each block must hold its last acknowledged write (or a later one to the
 * same LBA, which may have landed unacknowledged).  Writes go to REGION
 * blocks round-robin, so with QD < REGION no two writes to one LBA are in
 * flight at once; block SEQ holds the text record "vstor-e2e lba=L seq=S"
 * repeated, so a torn or stale block is visible.  Only GOOD is an
 * acknowledgement: a write rejected, cancelled or timed out because the
 * target is going away was never acknowledged.
 * With ACK_WRITER_FLUSH_EVERY=N in the environment, a SYNCHRONIZE CACHE(10)
 * follows every N writes submitted (one at a time, beside the QD writes);
 * it must answer GOOD like a write.
 * Exit status: 0 ok, 1 verification failed or a write got a SCSI error,
 * 2 usage / connection error.
 */
#include <inttypes.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "lib/url_login.h"

#define BLOCK 512
/* blocks written round-robin; ACK_WRITER_REGION changes it (every mode of
 * one test must use the same) */
static uint64_t REGION = 4096u;
#define CHUNK 128u          /* blocks per READ when checking */
#define RECORD 64   /* bytes per text record; 8 per block */
#define SOAK_FUA_EVERY 8u
#define SOAK_FLUSH_EVERY 4096u

static const char *initiator = "iqn.2026-11.org.vstor:e2e-writer";

static void fill(uint8_t *buf, uint64_t lba, uint64_t seq)
{
	char rec[RECORD + 1];
	memset(rec, ' ', sizeof(rec));
	int n = snprintf(rec, sizeof(rec), "vstor-e2e lba=%05" PRIu64 " seq=%08" PRIu64, lba, seq);
	if (n >= 0 && n < RECORD)
		rec[n] = ' ';
	rec[RECORD - 1] = '\n';
	for (size_t off = 0; off < BLOCK; off += RECORD)
		memcpy(buf + off, rec, RECORD);
}

/* 0 and *seq on a well-formed block for `lba`, -1 otherwise. */
static int parse(const uint8_t *buf, uint64_t lba, uint64_t *seq)
{
	uint8_t want[BLOCK];
	uint64_t l, s;
	char rec[RECORD + 1];
	memcpy(rec, buf, RECORD);
	rec[RECORD] = '\0';
	if (sscanf(rec, "vstor-e2e lba=%" SCNu64 " seq=%" SCNu64, &l, &s) != 2 || l != lba)
		return -1;
	fill(want, l, s);
	if (memcmp(want, buf, BLOCK) != 0)
		return -1;
	*seq = s;
	return 0;
}

static struct iscsi_context *connect_url(const char *url, int *lun)
{
	/* a lost target must end the run, not be retried forever */
	return url_login("ack_writer", initiator, url, true, lun);
}

static bool is_unit_attention(struct scsi_task *t)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

#define QD_MAX 64

/* One write in flight; its buffer must live until the callback. */
struct slot {
	uint8_t buf[BLOCK];
	uint64_t seq;
	struct scsi_task *task;     /* ours to free, also when libiscsi cancels it */
	bool busy, retry;
};

struct writer {
	struct iscsi_context *is;
	int lun;
	FILE *log;
	struct slot slots[QD_MAX];
	unsigned qd, inflight;
	uint64_t next_seq, acked;
	bool gone;          /* the target is going away: no new writes */
	bool bad;           /* a SCSI status other than GOOD / UNIT ATTENTION */
	unsigned flush_every, since_flush;
	bool flush_busy;
	uint64_t flushes;
	bool retry_mode;    /* resend writes answered with a retryable status */
	/* soak: the target stays; its resource comes and goes */
	bool soak;
	uint64_t pause_until_ms;        /* after NOT READY or BUSY: wait, as an initiator does */
	uint64_t fua_acked, not_ready, busy, medium;
};

static struct writer wr;    /* one session per process */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The last acknowledged seq of each LBA (from the log, or as the writer
 * sees them acknowledged), REGION entries. */
static uint64_t *last;
static bool *seen;

static void acked(uint64_t lba, uint64_t seq)
{
	/* Acknowledgements come in completion order; keep the latest. */
	if (!seen[lba] || seq > last[lba])
		last[lba] = seq;
	seen[lba] = true;
}

static int load_log(const char *logpath, uint64_t *n)
{
	FILE *log = fopen(logpath, "r");
	uint64_t lba, seq;

	if (!log) {
		perror(logpath);
		return -1;
	}
	*n = 0;
	while (fscanf(log, "%" SCNu64 " %" SCNu64, &lba, &seq) == 2) {
		if (lba >= REGION)
			continue;
		acked(lba, seq);
		(*n)++;
	}
	fclose(log);
	return 0;
}

/* 0 if the block holds its last acknowledged write or a later one to the
 * same LBA (which may have landed unacknowledged). */
static int check_block(const uint8_t *buf, uint64_t lba, int *bad)
{
	uint64_t got;

	if (parse(buf, lba, &got) == 0 && got >= last[lba] && (got - last[lba]) % REGION == 0)
		return 0;
	if ((*bad)++ < 10)
		fprintf(stderr, "ack_writer: LBA %" PRIu64 ": acknowledged seq %" PRIu64
		        " missing (block holds \"%.30s\")\n", lba, last[lba], (const char *)buf);
	return -1;
}

/* Read every block written so far through the session (nothing else in
 * flight) and check each.  0, or -1 if a READ failed. */
static int check_lun(struct iscsi_context *is, int lun, uint64_t *checked, int *bad)
{
	for (uint64_t lba = 0; lba < REGION; lba += CHUNK) {
		uint32_t n = (uint32_t)(REGION - lba < CHUNK ? REGION - lba : CHUNK);
		struct scsi_task *t = NULL;
		bool any = false;

		for (uint32_t i = 0; i < n; i++)
			any |= seen[lba + i];
		if (!any)
			continue;
		for (int tries = 0; tries < 20; tries++) {
			t = iscsi_read10_sync(is, lun, (uint32_t)lba, n * BLOCK, BLOCK, 0, 0, 0, 0, 0);
			/* a unit attention, or the resource coming back: again */
			if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
			    (t->sense.key == SCSI_SENSE_UNIT_ATTENTION ||
			     (t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x0401))) {
				scsi_free_scsi_task(t);
				t = NULL;
				usleep(100000);
				continue;
			}
			break;
		}
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size < (int)(n * BLOCK)) {
			fprintf(stderr, "ack_writer: READ(10) LBA %" PRIu64 " failed: %s\n", lba,
			        iscsi_get_error(is));
			if (t)
				scsi_free_scsi_task(t);
			return -1;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (!seen[lba + i])
				continue;
			check_block(t->datain.data + (size_t)i * BLOCK, lba + i, bad);
			(*checked)++;
		}
		scsi_free_scsi_task(t);
	}
	return 0;
}

/* Soak: what a status other than GOOD means.  true: send it again. */
static bool soak_retry(struct writer *w, int status, struct scsi_task *t, const char *what)
{
	if (status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL) {
		w->busy++;
		w->pause_until_ms = now_ms() + 20;
		return true;
	}
	if (status == SCSI_STATUS_CHECK_CONDITION && t) {
		if (t->sense.key == SCSI_SENSE_UNIT_ATTENTION)
			return true;
		/* LOGICAL UNIT IS IN PROCESS OF BECOMING READY: retried */
		if (t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x0401) {
			w->not_ready++;
			w->pause_until_ms = now_ms() + 50;
			return true;
		}
		if (t->sense.key == SCSI_SENSE_MEDIUM_ERROR)
			w->medium++;
		fprintf(stderr, "ack_writer: %s: CHECK CONDITION %s (0x%x) ASC/ASCQ 0x%04x\n", what,
		        scsi_sense_key_str(t->sense.key), t->sense.key, t->sense.ascq);
	} else if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED ||
	           status == SCSI_STATUS_TIMEOUT) {
		fprintf(stderr, "ack_writer: %s: the session failed (status 0x%x): %s\n", what, status,
		        iscsi_get_error(w->is));
		w->gone = true;
	} else {
		fprintf(stderr, "ack_writer: %s: status 0x%x\n", what, status);
	}
	w->bad = true;
	return false;
}

static void write_done(struct iscsi_context *is, int status, void *command_data, void *private)
{
	struct writer *w = &wr;
	struct slot *s = private;
	struct scsi_task *t = s->task;

	(void)is;
	(void)command_data;     /* NULL when the PDU is cancelled */
	s->busy = false;
	w->inflight--;
	if (w->soak && status != SCSI_STATUS_GOOD) {
		s->retry = soak_retry(w, status, t, "WRITE(10)");
	} else if (status == SCSI_STATUS_GOOD) {
		if (w->soak && s->seq % SOAK_FUA_EVERY == 0)
			w->fua_acked++;
		fprintf(w->log, "%" PRIu64 " %" PRIu64 "\n", s->seq % REGION, s->seq);
		acked(s->seq % REGION, s->seq);
		fflush(w->log);
		w->acked++;
	} else if (status == SCSI_STATUS_CHECK_CONDITION && is_unit_attention(t)) {
		s->retry = true;        /* POWER ON / RESET etc.: the same write again */
	} else if (w->retry_mode && status == SCSI_STATUS_CHECK_CONDITION &&
	           t->sense.key == SCSI_SENSE_NOT_READY && (t->sense.ascq >> 8) == 0x04) {
		s->retry = true;        /* LOGICAL UNIT NOT READY, ...: try again */
		w->not_ready++;
	} else if (w->retry_mode && (status == SCSI_STATUS_BUSY ||
	                             status == SCSI_STATUS_TASK_SET_FULL)) {
		s->retry = true;
		w->busy++;
	} else if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED ||
	           status == SCSI_STATUS_TIMEOUT) {
		/* Rejected ("waiting for logout") or cut off: the target is
		 * stopping under us, as the test intends. */
		w->gone = true;
	} else {
		if (status == SCSI_STATUS_CHECK_CONDITION)
			fprintf(stderr, "ack_writer: WRITE(10) LBA %" PRIu64 ": CHECK CONDITION "
			        "%x/%02x/%02x\n", s->seq % REGION, t->sense.key, t->sense.ascq >> 8,
			        t->sense.ascq & 0xff);
		else
			fprintf(stderr, "ack_writer: WRITE(10) LBA %" PRIu64 ": status 0x%x\n",
			        s->seq % REGION, status);
		w->bad = true;
	}
	scsi_free_scsi_task(t);
	s->task = NULL;
}

static int submit(struct writer *w, struct slot *s)
{
	fill(s->buf, s->seq % REGION, s->seq);
	s->busy = true;
	s->retry = false;
	s->task = iscsi_write10_task(w->is, w->lun, (uint32_t)(s->seq % REGION), s->buf, BLOCK, BLOCK, 0,
	                             0, w->soak && s->seq % SOAK_FUA_EVERY == 0, 0, 0, write_done, s);
	if (!s->task) {
		s->busy = false;
		return -1;
	}
	w->inflight++;
	w->since_flush++;
	return 0;
}

static void flush_done(struct iscsi_context *is, int status, void *command_data, void *private)
{
	struct writer *w = private;
	struct scsi_task *t = command_data;

	(void)is;
	w->flush_busy = false;
	w->inflight--;
	if (status == SCSI_STATUS_GOOD) {
		w->flushes++;
	} else if (status == SCSI_STATUS_CHECK_CONDITION && is_unit_attention(t)) {
		w->since_flush = w->flush_every;        /* again */
	} else if (w->soak) {
		if (soak_retry(w, status, t, "SYNCHRONIZE CACHE(10)"))
			w->since_flush = w->flush_every;
	} else if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED ||
	           status == SCSI_STATUS_TIMEOUT) {
		w->gone = true;
	} else {
		fprintf(stderr, "ack_writer: SYNCHRONIZE CACHE(10): status 0x%x\n", status);
		w->bad = true;
	}
	if (t)
		scsi_free_scsi_task(t);
}

static void maybe_flush(struct writer *w)
{
	if (!w->flush_every || w->flush_busy || w->since_flush < w->flush_every)
		return;
	if (!iscsi_synchronizecache10_task(w->is, w->lun, 0, 0, 0, 0, flush_done, w))
		return;
	w->since_flush = 0;
	w->flush_busy = true;
	w->inflight++;
}

static int do_write(const char *url, const char *logpath, int seconds, unsigned qd, bool retry,
                    const char *stop_file)
{
	struct writer *w = &wr;
	uint64_t end, hard_end;
	char check_file[512] = "";
	unsigned checkpoints = 0;

	w->qd = qd;
	w->soak = stop_file != NULL;
	if (w->soak)
		w->flush_every = SOAK_FLUSH_EVERY;
	if (getenv("ACK_WRITER_FLUSH_EVERY"))
		w->flush_every = (unsigned)atoi(getenv("ACK_WRITER_FLUSH_EVERY"));
	w->retry_mode = retry;
	w->is = connect_url(url, &w->lun);
	if (!w->is)
		return 2;
	/* soak: commands wait while the resource is away (the port holds
	 * them): far longer than the 10 s a vanishing target gets */
	if (w->soak)
		iscsi_set_timeout(w->is, 120);
	w->log = fopen(logpath, "w");
	if (!w->log) {
		perror(logpath);
		return 2;
	}
	if (stop_file)
		snprintf(check_file, sizeof(check_file), "%s.check", stop_file);
	/* SECONDS of writing from the login on, to the millisecond: a whole-
	 * second clock read before a slow login left a 1 s run no time at all. */
	end = now_ms() + (uint64_t)seconds * 1000;
	hard_end = end + 10000;
	for (;;) {
		bool pause = check_file[0] && access(check_file, F_OK) == 0;
		bool more = !w->gone && !w->bad && !pause && now_ms() < end &&
		            !(stop_file && access(stop_file, F_OK) == 0);
		bool send = more && now_ms() >= w->pause_until_ms;
		struct pollfd pfd;

		if (pause && !w->gone && !w->bad && w->inflight == 0) {
			/* a checkpoint: nothing in flight, every block as acknowledged */
			uint64_t checked = 0;
			int bad = 0;

			if (check_lun(w->is, w->lun, &checked, &bad) < 0 || bad)
				w->bad = true;
			fprintf(stderr, "ack_writer: checkpoint %u: %" PRIu64 " blocks checked, %d bad\n",
			        ++checkpoints, checked, bad);
			unlink(check_file);
			continue;
		}

		for (unsigned i = 0; send && i < w->qd; i++) {
			struct slot *s = &w->slots[i];

			if (s->busy)
				continue;
			if (!s->retry)
				s->seq = w->next_seq++;
			if (submit(w, s) < 0) {
				w->gone = true;      /* no session to queue on any more */
				break;
			}
		}
		if (send)
			maybe_flush(w);
		if ((!more && !(pause && !w->gone && !w->bad) && w->inflight == 0) ||
		    now_ms() >= hard_end)
			break;
		pfd.fd = iscsi_get_fd(w->is);
		pfd.events = (short)iscsi_which_events(w->is);
		if (pfd.fd < 0 || poll(&pfd, 1, more && !send ? 20 : 200) < 0 ||
		    iscsi_service(w->is, pfd.revents) < 0) {
			w->gone = true;          /* the connection went with the target */
			if (w->soak) {
				fprintf(stderr, "ack_writer: the session was lost: %s\n",
				        iscsi_get_error(w->is));
				w->bad = true;
			}
			break;
		}
	}
	iscsi_destroy_context(w->is);    /* what was still in flight is cancelled */
	fclose(w->log);
	if (w->soak)
		fprintf(stderr, "ack_writer: soak: %" PRIu64 " writes acknowledged (%" PRIu64 " with FUA, "
		        "QD %u), %" PRIu64 " SYNCHRONIZE CACHE, retried: %" PRIu64 " NOT READY, %" PRIu64
		        " BUSY; %" PRIu64 " MEDIUM ERROR; session %s\n", w->acked, w->fua_acked, w->qd,
		        w->flushes, w->not_ready, w->busy, w->medium,
		        w->gone ? "LOST" : "stayed logged in");
	else
		fprintf(stderr, "ack_writer: %" PRIu64 " writes acknowledged (QD %u), %" PRIu64
		        " flushes%s\n", w->acked, w->qd, w->flushes,
		        w->gone ? ", then the target went away" : "");
	if (w->retry_mode)
		fprintf(stderr, "ack_writer: retried %" PRIu64 " answered NOT READY, %" PRIu64
		        " BUSY or TASK SET FULL\n", w->not_ready, w->busy);
	if (w->bad)
		return 1;
	return w->acked ? 0 : 2;
}

static int verified(uint64_t n, uint64_t checked, int bad, const char *how)
{
	fprintf(stderr, "ack_writer: %" PRIu64 " acknowledged writes, %" PRIu64 " LBAs checked %s, %d bad\n",
	        n, checked, how, bad);
	return bad || !checked ? 1 : 0;
}

static int do_verify(const char *url, const char *logpath)
{
	uint64_t n, checked = 0;
	int lun, bad = 0, rc;
	struct iscsi_context *is;

	if (load_log(logpath, &n) < 0)
		return 2;
	is = connect_url(url, &lun);
	if (!is)
		return 2;
	rc = check_lun(is, lun, &checked, &bad);
	iscsi_destroy_context(is);
	return rc < 0 ? 1 : verified(n, checked, bad, "through iSCSI");
}

static int do_verify_file(const char *image, const char *logpath)
{
	uint64_t lba, n, checked = 0;
	uint8_t buf[BLOCK];
	int fd, bad = 0;

	if (load_log(logpath, &n) < 0)
		return 2;
	fd = open(image, O_RDONLY);
	if (fd < 0) {
		perror(image);
		return 2;
	}
	for (lba = 0; lba < REGION; lba++) {
		if (!seen[lba])
			continue;
		if (pread(fd, buf, BLOCK, (off_t)(lba * BLOCK)) != BLOCK) {
			fprintf(stderr, "ack_writer: %s: short read at LBA %" PRIu64 "\n", image, lba);
			close(fd);
			return 1;
		}
		check_block(buf, lba, &bad);
		checked++;
	}
	close(fd);
	return verified(n, checked, bad, "in the file");
}

/* A login without the TEST UNIT READY of a full connect, which refuses a
 * LUN that is not ready: that answer is what sync wants to see. */
static struct iscsi_context *login_only(const char *url, int *lun)
{
	struct iscsi_context *is = iscsi_create_context(initiator);
	struct iscsi_url *u = is ? iscsi_parse_full_url(is, url) : NULL;

	if (!u) {
		fprintf(stderr, "ack_writer: bad URL %s\n", url);
		if (is)
			iscsi_destroy_context(is);
		return NULL;
	}
	iscsi_set_targetname(is, u->target);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 10);
	if (iscsi_connect_sync(is, u->portal) != 0 || iscsi_login_sync(is) != 0) {
		fprintf(stderr, "ack_writer: login to %s failed: %s\n", url, iscsi_get_error(is));
		iscsi_destroy_url(u);
		iscsi_destroy_context(is);
		return NULL;
	}
	*lun = u->lun;
	iscsi_destroy_url(u);
	return is;
}

/* One SYNCHRONIZE CACHE(10) of the whole LUN, its answer on stdout (a
 * UNIT ATTENTION first is taken and asked again). */
static int do_sync(const char *url)
{
	int lun, rc;
	struct iscsi_context *is = login_only(url, &lun);
	struct scsi_task *t;

	if (!is)
		return 2;
	t = iscsi_synchronizecache10_sync(is, lun, 0, 0, 0, 0);
	for (int i = 0; i < 4 && is_unit_attention(t); i++) {
		scsi_free_scsi_task(t);
		t = iscsi_synchronizecache10_sync(is, lun, 0, 0, 0, 0);
	}
	if (!t) {
		fprintf(stderr, "ack_writer: SYNCHRONIZE CACHE(10): %s\n", iscsi_get_error(is));
		iscsi_destroy_context(is);
		return 2;
	}
	if (t->status == SCSI_STATUS_GOOD) {
		printf("GOOD\n");
		rc = 0;
	} else if (t->status == SCSI_STATUS_CHECK_CONDITION) {
		printf("CHECK CONDITION %x/%02x/%02x\n", t->sense.key, t->sense.ascq >> 8,
		       t->sense.ascq & 0xff);
		rc = 3;
	} else {
		printf("status 0x%x\n", t->status);
		rc = 3;
	}
	scsi_free_scsi_task(t);
	iscsi_destroy_context(is);
	return rc;
}

int main(int argc, char **argv)
{
	const char *region = getenv("ACK_WRITER_REGION");

	if (region && (REGION = strtoull(region, NULL, 0)) == 0) {
		fprintf(stderr, "ack_writer: ACK_WRITER_REGION: not a number of blocks\n");
		return 2;
	}
	last = calloc(REGION, sizeof(*last));
	seen = calloc(REGION, sizeof(*seen));
	if (!last || !seen) {
		fprintf(stderr, "ack_writer: out of memory\n");
		return 2;
	}
	/* The target closes the connection at shutdown, maybe while libiscsi
	 * is writing to it: that is an error to handle, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 5 && argc <= 7 && strcmp(argv[1], "write") == 0) {
		int qd = argc >= 6 ? atoi(argv[5]) : 32;
		bool retry = argc == 7 && strcmp(argv[6], "retry") == 0;

		if (qd < 1 || qd > QD_MAX) {
			fprintf(stderr, "ack_writer: QD must be 1-%d\n", QD_MAX);
			return 2;
		}
		if (argc == 7 && !retry) {
			fprintf(stderr, "ack_writer: the 6th argument can only be \"retry\"\n");
			return 2;
		}
		return do_write(argv[2], argv[3], atoi(argv[4]), (unsigned)qd, retry, NULL);
	}
	if (argc == 7 && strcmp(argv[1], "soak") == 0) {
		int qd = atoi(argv[5]);

		if (qd < 1 || qd > QD_MAX) {
			fprintf(stderr, "ack_writer: QD must be 1-%d\n", QD_MAX);
			return 2;
		}
		return do_write(argv[2], argv[3], atoi(argv[4]), (unsigned)qd, false, argv[6]);
	}
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return do_verify(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "sync") == 0)
		return do_sync(argv[2]);
	if (argc == 4 && strcmp(argv[1], "verify-file") == 0)
		return do_verify_file(argv[2], argv[3]);
	fprintf(stderr, "usage: ack_writer write URL LOG SECONDS [QD [retry]] | ack_writer verify URL LOG |\n"
	                "       ack_writer verify-file IMAGE LOG | ack_writer sync URL |\n"
	                "       ack_writer soak URL LOG SECONDS QD STOPFILE\n");
	return 2;
}
