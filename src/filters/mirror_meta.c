/* SPDX-License-Identifier: MIT */
/*
 * The mirror's map file: where the in-flight bits and each leg's behind
 * bits and state survive a crash.
 *
 * Why a small file of its own and not a header on the legs: the legs stay
 * byte for byte the volume (a leg is usable alone, and two legs in sync
 * compare equal with cmp), no leg loses capacity, and an update — one on
 * the first write to each idle region — costs a local write, not a round
 * trip to a remote leg, which might be the one that is gone.  If the file
 * is lost, the next start copies every leg from the first (a full
 * resync), which is safe.
 *
 * Format: two copies of [header | in-flight bits | leg 0's behind bits |
 * leg 1's | ...], each in whole 4 KiB pages; an update writes the copy the
 * previous one did not, with the next sequence number and a checksum, so
 * a crash in the middle of one leaves the other intact: loading takes the
 * valid copy with the highest sequence number.
 *
 * The file is written through the block layer's own file backend (opened
 * with dsync=1, so an update is durable when its write completes, and
 * inline=0, so completions come on the backend's thread, never inside the
 * caller's submit): asynchronous, no thread of the mirror's own.  An
 * update carries every change made before it started (`gen`); requests
 * that need a change on disk wait until `durable_gen` reaches it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_int.h"

#define MAGIC   "VSMIRROR"
#define VERSION 1u

struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t nlegs;
	uint64_t seq;
	uint64_t region;
	uint64_t size;
	uint64_t nregions;
	uint8_t leg_state[MIRROR_MAX_LEGS];
	uint64_t sum;           /* FNV-1a 64 of the copy with this field 0 */
};

/* FNV-1a over 64-bit words: a torn or stale page is caught (not an
 * adversary: the file is the daemon's own). */
static uint64_t checksum(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

/* ---- synchronous I/O on the file (open, close) ---- */

struct sync_io {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void sync_done(struct vs_bio *bio, int err)
{
	struct sync_io *s = bio->ctx;

	pthread_mutex_lock(&s->mu);
	s->err = err;
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int sync_rw(struct vs_bdev *f, uint8_t op, uint64_t off, void *buf, size_t len)
{
	struct sync_io s = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct iovec iov = { buf, len };
	struct vs_bio bio = { .op = op, .offset = off, .length = len, .iov = &iov, .iovcnt = 1,
	                      .done = sync_done, .ctx = &s };
	int rc = vs_bdev_submit(f, &bio);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s.mu);
	while (!s.done)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	return s.err;
}

/* ---- the image ---- */

static struct hdr *hdr_of(uint8_t *img)
{
	return (struct hdr *)img;
}

/* The image as it is now, into m->meta.io (the lock is held: leg states
 * and in-flight bits do not move; behind bits are read word by word). */
static void snapshot(struct mirror *m)
{
	struct meta *mt = &m->meta;
	struct hdr *h = hdr_of(mt->io);
	_Atomic uint64_t *src = (_Atomic uint64_t *)(mt->img + MIRROR_HDR_BYTES);
	uint64_t *dst = (uint64_t *)(mt->io + MIRROR_HDR_BYTES);
	size_t words = (size_t)m->words * (1 + m->nlegs);

	memset(mt->io, 0, MIRROR_HDR_BYTES);
	memcpy(h->magic, MAGIC, 8);
	h->version = VERSION;
	h->nlegs = (uint32_t)m->nlegs;
	h->seq = ++mt->seq;
	h->region = m->region;
	h->size = m->size;
	h->nregions = m->nregions;
	for (size_t i = 0; i < m->nlegs; i++) {
		uint8_t s = leg_state(m, i);

		/* a leg being replaced is behind everywhere already */
		h->leg_state[i] = s == LEG_DETACHED ? LEG_DEGRADED : s;
	}
	for (size_t w = 0; w < words; w++)
		dst[w] = atomic_load_explicit(&src[w], memory_order_relaxed);
	memset(mt->io + MIRROR_HDR_BYTES + words * 8, 0,
	       mt->slot - MIRROR_HDR_BYTES - words * 8);
	h->sum = checksum(mt->io, mt->slot);
}

static void update_done(struct vs_bio *bio, int err)
{
	struct mirror *m = bio->ctx;
	struct meta *mt = &m->meta;
	bool again;

	(void)bio;
	pthread_mutex_lock(&m->lock);
	mt->in_flight = false;
	if (err) {
		/* the regions go back to waiting for the next update */
		mt->io_err = err;
		for (uint64_t i = 0; i < mt->nflush; i++) {
			atomic_store(&m->wstate[mt->flush_list[i]], W_SET);
			mt->set_list[mt->nset++] = mt->flush_list[i];
		}
		mt->want = true;
		again = false;          /* the tick tries again */
	} else {
		mt->io_err = 0;
		for (uint64_t i = 0; i < mt->nflush; i++)
			atomic_store(&m->wstate[mt->flush_list[i]], W_DURABLE);
		atomic_store_explicit(&mt->durable_gen, mt->writing_gen, memory_order_release);
		again = mt->want;
	}
	mt->nflush = 0;
	pthread_cond_broadcast(&mt->done);
	pthread_mutex_unlock(&m->lock);
	if (err)
		vs_mirror_log(m, "mirror: the map file cannot be written (%s); writes to idle regions "
		        "wait until it can", strerror(-err));
	m->release_waiters(m);
	if (again)
		vs_meta_kick(m);
}

uint64_t vs_meta_changed(struct mirror *m)
{
	m->meta.want = true;
	return ++m->meta.gen;
}

void vs_meta_kick(struct mirror *m)
{
	struct meta *mt = &m->meta;
	uint64_t *swap;
	int rc;

	pthread_mutex_lock(&m->lock);
	if (!mt->want || mt->in_flight || !mt->file) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	mt->want = false;
	mt->in_flight = true;
	mt->writing_gen = mt->gen;
	/* the regions asked for so far ride this update */
	swap = mt->flush_list;
	mt->flush_list = mt->set_list;
	mt->set_list = swap;
	mt->nflush = mt->nset;
	mt->nset = 0;
	for (uint64_t i = 0; i < mt->nflush; i++)
		atomic_store(&m->wstate[mt->flush_list[i]], W_FLUSHING);
	snapshot(m);
	mt->iov = (struct iovec){ mt->io, mt->slot };
	mt->bio = (struct vs_bio){ .op = VS_BIO_WRITE, .offset = (mt->seq % 2) * mt->slot,
	                           .length = mt->slot, .iov = &mt->iov, .iovcnt = 1,
	                           .done = update_done, .ctx = m };
	pthread_mutex_unlock(&m->lock);
	rc = vs_bdev_submit(mt->file, &mt->bio);
	if (rc < 0)
		update_done(&mt->bio, rc);
}

int vs_meta_sync(struct mirror *m)
{
	struct meta *mt = &m->meta;
	uint64_t g;
	int err = 0;

	pthread_mutex_lock(&m->lock);
	g = vs_meta_changed(m);
	pthread_mutex_unlock(&m->lock);
	vs_meta_kick(m);
	pthread_mutex_lock(&m->lock);
	while (!meta_durable(m, g)) {
		if (!mt->in_flight && mt->io_err) {
			err = mt->io_err;
			break;
		}
		if (!mt->in_flight) {
			pthread_mutex_unlock(&m->lock);
			vs_meta_kick(m);
			pthread_mutex_lock(&m->lock);
			continue;
		}
		pthread_cond_wait(&mt->done, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

/* ---- open ---- */

static bool copy_valid(const struct mirror *m, uint8_t *p, size_t slot)
{
	struct hdr *h = hdr_of(p);
	uint64_t sum = h->sum;
	bool ok;

	if (memcmp(h->magic, MAGIC, 8) != 0 || h->version != VERSION)
		return false;
	h->sum = 0;
	ok = checksum(p, slot) == sum;
	h->sum = sum;
	(void)m;
	return ok;
}

/* A map made for another shape of mirror is refused, not guessed at. */
static int check_shape(struct mirror *m, const char *path, const struct hdr *h)
{
	if (h->nlegs == m->nlegs && h->region == m->region && h->size == m->size &&
	    h->nregions == m->nregions)
		return 0;
	vs_set_error("meta: '%s' is the map of another mirror (%" PRIu32 " legs, %" PRIu64
	             " bytes, region %" PRIu64 "; this one: %zu legs, %" PRIu64 " bytes, region "
	             "%" PRIu64 "); remove it to start over with a full copy of every leg", path,
	             h->nlegs, h->size, h->region, m->nlegs, m->size, m->region);
	return -EINVAL;
}

/* After a crash: where writes may have been in flight the legs may
 * differ; the first leg in sync is the source, the others are behind
 * there.  The in-flight bits are then clear (the next update says so). */
static void recover(struct mirror *m)
{
	size_t src = m->nlegs;

	for (size_t i = 0; i < m->nlegs && src == m->nlegs; i++)
		if (leg_state(m, i) == LEG_IN_SYNC)
			src = i;
	if (src == m->nlegs) {
		/* no leg was in sync: the first that is not gone serves */
		for (size_t i = 0; i < m->nlegs && src == m->nlegs; i++)
			if (leg_state(m, i) != LEG_FAILED)
				src = i;
		if (src == m->nlegs)
			src = 0;
		atomic_store(&m->leg[src].state, LEG_IN_SYNC);
		vs_mirror_log(m, "mirror: no leg was in sync when it stopped; leg %zu is taken as the "
		        "source", src);
	}
	for (uint64_t r = 0; r < m->nregions; r++) {
		if (!vs_map_test(m->wbits, r))
			continue;
		for (size_t i = 0; i < m->nlegs; i++)
			if (i != src)
				vs_map_behind(m, i, r, r);
		vs_map_clear(m->wbits, r);
	}
	/* legs that were degraded or being copied are tried again */
	for (size_t i = 0; i < m->nlegs; i++) {
		uint8_t s = leg_state(m, i);

		if (s == LEG_DEGRADED || (s == LEG_IN_SYNC && atomic_load(&m->leg[i].behind)))
			atomic_store(&m->leg[i].state, LEG_RESYNCING);
	}
}

static void load(struct mirror *m, const uint8_t *from)
{
	const struct hdr *h = (const struct hdr *)from;
	_Atomic uint64_t *dst = (_Atomic uint64_t *)(m->meta.img + MIRROR_HDR_BYTES);
	const uint64_t *src = (const uint64_t *)(from + MIRROR_HDR_BYTES);

	m->meta.seq = h->seq;
	for (size_t w = 0; w < m->words * (1 + m->nlegs); w++)
		atomic_store(&dst[w], src[w]);
	for (size_t i = 0; i < m->nlegs; i++) {
		uint8_t s = h->leg_state[i];

		atomic_store(&m->leg[i].state, s <= LEG_FAILED ? s : LEG_DEGRADED);
		atomic_store(&m->leg[i].behind, vs_map_count(m, m->leg[i].bits));
		atomic_store(&m->leg[i].rs_total, atomic_load(&m->leg[i].behind));
	}
}

int vs_meta_open(struct mirror *m, const char *path, bool assume_clean)
{
	struct meta *mt = &m->meta;
	size_t words = (size_t)m->words * (1 + m->nlegs);
	char size[32];
	struct vs_kv kv[] = { { "path", path }, { "create", "1" }, { "size", size },
	                      { "dsync", "1" }, { "inline", "0" }, { "rings", "1" } };
	uint8_t *copies;
	int best = -1, rc;

	mt->slot = (MIRROR_HDR_BYTES + words * 8 + 4095) & ~(size_t)4095;
	pthread_cond_init(&mt->done, NULL);
	mt->img = aligned_alloc(4096, mt->slot);
	mt->io = aligned_alloc(4096, mt->slot);
	mt->set_list = calloc(m->nregions, sizeof(uint64_t));
	mt->flush_list = calloc(m->nregions, sizeof(uint64_t));
	copies = aligned_alloc(4096, 2 * mt->slot);
	if (!mt->img || !mt->io || !mt->set_list || !mt->flush_list || !copies) {
		free(copies);
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	memset(mt->img, 0, mt->slot);
	m->wbits = (_Atomic uint64_t *)(mt->img + MIRROR_HDR_BYTES);
	for (size_t i = 0; i < m->nlegs; i++)
		m->leg[i].bits = m->wbits + m->words * (1 + i);

	snprintf(size, sizeof(size), "%zu", 2 * mt->slot);
	mt->file = vs_bdev_open("file", kv, sizeof(kv) / sizeof(kv[0]));
	if (!mt->file) {
		char why[400];

		snprintf(why, sizeof(why), "%s", vs_last_error());
		free(copies);
		/* "file: path: ..." → "meta: ..." */
		vs_set_error("meta: %s", strncmp(why, "file: path: ", 12) ? why : why + 12);
		return -EINVAL;
	}
	for (int c = 0; c < 2; c++) {
		uint8_t *p = copies + (size_t)c * mt->slot;

		rc = sync_rw(mt->file, VS_BIO_READ, (uint64_t)c * mt->slot, p, mt->slot);
		if (rc < 0) {
			free(copies);
			vs_set_error("meta: '%s' cannot be read: %s", path, strerror(-rc));
			return rc;
		}
		if (copy_valid(m, p, mt->slot) &&
		    (best < 0 || hdr_of(p)->seq > hdr_of(copies + (size_t)best * mt->slot)->seq))
			best = c;
	}
	if (best >= 0) {
		rc = check_shape(m, path, hdr_of(copies + (size_t)best * mt->slot));
		if (rc == 0)
			load(m, copies + (size_t)best * mt->slot);
		free(copies);
		if (rc < 0)
			return rc;
		recover(m);
	} else {
		free(copies);
		/* a new map: the legs are the same already (new disks), or leg 0
		 * is copied to the others */
		for (size_t i = 1; i < m->nlegs && !assume_clean; i++) {
			atomic_store(&m->leg[i].state, LEG_RESYNCING);
			vs_map_behind_all(m, i);
		}
	}
	rc = vs_meta_sync(m);
	if (rc < 0) {
		vs_set_error("meta: '%s' cannot be written: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

void vs_meta_close(struct mirror *m)
{
	struct meta *mt = &m->meta;

	if (mt->file)
		vs_bdev_close(mt->file);
	mt->file = NULL;
	if (mt->slot)
		pthread_cond_destroy(&mt->done);
	mt->slot = 0;
	free(mt->img);
	free(mt->io);
	free(mt->set_list);
	free(mt->flush_list);
	mt->img = mt->io = NULL;
	mt->set_list = mt->flush_list = NULL;
}
