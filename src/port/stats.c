/* SPDX-License-Identifier: MIT */
/*
 * Per-LUN statistics: operations and bytes by direction (classified by
 * operation code), errors, and a log2 latency histogram.  Each queue (the
 * LUN's task set of one nexus) keeps its own shard under the lock the I/O
 * path holds anyway; a read adds the shards up, one queue lock at a time.
 *
 * A command is a read or a write by what it does to the medium; its bytes
 * are the data moved with the initiator (data-in for reads, data-out for
 * writes).  So COMPARE AND WRITE is a write of its whole data-out (verify
 * and write data, SBC-3 5.3), WRITE SAME a write of its one block of
 * data-out (or none with NDOB) whatever range it fills, and VERIFY,
 * UNMAP, PRE-FETCH and the rest are "other".
 */
#include <errno.h>
#include <string.h>

#include "port_int.h"

enum op_class { OP_OTHER, OP_READ, OP_WRITE };

static enum op_class classify(uint8_t op)
{
	switch (op) {
	case READ_6: case READ_10: case READ_12: case READ_16:
		return OP_READ;
	case WRITE_6: case WRITE_10: case WRITE_12: case WRITE_16:
	case WRITE_AND_VERIFY_10: case WRITE_AND_VERIFY_12: case WRITE_AND_VERIFY_16:
	case COMPARE_AND_WRITE:                 /* SBC-3 5.3 */
	case WRITE_SAME_10: case WRITE_SAME_16: /* SBC-3 5.41, 5.42 */
	case ORWRITE_16:                        /* SBC-4 5.13 */
	case WRITE_ATOMIC_16:                   /* SBC-4 5.48 */
		return OP_WRITE;
	default:
		return OP_OTHER;
	}
}

static unsigned lat_bucket(uint64_t us)
{
	/* bucket i holds latencies < 2^i us (and >= 2^(i-1)) */
	unsigned b = us ? 64u - (unsigned)__builtin_clzll(us) : 0u;
	return b < VS_LAT_BUCKETS ? b : VS_LAT_BUCKETS - 1;
}

void vs_stats_account(struct vs_lun_stats *st, const struct vs_srb *srb, uint64_t lat_ns)
{
	bool good = srb->srb_status == VS_SRB_SUCCESS && srb->scsi_status == SAM_STAT_GOOD;

	switch (classify(srb->cdb[0])) {
	case OP_READ:
		st->read_ops++;
		if (good)
			st->read_bytes += srb->xfer_len;
		break;
	case OP_WRITE:
		st->write_ops++;
		if (good)
			st->write_bytes += srb->xfer_len ? srb->xfer_len
			                 : srb->data_length - ((srb->resid_flags & VS_RESID_UNDERFLOW)
			                                       ? srb->residual : 0);
		break;
	default:
		st->other_ops++;
		break;
	}
	if (srb->scsi_status == SAM_STAT_CHECK_CONDITION && srb->sense_len >= 3) {
		struct vs_sense s;

		if (!vs_sense_parse(srb->sense, srb->sense_len, &s)) {
			st->errors++;   /* counted, but under no key */
		} else if (s.key != SENSE_UNIT_ATTENTION) {
			st->errors++;
			st->errors_by_key[s.key & 0x0f]++;
		}
	}
	/* aborted without status, or with TASK ABORTED for another nexus's
	 * abort (TAS=1, see vs_srb_apply_verdict) */
	if (srb->srb_status == VS_SRB_ABORTED ||
	    (srb->srb_status == VS_SRB_SUCCESS && srb->scsi_status == SAM_STAT_TASK_ABORTED))
		st->aborts++;
	if (srb->srb_status == VS_SRB_TIMEOUT)
		st->timeouts++;
	if (srb->srb_status == VS_SRB_SUCCESS && srb->scsi_status == SAM_STAT_RESERVATION_CONFLICT)
		st->reservation_conflicts++;
	st->latency_us_hist[lat_bucket(lat_ns / 1000)]++;
	st->latency_ns_sum += lat_ns;
}

void vs_queue_account_locked(struct port_queue *q, struct vs_srb *srb, uint64_t now_ns)
{
	uint64_t lat = now_ns > srb->priv.start_ns ? now_ns - srb->priv.start_ns : 0;

	vs_stats_account(&q->st, srb, lat);
}

static void stats_add(struct vs_lun_stats *to, const struct vs_lun_stats *from)
{
	to->read_ops += from->read_ops;
	to->write_ops += from->write_ops;
	to->other_ops += from->other_ops;
	to->read_bytes += from->read_bytes;
	to->write_bytes += from->write_bytes;
	to->errors += from->errors;
	to->timeouts += from->timeouts;
	to->aborts += from->aborts;
	to->busy += from->busy;
	to->task_set_full += from->task_set_full;
	for (unsigned i = 0; i < 16; i++)
		to->errors_by_key[i] += from->errors_by_key[i];
	to->reservation_conflicts += from->reservation_conflicts;
	for (unsigned i = 0; i < VS_LAT_BUCKETS; i++)
		to->latency_us_hist[i] += from->latency_us_hist[i];
	to->latency_ns_sum += from->latency_ns_sum;
}

static void add_queue(struct port_queue *q, void *out)
{
	struct vs_lun_stats *st = out;

	stats_add(st, &q->st);
	st->in_flight += q->in_flight;
	st->held += q->held.n;
}

int vs_port_lun_stats(struct vs_port *port, uint64_t lun_nr, struct vs_lun_stats *out)
{
	struct vs_port_lun *lun;

	if (!port_arg(port, "lun_stats: port") || !port_arg(out, "lun_stats: out"))
		return -EINVAL;
	lun = port_lun_slot(port, lun_nr);
	if (!lun || atomic_load(&lun->state) == LUN_ABSENT) {
		vs_set_error("lun: %llu does not exist", (unsigned long long)lun_nr);
		return -ENOENT;
	}
	memset(out, 0, sizeof(*out));
	vs_lun_each_queue(lun, add_queue, out);
	/* depth: set when the LUN was added (read under a queue lock) */
	pthread_mutex_lock(&lun->defq->lock);
	out->queue_depth = lun->depth;
	pthread_mutex_unlock(&lun->defq->lock);
	out->resets = atomic_load(&lun->resets);
	return 0;
}

uint64_t vs_lun_stats_percentile_us(const struct vs_lun_stats *s, double p)
{
	uint64_t total = 0, want, cum = 0;

	if (!port_arg(s, "percentile: stats"))
		return 0;
	for (unsigned i = 0; i < VS_LAT_BUCKETS; i++)
		total += s->latency_us_hist[i];
	if (total == 0)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	want = (uint64_t)((p / 100.0) * (double)total + 0.999999);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < VS_LAT_BUCKETS; i++) {
		cum += s->latency_us_hist[i];
		if (cum >= want)
			return 1ull << i;       /* the bucket's upper bound */
	}
	return 1ull << (VS_LAT_BUCKETS - 1);
}
