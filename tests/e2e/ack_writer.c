/* SPDX-License-Identifier: MIT */
/*
 * A libiscsi client for the crash-consistency e2e test.
 *
 *   ack_writer write  URL LOG SECONDS   write blocks until the target goes
 *                                       away (or SECONDS pass), logging
 *                                       "LBA SEQ" after each GOOD status
 *   ack_writer verify URL LOG           read back every logged LBA; each must
 *                                       hold its last acknowledged write (or
 *                                       a later one to the same LBA)
 *
 * Writes go to REGION blocks round-robin; block SEQ holds the text record
 * "vstor-e2e lba=L seq=S" repeated, so a torn or stale block is visible.
 * Exit status: 0 ok, 1 verification failed, 2 usage / connection error.
 */
#include <inttypes.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK 512
#define REGION 4096u
#define RECORD 64   /* bytes per text record; 8 per block */

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
	struct iscsi_context *is = iscsi_create_context(initiator);
	if (!is)
		return NULL;
	struct iscsi_url *u = iscsi_parse_full_url(is, url);
	if (!u) {
		fprintf(stderr, "ack_writer: bad URL %s: %s\n", url, iscsi_get_error(is));
		iscsi_destroy_context(is);
		return NULL;
	}
	iscsi_set_targetname(is, u->target);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(is, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* A lost target must end the run, not be retried forever. */
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 10);
	if (iscsi_full_connect_sync(is, u->portal, u->lun) != 0) {
		fprintf(stderr, "ack_writer: login to %s failed: %s\n", url, iscsi_get_error(is));
		iscsi_destroy_url(u);
		iscsi_destroy_context(is);
		return NULL;
	}
	*lun = u->lun;
	iscsi_destroy_url(u);
	return is;
}

static bool is_unit_attention(struct scsi_task *t)
{
	return t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

static int do_write(const char *url, const char *logpath, int seconds)
{
	int lun;
	struct iscsi_context *is = connect_url(url, &lun);
	if (!is)
		return 2;
	FILE *log = fopen(logpath, "w");
	if (!log) {
		perror(logpath);
		return 2;
	}
	uint8_t buf[BLOCK];
	time_t end = time(NULL) + seconds;
	uint64_t seq, acked = 0;
	for (seq = 0; time(NULL) < end; seq++) {
		uint64_t lba = seq % REGION;
		fill(buf, lba, seq);
		struct scsi_task *t;
		int tries = 0;
		do {
			t = iscsi_write10_sync(is, lun, (uint32_t)lba, buf, BLOCK, BLOCK, 0, 0, 0, 0, 0);
			if (is_unit_attention(t)) {
				scsi_free_scsi_task(t);
				t = NULL;
				continue;
			}
			break;
		} while (++tries < 4);
		if (!t || t->status != SCSI_STATUS_GOOD) {
			/* Expected when the daemon shuts down under us. */
			if (t)
				scsi_free_scsi_task(t);
			break;
		}
		scsi_free_scsi_task(t);
		fprintf(log, "%" PRIu64 " %" PRIu64 "\n", lba, seq);
		fflush(log);
		acked++;
	}
	fclose(log);
	fprintf(stderr, "ack_writer: %" PRIu64 " writes acknowledged\n", acked);
	iscsi_destroy_context(is);
	return acked ? 0 : 2;
}

static int do_verify(const char *url, const char *logpath)
{
	static uint64_t last[REGION];
	static bool seen[REGION];
	FILE *log = fopen(logpath, "r");
	if (!log) {
		perror(logpath);
		return 2;
	}
	uint64_t lba, seq, n = 0;
	while (fscanf(log, "%" SCNu64 " %" SCNu64, &lba, &seq) == 2) {
		if (lba >= REGION)
			continue;
		last[lba] = seq;
		seen[lba] = true;
		n++;
	}
	fclose(log);

	int lun;
	struct iscsi_context *is = connect_url(url, &lun);
	if (!is)
		return 2;
	int bad = 0;
	uint64_t checked = 0;
	for (lba = 0; lba < REGION; lba++) {
		if (!seen[lba])
			continue;
		struct scsi_task *t;
		int tries = 0;
		do {
			t = iscsi_read10_sync(is, lun, (uint32_t)lba, BLOCK, BLOCK, 0, 0, 0, 0, 0);
			if (is_unit_attention(t)) {
				scsi_free_scsi_task(t);
				t = NULL;
				continue;
			}
			break;
		} while (++tries < 4);
		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size < BLOCK) {
			fprintf(stderr, "ack_writer: READ(10) LBA %" PRIu64 " failed: %s\n", lba,
			        iscsi_get_error(is));
			if (t)
				scsi_free_scsi_task(t);
			iscsi_destroy_context(is);
			return 1;
		}
		uint64_t got;
		/* A later, unacknowledged write to the same LBA may also have landed. */
		if (parse(t->datain.data, lba, &got) != 0 || got < last[lba] ||
		    (got - last[lba]) % REGION != 0) {
			if (bad++ < 10)
				fprintf(stderr, "ack_writer: LBA %" PRIu64 ": acknowledged seq %" PRIu64
				        " missing (block holds \"%.30s\")\n",
				        lba, last[lba], (const char *)t->datain.data);
		}
		checked++;
		scsi_free_scsi_task(t);
	}
	iscsi_destroy_context(is);
	fprintf(stderr, "ack_writer: %" PRIu64 " acknowledged writes, %" PRIu64 " LBAs checked, %d bad\n",
	        n, checked, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return do_verify(argv[2], argv[3]);
	fprintf(stderr, "usage: ack_writer write URL LOG SECONDS | ack_writer verify URL LOG\n");
	return 2;
}
