#include "session.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "verify.h"

/* --verify generation slots that cannot be checked. */
#define GEN_NONE 0u               /* never written in this run */
#define GEN_UNKNOWN UINT32_MAX    /* a write failed: content undefined */

/* Consecutive failed submits after which a session is declared dead, so a
 * broken connection cannot turn the loop into a busy spin. */
#define MAX_SUBMIT_FAILURES 1000u

/* Errors printed in full; the rest are only counted. */
#define MAX_ERRORS_PRINTED 5u

static _Atomic unsigned errors_printed;

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, good enough to spread LBAs, one state per session. */
static inline uint64_t rng_next(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t chunk_lba(const struct session *s, uint64_t k)
{
	return (s->chunk_base + k) * s->io_blocks;
}

static void print_error(const struct session *s, const struct slot *sl,
			int status, const struct scsi_task *task)
{
	if (atomic_fetch_add(&errors_printed, 1) >= MAX_ERRORS_PRINTED)
		return;
	if (status == SCSI_STATUS_CHECK_CONDITION && task)
		fprintf(stderr,
			"iscsi-load: session %u: %s LBA %llu: CHECK CONDITION sense key 0x%x (%s) ASC/ASCQ 0x%04x (%s)\n",
			s->index, sl->is_read ? "READ(16)" : "WRITE(16)",
			(unsigned long long)chunk_lba(s, sl->chunk),
			task->sense.key, scsi_sense_key_str(task->sense.key),
			task->sense.ascq, scsi_sense_ascq_str(task->sense.ascq));
	else
		fprintf(stderr, "iscsi-load: session %u: %s LBA %llu: status 0x%x: %s\n",
			s->index, sl->is_read ? "READ(16)" : "WRITE(16)",
			(unsigned long long)chunk_lba(s, sl->chunk), status,
			iscsi_get_error(s->iscsi));
}

static void io_done(struct iscsi_context *iscsi, int status,
		    void *command_data, void *private_data)
{
	(void)iscsi;
	struct slot *sl = private_data;
	struct scsi_task *task = command_data;
	struct session *s = sl->s;
	uint64_t t = now_ns();

	if (s->dead) {
		/* Cancelled by iscsi_destroy_context(); already counted lost. */
		if (task)
			scsi_free_scsi_task(task);
		return;
	}

	struct io_stats *st = s->stats;
	bool ok = status == SCSI_STATUS_GOOD && task &&
		  task->residual_status == SCSI_RESIDUAL_NO_RESIDUAL;
	if (!ok) {
		st->errors++;
		print_error(s, sl, status, task);
		if (s->gen && !sl->is_read)
			s->gen[sl->chunk] = GEN_UNKNOWN;
	} else {
		if (s->mode == MODE_TIMED &&
		    atomic_load_explicit(s->phase, memory_order_relaxed) == PHASE_MEASURE) {
			uint64_t lat = t - sl->t_submit_ns;
			if (sl->is_read) {
				st->reads++;
				st->read_bytes += s->opt->bs;
				hist_record(&st->lat_read, lat);
			} else {
				st->writes++;
				st->write_bytes += s->opt->bs;
				hist_record(&st->lat_write, lat);
			}
		}
		if (s->gen) {
			if (!sl->is_read) {
				s->gen[sl->chunk] = (uint32_t)sl->gen;
			} else if (sl->check) {
				uint32_t bad = verify_check(sl->buf, chunk_lba(s, sl->chunk),
							    s->io_blocks, s->block_size,
							    (s->run_tag << 32) | sl->gen);
				st->verified_blocks += s->io_blocks;
				if (bad) {
					if (st->mismatches == 0)
						fprintf(stderr, "iscsi-load: session %u: --verify: %u of %u blocks from LBA %llu do not hold the data last written\n",
							s->index, bad, s->io_blocks,
							(unsigned long long)chunk_lba(s, sl->chunk));
					st->mismatches += bad;
				}
			}
		}
	}
	if (s->busy)
		s->busy[sl->chunk] = 0;
	if (task)
		scsi_free_scsi_task(task);
	s->inflight--;
	s->last_progress_ns = t;
	s->free_stack[s->n_free++] = (unsigned)(sl - s->slots);
}

/* Returns false when libiscsi refused the command (it is then not in flight). */
static bool submit(struct session *s, bool is_read, uint64_t k, bool check)
{
	unsigned i = s->free_stack[--s->n_free];
	struct slot *sl = &s->slots[i];
	uint64_t lba = chunk_lba(s, k);
	uint32_t len = s->opt->bs;

	sl->is_read = is_read;
	sl->chunk = k;
	sl->check = check;
	sl->iov.iov_base = sl->buf;
	sl->iov.iov_len = len;
	if (s->gen) {
		if (is_read) {
			sl->gen = s->gen[k];
		} else {
			if (++s->write_counter == GEN_UNKNOWN)
				s->write_counter = 1;
			sl->gen = s->write_counter;
			verify_fill(sl->buf, lba, s->io_blocks, s->block_size,
				    (s->run_tag << 32) | sl->gen);
		}
		s->busy[k] = 1;
	}

	struct scsi_task *task;
	sl->t_submit_ns = now_ns();
	/* The _iov_ variants let libiscsi read Data-In straight into our buffer
	 * and send Data-Out straight from it: no copy inside the initiator. */
	if (is_read)
		task = iscsi_read16_iov_task(s->iscsi, s->lun, lba, len,
					     (int)s->block_size, 0, 0, 0, 0, 0,
					     io_done, sl, &sl->iov, 1);
	else
		task = iscsi_write16_iov_task(s->iscsi, s->lun, lba, NULL, len,
					      (int)s->block_size, 0, 0, 0, 0, 0,
					      io_done, sl, &sl->iov, 1);
	if (!task) {
		if (s->busy)
			s->busy[k] = 0;
		s->free_stack[s->n_free++] = i;
		return false;
	}
	if (s->inflight++ == 0)
		s->last_progress_ns = sl->t_submit_ns;
	return true;
}

/* A random chunk; under --verify one with nothing in flight (there are at
 * least 2 * qd chunks, so the probe is short). */
static uint64_t pick_random(struct session *s)
{
	uint64_t k = rng_next(&s->rng) % s->own_chunks;
	if (s->busy)
		while (s->busy[k])
			k = (k + 1 == s->own_chunks) ? 0 : k + 1;
	return k;
}

static uint64_t pick_seq(struct session *s)
{
	uint64_t k;
	do {
		k = s->cursor;
		s->cursor = (s->cursor + 1 == s->own_chunks) ? 0 : s->cursor + 1;
	} while (s->busy && s->busy[k]);
	return k;
}

void session_fill(struct session *s)
{
	const struct options *o = s->opt;
	while (!s->dead && s->n_free) {
		bool is_read, check = false;
		uint64_t k;
		switch (s->mode) {
		case MODE_TIMED:
			if (atomic_load_explicit(s->phase, memory_order_relaxed) == PHASE_STOP)
				return;
			if (o->rw == RW_READ)
				is_read = true;
			else if (o->rw == RW_WRITE)
				is_read = false;
			else
				is_read = rng_next(&s->rng) % 100 < o->mix_read_pct;
			k = o->pattern == PATTERN_SEQ ? pick_seq(s) : pick_random(s);
			check = s->gen && is_read && s->gen[k] != GEN_NONE &&
				s->gen[k] != GEN_UNKNOWN;
			break;
		case MODE_FILL:
			if (s->cursor >= s->own_chunks)
				return;
			k = s->cursor++;
			is_read = false;
			break;
		case MODE_READBACK:
			while (s->cursor < s->own_chunks &&
			       (s->gen[s->cursor] == GEN_NONE || s->gen[s->cursor] == GEN_UNKNOWN))
				s->cursor++;
			if (s->cursor >= s->own_chunks)
				return;
			k = s->cursor++;
			is_read = true;
			check = true;
			break;
		default:
			return;
		}
		if (!submit(s, is_read, k, check)) {
			s->stats->errors++;
			if (++s->submit_failures >= MAX_SUBMIT_FAILURES) {
				fprintf(stderr, "iscsi-load: session %u: libiscsi refuses new commands: %s\n",
					s->index, iscsi_get_error(s->iscsi));
				session_mark_dead(s);
			}
			return;
		}
		s->submit_failures = 0;
	}
}

bool session_mode_done(const struct session *s)
{
	if (s->dead)
		return true;
	if (s->mode == MODE_TIMED)
		return atomic_load_explicit(s->phase, memory_order_relaxed) == PHASE_STOP;
	if (s->mode == MODE_FILL)
		return s->cursor >= s->own_chunks;
	/* MODE_READBACK: done once no checkable chunk is left. */
	for (uint64_t k = s->cursor; k < s->own_chunks; k++)
		if (s->gen[k] != GEN_NONE && s->gen[k] != GEN_UNKNOWN)
			return false;
	return true;
}

void session_mark_dead(struct session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	/* Whatever was in flight will never complete: count it lost. */
	s->stats->errors += s->inflight;
	s->inflight = 0;
}

static int read_capacity(struct session *s)
{
	struct scsi_task *task = iscsi_readcapacity16_sync(s->iscsi, s->lun);
	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi-load: %s: READ CAPACITY(16) failed: %s\n",
			s->url, iscsi_get_error(s->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		return -1;
	}
	struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(task);
	if (!rc || rc->block_length < 512 || rc->block_length > (1u << 20)) {
		fprintf(stderr, "iscsi-load: %s: READ CAPACITY(16) returned no usable block length\n",
			s->url);
		scsi_free_scsi_task(task);
		return -1;
	}
	s->block_size = rc->block_length;
	s->lun_blocks = rc->returned_lba + 1;
	scsi_free_scsi_task(task);
	return 0;
}

int session_open(struct session *s, const struct options *o, unsigned index,
		 const char *url, unsigned share_idx, unsigned share_n)
{
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->url = url;
	s->opt = o;
	s->qd = o->qd;
	s->share_idx = share_idx;
	s->share_n = share_n;
	s->rng = splitmix(o->seed + index) | 1;
	s->run_tag = splitmix(o->seed) & 0xffffffffu;

	s->iscsi = iscsi_create_context(o->initiator_name);
	if (!s->iscsi) {
		fprintf(stderr, "iscsi-load: session %u: cannot create a libiscsi context\n", index);
		return -1;
	}
	struct iscsi_url *u = iscsi_parse_full_url(s->iscsi, url);
	if (!u) {
		fprintf(stderr, "iscsi-load: --url: '%s': %s\n", url, iscsi_get_error(s->iscsi));
		return -1;
	}
	/* Each session a distinct ISID (RFC 7143 §11.12.5): with the same
	 * initiator name and ISID a target would reinstate, i.e. kill, the
	 * previous session instead of adding one. */
	iscsi_set_isid_random(s->iscsi, (uint32_t)splitmix(o->seed ^ (0x5e55ull + index)) & 0xffffffu,
			      index);
	iscsi_set_targetname(s->iscsi, u->target);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->iscsi, o->header_digest ? ISCSI_HEADER_DIGEST_CRC32C
							     : ISCSI_HEADER_DIGEST_NONE);
	if (u->user[0])
		iscsi_set_initiator_username_pwd(s->iscsi, u->user, u->passwd);
	/* A benchmark must see a dropped connection, not hide it in a retry. */
	iscsi_set_noautoreconnect(s->iscsi, 1);
	s->lun = u->lun;
	if (iscsi_full_connect_sync(s->iscsi, u->portal, u->lun) != 0) {
		fprintf(stderr, "iscsi-load: %s: login failed: %s\n", url, iscsi_get_error(s->iscsi));
		iscsi_destroy_url(u);
		return -1;
	}
	iscsi_destroy_url(u);
	if (read_capacity(s))
		return -1;

	if (o->bs % s->block_size) {
		fprintf(stderr, "iscsi-load: --bs: %u is not a multiple of the LUN's %u-byte blocks\n",
			o->bs, s->block_size);
		return -1;
	}
	s->io_blocks = o->bs / s->block_size;
	uint64_t ws_blocks = s->lun_blocks;
	if (o->size) {
		if (o->size % s->block_size || o->size / s->block_size > s->lun_blocks) {
			fprintf(stderr, "iscsi-load: --size: %llu bytes is not whole blocks within the LUN (%llu x %u bytes)\n",
				(unsigned long long)o->size, (unsigned long long)s->lun_blocks,
				s->block_size);
			return -1;
		}
		ws_blocks = o->size / s->block_size;
	}
	uint64_t total = ws_blocks / s->io_blocks;
	uint64_t per = total / share_n;
	/* Contiguous ranges keep a sequential pattern sequential per session. */
	s->chunk_base = per * share_idx;
	s->own_chunks = share_idx + 1 == share_n ? total - s->chunk_base : per;
	if (s->own_chunks == 0 || (o->verify && s->own_chunks < 2ull * o->qd)) {
		fprintf(stderr, "iscsi-load: --size: working set of %llu x %u-byte I/Os is too small for %u session(s) at --qd %u%s\n",
			(unsigned long long)total, o->bs, share_n, o->qd,
			o->verify ? " with --verify (needs 2 x qd per session)" : "");
		return -1;
	}

	s->slots = calloc(o->qd, sizeof(*s->slots));
	s->free_stack = calloc(o->qd, sizeof(*s->free_stack));
	unsigned char *bufs = NULL;
	if (!s->slots || !s->free_stack ||
	    posix_memalign((void **)&bufs, 4096, (size_t)o->qd * o->bs)) {
		fprintf(stderr, "iscsi-load: session %u: out of memory for %u x %u-byte buffers\n",
			index, o->qd, o->bs);
		return -1;
	}
	s->bufs = bufs;
	for (unsigned i = 0; i < o->qd; i++) {
		struct slot *sl = &s->slots[i];
		sl->s = s;
		sl->buf = bufs + (size_t)i * o->bs;
		/* Touch every page now, and never send all-zero data that a
		 * target could shortcut. */
		verify_fill(sl->buf, i, s->io_blocks, s->block_size, 0);
		s->free_stack[i] = o->qd - 1 - i;
	}
	s->n_free = o->qd;
	if (o->verify) {
		s->gen = calloc(s->own_chunks, sizeof(*s->gen));
		s->busy = calloc(s->own_chunks, 1);
		if (!s->gen || !s->busy) {
			fprintf(stderr, "iscsi-load: session %u: out of memory for --verify tracking\n", index);
			return -1;
		}
	}
	return 0;
}

void session_close(struct session *s)
{
	if (s->iscsi) {
		if (!s->dead && iscsi_is_logged_in(s->iscsi))
			iscsi_logout_sync(s->iscsi);
		/* Late callbacks (cancelled tasks) must not touch the counters. */
		s->dead = true;
		iscsi_destroy_context(s->iscsi);
		s->iscsi = NULL;
	}
	free(s->bufs);
	free(s->slots);
	free(s->free_stack);
	free(s->gen);
	free(s->busy);
	s->bufs = NULL;
	s->slots = NULL;
	s->free_stack = NULL;
	s->gen = NULL;
	s->busy = NULL;
}
