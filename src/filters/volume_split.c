/* SPDX-License-Identifier: MIT */
/*
 * Splitting one request over the legs of a volume: see volume_split.h.
 *
 * A wave is planned in two passes over the request's bytes.  The first
 * walks the volume map from where the last wave ended, merges each extent
 * into the open piece of its leg when it continues it, counts the iovec
 * entries each piece needs (the caller's iovec cut at the extents), and
 * stops when the context is full; it records the extents it took.  The
 * second gives each piece a contiguous run of the context's iovec array
 * and fills it from the recorded extents.  Nothing is allocated and the
 * caller's iovec is never changed (a write may be sent again).
 *
 * Completion: the wave's counter starts at pieces + 1, the submitter
 * holding the extra count, so a piece that completes inline (a RAM leg)
 * never runs the next wave from inside the submit loop: whoever drops the
 * counter to zero plans the next wave or completes the original.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>

#include "volume_caps.h"
#include "volume_split.h"

/* One request below never carries more iovec entries than the kernel
 * takes in one preadv/pwritev (UIO_MAXIOV). */
#define PIECE_MAX_IOV 1024u
/* Room for the caller's iovec entries on top of the cuts (a fabric's
 * buffer is one or a few entries; more go down in more waves). */
#define CALLER_IOV    64u
#define MAX_IOV_CAP   4096u

struct piece {
	struct vs_bio bio;              /* the request to leg `leg` */
	size_t leg;
	uint32_t niov;                  /* pass 1: entries it needs */
	uint32_t fill;                  /* pass 2: entries filled */
};

struct extent {                         /* pass 1's record, for pass 2 */
	uint32_t piece;
	uint64_t length;
};

struct req {
	struct vsplit *s;
	struct vs_bio *parent;
	uint64_t planned;               /* bytes of the parent sent in earlier waves */
	int iov_idx;                    /* where `planned` is in the parent's iovec */
	size_t iov_off;
	bool first_wave;
	_Atomic uint32_t pending;
	_Atomic int err;
	uint32_t npieces;
	struct piece *pieces;           /* s->max_pieces */
	struct iovec *iov;              /* s->max_iov */
	struct extent *ext;             /* s->max_iov */
};

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

size_t vs_vsplit_init(struct vsplit *s, uint64_t chunk)
{
	uint64_t cuts = chunk ? VSPLIT_PLAN_BYTES / chunk + 1 : s->nlegs;
	uint64_t iov = cuts + 2 * s->nlegs + CALLER_IOV;

	s->max_iov = (uint32_t)(iov < MAX_IOV_CAP ? iov : MAX_IOV_CAP);
	/* a cut the iovec forces falls where every leg can take it */
	s->block = 512;
	for (size_t i = 0; i < s->nlegs; i++) {
		struct vs_backend_caps c;

		vs_layer_lower_caps(s->self, i, &c);
		if (c.logical_block_size > s->block)
			s->block = c.logical_block_size;
	}
	/* a piece per leg, one more per leg for a wave that starts and ends
	 * on the same leg, and the pieces that the per-request iovec limit
	 * cuts off */
	s->max_pieces = (uint32_t)(2 * s->nlegs + s->max_iov / PIECE_MAX_IOV + 1);
	return align16(sizeof(struct req)) + align16(s->max_pieces * sizeof(struct piece)) +
	       align16(s->max_iov * sizeof(struct iovec)) + s->max_iov * sizeof(struct extent);
}

static struct req *req_init(struct vsplit *s, struct vs_bio *bio, void *ctx)
{
	struct req *r = ctx;
	uint8_t *p = (uint8_t *)ctx + align16(sizeof(*r));

	r->s = s;
	r->parent = bio;
	r->planned = 0;
	r->iov_idx = 0;
	r->iov_off = 0;
	r->first_wave = true;
	atomic_init(&r->err, 0);
	r->pieces = (struct piece *)p;
	p += align16(s->max_pieces * sizeof(struct piece));
	r->iov = (struct iovec *)p;
	p += align16(s->max_iov * sizeof(struct iovec));
	r->ext = (struct extent *)p;
	return r;
}

static bool has_data(const struct vs_bio *bio)
{
	return bio->op == VS_BIO_READ || bio->op == VS_BIO_WRITE;
}

/*
 * How many of `want` bytes from iovec position (idx, off) fit in `room`
 * entries; *entries: how many they take.  Stops at the end of the iovec.
 */
static uint64_t iov_fit(const struct vs_bio *bio, int idx, size_t off, uint64_t want,
                        uint32_t room, uint32_t *entries)
{
	uint64_t got = 0;

	*entries = 0;
	while (got < want && idx < bio->iovcnt && *entries < room) {
		uint64_t here = bio->iov[idx].iov_len - off;

		if (here == 0) {
			idx++;
			off = 0;
			continue;
		}
		if (here > want - got)
			here = want - got;
		got += here;
		(*entries)++;
		idx++;
		off = 0;
	}
	return got;
}

static void iov_advance(const struct vs_bio *bio, int *idx, size_t *off, uint64_t n)
{
	while (n) {
		uint64_t here = bio->iov[*idx].iov_len - *off;

		if (here > n) {
			*off += n;
			return;
		}
		n -= here;
		(*idx)++;
		*off = 0;
	}
}

/* The open piece of `leg` that this extent continues, or a new one;
 * UINT32_MAX when the wave has no room for another. */
static uint32_t piece_for(struct req *r, const struct vsplit_extent *e, uint32_t need_iov,
                          uint32_t *last)
{
	struct vsplit *s = r->s;
	uint32_t i = last[e->leg];

	if (i != UINT32_MAX) {
		struct piece *p = &r->pieces[i];

		if (p->bio.offset + p->bio.length == e->leg_offset &&
		    p->niov + need_iov <= PIECE_MAX_IOV)
			return i;
	}
	if (r->npieces == s->max_pieces)
		return UINT32_MAX;
	i = r->npieces++;
	r->pieces[i] = (struct piece){
		.bio = { .op = r->parent->op, .flags = r->parent->flags, .offset = e->leg_offset },
		.leg = e->leg,
	};
	last[e->leg] = i;
	return i;
}

/*
 * Pass 1: plan the next wave from r->planned and move r->planned past it;
 * returns the extents taken (0: nothing fits, which only a caller's iovec
 * of entries smaller than a block can cause).  Extents are recorded for
 * pass 2 only when there is data to gather.
 */
static uint32_t plan(struct req *r)
{
	struct vsplit *s = r->s;
	struct vs_bio *bio = r->parent;
	bool data = has_data(bio);
	uint32_t last[VSPLIT_MAX_LEGS], next_iov = 0, next_ext = 0;
	uint64_t pos = r->planned;
	int idx = r->iov_idx;
	size_t off = r->iov_off;

	for (size_t i = 0; i < s->nlegs; i++)
		last[i] = UINT32_MAX;
	r->npieces = 0;
	while (pos < bio->length && (!data || next_ext < s->max_iov)) {
		struct vsplit_extent e;
		uint64_t len;
		uint32_t entries = 0, p;

		s->map(s->vol, bio->offset + pos, &e);
		len = e.length < bio->length - pos ? e.length : bio->length - pos;
		if (data) {
			uint32_t room = s->max_iov - next_iov;
			uint64_t fit;

			if (room > PIECE_MAX_IOV)
				room = PIECE_MAX_IOV;
			fit = iov_fit(bio, idx, off, len, room, &entries);
			if (fit < len) {
				/* cut where a block ends, inside what fits */
				len = fit - fit % s->block;
				if (len == 0)
					break;
				iov_fit(bio, idx, off, len, room, &entries);
			}
		}
		p = piece_for(r, &e, entries, last);
		if (p == UINT32_MAX)
			break;
		r->pieces[p].bio.length += len;
		r->pieces[p].niov += entries;
		if (data) {
			r->ext[next_ext] = (struct extent){ p, len };
			iov_advance(bio, &idx, &off, len);
		}
		next_ext++;
		next_iov += entries;
		pos += len;
	}
	r->planned = pos;
	return next_ext;
}

/* Pass 2: each piece's iovec, contiguous in the context's array. */
static void fill(struct req *r, uint32_t next_ext)
{
	struct vs_bio *bio = r->parent;
	uint32_t at = 0;

	for (uint32_t i = 0; i < r->npieces; i++) {
		struct piece *p = &r->pieces[i];

		p->bio.iov = &r->iov[at];
		p->bio.iovcnt = (int)p->niov;
		p->fill = 0;
		at += p->niov;
	}
	for (uint32_t k = 0; k < next_ext; k++) {
		struct piece *p = &r->pieces[r->ext[k].piece];
		uint64_t left = r->ext[k].length;

		while (left) {
			struct iovec *src = &bio->iov[r->iov_idx];
			uint64_t here = src->iov_len - r->iov_off;

			if (here == 0) {
				r->iov_idx++;
				r->iov_off = 0;
				continue;
			}
			if (here > left)
				here = left;
			p->bio.iov[p->fill++] = (struct iovec){ (char *)src->iov_base + r->iov_off,
			                                        (size_t)here };
			left -= here;
			iov_advance(bio, &r->iov_idx, &r->iov_off, here);
		}
	}
}

/* FLUSH: one to every leg. */
static void plan_flush(struct req *r)
{
	struct vsplit *s = r->s;

	r->npieces = (uint32_t)s->nlegs;
	for (size_t i = 0; i < s->nlegs; i++)
		r->pieces[i] = (struct piece){
			.bio = { .op = VS_BIO_FLUSH, .flags = r->parent->flags }, .leg = i };
	r->planned = r->parent->length;
}

static void note_err(struct req *r, int err)
{
	int none = 0;

	if (err)
		atomic_compare_exchange_strong(&r->err, &none, err);
}

static void run(struct req *r);

static void piece_done(struct vs_bio *bio, int err)
{
	struct req *r = bio->ctx;

	note_err(r, err);
	if (atomic_fetch_sub_explicit(&r->pending, 1, memory_order_acq_rel) == 1)
		run(r);
}

/* The wave is back: the next one, or the end. */
static bool more(struct req *r)
{
	int err = atomic_load(&r->err);

	if (err || r->planned >= r->parent->length) {
		vs_bio_complete(r->parent, err);
		return false;
	}
	return true;
}

/*
 * Plan and send waves until one is still out (its last piece goes on from
 * piece_done) or the request is complete.  First wave only: a refusal of
 * the first piece, before anything went down, is returned (the caller's
 * bio then does not complete), so -EAGAIN reaches the disk above as BUSY.
 */
static int wave(struct req *r)
{
	struct vsplit *s = r->s;

	for (;;) {
		uint32_t n;

		if (r->parent->op == VS_BIO_FLUSH) {
			plan_flush(r);
		} else {
			uint32_t next_ext = plan(r);

			if (next_ext == 0) {
				if (r->first_wave)
					return -EINVAL;
				vs_bio_complete(r->parent, -EINVAL);
				return 0;
			}
			if (has_data(r->parent))
				fill(r, next_ext);
		}
		n = r->npieces;
		atomic_store_explicit(&r->pending, n + 1, memory_order_release);
		for (uint32_t i = 0; i < n; i++) {
			struct piece *p = &r->pieces[i];
			int rc;

			p->bio.done = piece_done;
			p->bio.ctx = r;
			rc = vs_layer_submit(s->self, p->leg, &p->bio);
			if (rc < 0) {
				if (i == 0 && r->first_wave)
					return rc;
				note_err(r, rc);
				atomic_fetch_sub_explicit(&r->pending, 1, memory_order_relaxed);
			}
		}
		r->first_wave = false;
		if (atomic_fetch_sub_explicit(&r->pending, 1, memory_order_acq_rel) != 1)
			return 0;
		if (!more(r))
			return 0;
	}
}

static void run(struct req *r)
{
	if (more(r))
		wave(r);
}

int vs_vsplit_submit(struct vsplit *s, struct vs_bio *bio, void *ctx)
{
	struct req *r;

	if (bio->op != VS_BIO_FLUSH && bio->length == 0) {
		vs_bio_complete(bio, 0);
		return 0;
	}
	if (has_data(bio) && (!bio->iov || bio->iovcnt <= 0))
		return -EINVAL;
	r = req_init(s, bio, ctx);
	return wave(r);
}

/* ---- queries through the map ---- */

int vs_vsplit_block_status(struct vsplit *s, uint64_t offset, uint64_t len, bool *mapped,
                        uint64_t *extent_len)
{
	struct vsplit_extent e;
	int rc;

	s->map(s->vol, offset, &e);
	if (len > e.length)
		len = e.length;
	if (!vs_layer_lower_has_block_status(s->self, e.leg)) {
		/* a leg that cannot tell is fully provisioned */
		*mapped = true;
		*extent_len = len;
		return 0;
	}
	rc = vs_layer_lower_block_status(s->self, e.leg, e.leg_offset, len, mapped, extent_len);
	if (rc == 0 && *extent_len > len)
		*extent_len = len;
	return rc;
}

void vs_vsplit_caps(struct vsplit *s, struct vs_backend_caps *caps)
{
	vs_volume_caps(s->self, s->nlegs, caps);
}
