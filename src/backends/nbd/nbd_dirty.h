/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's dirty log: every change sent to the server that a
 * server FLUSH has not yet covered, in the order it was sent, with a copy
 * of the data it wrote, so that after a reconnect the changes can be sent
 * again ("replayed") before anything else.
 *
 * Why: vstor cannot tell a dropped connection from a server that crashed
 * and lost its volatile cache.  The NBD protocol promises durability only
 * for writes a later NBD_CMD_FLUSH covered ("all write commands ... that
 * the server has completed (replied to) prior to processing this command",
 * NBD protocol, "NBD_CMD_FLUSH"), so an acknowledged write stays here until
 * such a flush completed.
 *
 * Memory is reserved once (vs_dlog_init): a byte ring for the copies and a
 * fixed table of records.  Copies are allocated at the ring's head in log
 * order and space comes back from the tail in the same order, so a record
 * still waiting for a reply holds the space of everything logged after it
 * until it is answered (the request timeout bounds that).  When the ring or
 * the table is full, vs_dlog_add() says so and the caller sends a FLUSH.
 *
 * Replay keeps overlapping changes correct: records go out again in log
 * order, several at once, but a record waits while an earlier one that
 * overlaps it is still on its way (vs_dlog_replay_next).
 *
 * Pure bookkeeping: no I/O, no locks; the backend's one event loop owns it.
 */
#ifndef VSTOR_BACKEND_NBD_DIRTY_H
#define VSTOR_BACKEND_NBD_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#define DIRTY_NONE UINT32_MAX
#define DIRTY_MAX_WINDOW 64u

enum dirty_state {
	DR_FREE = 0,
	DR_SENT,        /* sent to the server, no reply yet */
	DR_ACKED,       /* the server replied: durable after the next flush */
	DR_LOST,        /* the connection went away: must be sent again */
	DR_REPLAYING,   /* sent again, no reply yet */
};

struct dirty_rec {
	uint64_t off, len;          /* the disk range it changes (bytes) */
	uint64_t start_pos;         /* ring position of its space (padding first) */
	uint64_t data_pos;          /* ring position of its data_len bytes */
	uint64_t ack_seq;           /* DR_ACKED: order of the server's reply */
	void *owner;                /* the request still waiting for it, or NULL */
	uint32_t data_len;
	uint32_t prev, next;        /* log order; DIRTY_NONE at the ends */
	uint8_t state;              /* enum dirty_state */
	uint8_t kind;               /* the caller's: what to send again */
	bool acknowledged;          /* its success was reported (the initiator relies on it) */
};

struct nbd_dirty {
	uint8_t *ring;
	uint64_t ring_size;
	uint64_t head_pos;          /* ring bytes ever handed out (positions never wrap) */
	struct dirty_rec *recs;
	uint32_t nrecs;
	uint32_t *free_ids;         /* stack of free record ids */
	uint32_t nfree;
	uint32_t first, last;       /* the log, oldest first */
	uint64_t ack_counter;
	uint64_t ack_bytes;         /* len of records acknowledged and not yet flushed */
	/* replay */
	uint32_t cursor;            /* next record to look at */
	uint32_t window;            /* at most this many replaying at once */
	uint32_t inflight[DIRTY_MAX_WINDOW];
	uint32_t ninflight;
};

/* Reserve ring_bytes of copies and max_records records; replay at most
 * `window` records at once (1..DIRTY_MAX_WINDOW).  0 or -ENOMEM/-EINVAL. */
int  vs_dlog_init(struct nbd_dirty *d, uint64_t ring_bytes, uint32_t max_records, uint32_t window);
void vs_dlog_fini(struct nbd_dirty *d);

/*
 * Log a change about to be sent: [off, off+len) of the disk, data_len
 * bytes of copy (0 for a trim or zeroing), `kind` for the caller.  The
 * record starts in DR_SENT with `owner`.  DIRTY_NONE when the ring or the
 * table is full (a flush frees space), or data_len is more than the ring
 * can ever hold.
 */
uint32_t vs_dlog_add(struct nbd_dirty *d, uint8_t kind, uint64_t off, uint64_t len,
                   uint32_t data_len, void *owner);
/* The record's copy (data_len bytes, contiguous). */
void *vs_dlog_data(struct nbd_dirty *d, uint32_t id);
static inline const struct dirty_rec *dlog_get(const struct nbd_dirty *d, uint32_t id)
{
	return &d->recs[id];
}
static inline void dlog_set_owner(struct nbd_dirty *d, uint32_t id, void *owner)
{
	d->recs[id].owner = owner;
}

/* The server replied to record id (first send or replay): it is covered
 * by the next flush sent from now on, and counts as acknowledged.
 * Returns the owner it had (which the caller now completes), clearing it. */
void *vs_dlog_acked(struct nbd_dirty *d, uint32_t id);
/* Call when sending a flush: the mark to pass to vs_dlog_flushed. */
static inline uint64_t dlog_flush_mark(const struct nbd_dirty *d)
{
	return d->ack_counter;
}
/* A flush sent with `mark` completed: free every record acknowledged by the
 * server before it was sent.  Returns how many were freed. */
uint32_t vs_dlog_flushed(struct nbd_dirty *d, uint64_t mark);
/* Give up one record (its request failed or was cancelled). */
void vs_dlog_drop(struct nbd_dirty *d, uint32_t id);

/* The connection went away: every record must go out again, oldest first. */
void vs_dlog_lost(struct nbd_dirty *d);
/* The next record to send again now, or DIRTY_NONE (the window is full,
 * the next one overlaps one still on its way, or nothing is left).  The
 * record moves to DR_REPLAYING. */
uint32_t vs_dlog_replay_next(struct nbd_dirty *d);
/* A replayed record was answered.  ok: as vs_dlog_acked (returns the owner).
 * Not ok: the record is dropped; returns its owner and sets *lost_bytes to
 * its len if it had been acknowledged (those bytes are lost), else 0. */
void *vs_dlog_replay_done(struct nbd_dirty *d, uint32_t id, bool ok, uint64_t *lost_bytes);
/* Nothing left to replay and nothing replaying. */
bool vs_dlog_replay_finished(const struct nbd_dirty *d);

/* Give up everything (the export changed, the backend closes without a
 * server).  Returns the bytes of acknowledged records given up; *records
 * (if not NULL) gets how many records that was. */
uint64_t vs_dlog_give_up(struct nbd_dirty *d, uint64_t *records);

/* ---- state for the caller's decisions and stats ---- */
static inline uint64_t dlog_ring_used(const struct nbd_dirty *d)
{
	return d->first == DIRTY_NONE ? 0 : d->head_pos - d->recs[d->first].start_pos;
}
static inline uint32_t dlog_count(const struct nbd_dirty *d)
{
	return d->nrecs - d->nfree;
}
/* Bytes acknowledged and not yet covered by a flush. */
static inline uint64_t dlog_ack_bytes(const struct nbd_dirty *d)
{
	return d->ack_bytes;
}
/* Half the ring or half the records in use: time to flush ahead of need. */
static inline bool dlog_want_flush(const struct nbd_dirty *d)
{
	return dlog_ring_used(d) * 2 >= d->ring_size || dlog_count(d) * 2 >= d->nrecs;
}
/* Records acknowledged and not flushed (the log needs a flush to shrink). */
static inline bool dlog_has_acked(const struct nbd_dirty *d)
{
	return d->ack_bytes > 0;
}

#endif
