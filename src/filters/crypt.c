/* SPDX-License-Identifier: MIT */
/*
 * crypt: AES-256-XTS over the layer below, sector for sector what Linux
 * dm-crypt writes with cipher aes-xts-plain64 and a 512-bit key, so an
 * image it wrote opens on a Linux host with
 *
 *   cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
 *       --key-file KEY [--sector-size N] IMAGE name
 *
 * and the other way round.
 *
 *   key_file=         (required) 64 raw bytes: two AES-256 keys, the data
 *                     key and the tweak key (IEEE 1619 Key1 | Key2), as
 *                     cryptsetup reads a --key-size 512 key file
 *   key_fingerprint=  32 hex digits the key must match; absent: the
 *                     fingerprint is reported as learned (saved config)
 *   sector_size=      512 (default), 1024, 2048 or 4096: the encryption
 *                     unit (cryptsetup --sector-size)
 *   discard=0/1       (default 1) pass UNMAP down (cryptsetup
 *                     --allow-discards)
 *
 * Tweak (plain64): each unit is one XTS data unit whose tweak is the
 * little-endian 64-bit number of its first 512-byte sector, counted from
 * offset 0 of the layer below, in a 16-byte IV.  Also for units of 4096
 * bytes and for disks with 4096-byte blocks: dm-crypt counts 512-byte
 * sectors unless told --iv-large-sectors, which this filter does not do.
 *
 * Plain mode stores nothing on the disk, so it cannot tell a wrong key
 * from the right one.  The LUN records a fingerprint of the key instead,
 * the first 16 bytes of SHA-256(CRYPT_FP_LABEL || key) in hex: it says
 * nothing of the key (a 512-bit random key has no feasible preimage) and a
 * different key is refused at open instead of serving garbage.
 *
 * The key is read once at open (O_CLOEXEC) into a stack buffer that is
 * wiped (OPENSSL_cleanse) as soon as the cipher contexts hold its key
 * schedule; it is never logged and never kept in any other form.
 *
 * I/O (no allocation, no lock shared by all connections):
 *  - WRITE: never encrypted in place in the caller's buffer (a write may be
 *    sent again after a reconnect).  Each request has CRYPT_BOUNCE bytes of
 *    bounce memory reserved by the block layer at open; a larger write is
 *    encrypted and written through it chunk after chunk.  Memory: 64 KiB
 *    per request the stack may have in flight, i.e. 16 MiB of address
 *    space per LUN at the block layer's default of 256 (pages are only
 *    touched by requests really in flight, and a 4 KiB write touches one).
 *  - WRITE_ZEROES: encrypted zeroes, written the same way (the layer
 *    below writing plain zeroes would read back as garbage).
 *  - READ: the layer below reads into the caller's buffer; the filter
 *    decrypts it in place when that read completes (on whichever thread
 *    completes it).
 *  - UNMAP passes down (unless discard=0): an unmapped block then reads
 *    back as the decryption of whatever the layer below returns, so
 *    unmap_zeroes (LBPRZ) is cleared; with LBPRZ=0 an unmapped block may
 *    read back as any data (SBC-3 4.7).  It reveals which blocks are free to
 *    whoever can read the image, which dm-crypt's default refuses (and
 *    discard=0 does); a sparse image shows never-written blocks anyway.
 *  - FLUSH, block status, resize and events pass through.
 *  - No cancel of its own: crypt holds no request, its piece is in flight
 *    below, and the layers below know that piece, not the caller's bio, so
 *    an abort of a request in crypt is answered "cannot stop it" and the
 *    request completes when its piece does.  A reset reaches the layers
 *    below, which give back the piece; the request then completes with
 *    their -ECANCELED.
 *
 * Cipher contexts: OpenSSL keeps the tweak in the EVP_CIPHER_CTX, so a
 * context serves one unit at a time.  Each LUN preallocates a small array
 * of them at open (2 per online CPU, 4..64; an encrypting and a decrypting
 * context each, the key schedules differ), and a thread takes one only
 * while it encrypts one chunk or decrypts one read: pure CPU work that
 * never blocks.  A thread starts looking at its own index (a thread-local
 * number given once), so threads rarely meet on one context; when every
 * context is busy it yields and looks again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "vstor/filter.h"

#define CRYPT_KEY_BYTES   64u           /* two AES-256 keys */
#define CRYPT_IV_SHIFT    9u            /* plain64 counts 512-byte sectors */
#define CRYPT_MAX_UNIT    4096u
#define CRYPT_BOUNCE      (64u << 10)   /* per request; see the top of the file */
#define CRYPT_FP_BYTES    16u
#define CRYPT_FP_HEX      (2 * CRYPT_FP_BYTES)
#define CRYPT_FP_LABEL    "vstor crypt key fingerprint v1"
#define CRYPT_MIN_CIPHERS 4u
#define CRYPT_MAX_CIPHERS 64u

struct crypt_cipher {
	atomic_bool busy;
	EVP_CIPHER_CTX *enc, *dec;
} __attribute__((aligned(64)));         /* one cache line each: no false sharing */

struct crypt_dev {
	struct vs_layer *self;
	uint32_t unit;                  /* bytes per XTS data unit (sector_size) */
	bool discard;
	bool fp_given;
	char fingerprint[CRYPT_FP_HEX + 1];
	uint32_t nciphers;
	struct crypt_cipher *ciphers;
};

/* Where a walk through a bio's iovec stands. */
struct iov_cursor {
	int idx;
	size_t off;
};

enum { PHASE_SENDING, PHASE_SENT, PHASE_DONE };

/* Per request, in the context the block layer reserved. */
struct crypt_req {
	struct crypt_dev *dev;
	struct vs_bio *parent;
	struct vs_bio child;            /* the piece in flight below */
	struct iovec iov;               /* a write's piece: bounce memory */
	uint8_t *bounce;
	uint64_t pos;                   /* bytes of the parent sent so far */
	struct iov_cursor cur;          /* the parent's data at pos */
	_Atomic int phase;              /* who goes on after a piece: see write_step */
	int err;
};

/* ------------------------------------------------------------ options */

static const char *const sector_sizes[] = { "512", "1024", "2048", "4096", NULL };

static const struct vs_opt_desc crypt_options[] = {
	{ .name = "key_file", .type = VS_OPT_PATH, .flags = VS_OPT_REQUIRED,
	  .help = "64 raw bytes: two AES-256 keys (aes-xts-plain64, --key-size 512)" },
	{ .name = "key_fingerprint", .type = VS_OPT_STRING,
	  .help = "32 hex digits the key must match (learned at first open)" },
	{ .name = "sector_size", .type = VS_OPT_ENUM, .dflt = "512", .choices = sector_sizes,
	  .help = "encryption unit in bytes (cryptsetup --sector-size)" },
	{ .name = "discard", .type = VS_OPT_BOOL, .dflt = "1",
	  .help = "pass UNMAP down (cryptsetup --allow-discards); 0: no UNMAP" },
	{ 0 }
};

static bool is_fingerprint(const char *s)
{
	size_t n = strlen(s);

	if (n != CRYPT_FP_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

static int crypt_check(const struct vs_opts *o)
{
	const char *fp = vs_opt_str(o, "key_fingerprint");

	if (fp && !is_fingerprint(fp)) {
		vs_set_error("key_fingerprint: '%s' is not %u hex digits", fp, CRYPT_FP_HEX);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ the key */

/* Exactly CRYPT_KEY_BYTES from `path` into key; 0 or -errno with
 * vs_set_error naming key_file.  Never says anything of the bytes. */
static int key_read(const char *path, uint8_t key[CRYPT_KEY_BYTES])
{
	uint8_t buf[CRYPT_KEY_BYTES + 1];
	size_t n = 0;
	struct stat st = { 0 };
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		vs_set_error("key_file: %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		vs_set_error("key_file: %s: is a directory", path);
		close(fd);
		return -EISDIR;
	}
	/* one byte more than a key: enough to tell "too long" */
	while (n < sizeof(buf)) {
		ssize_t got = read(fd, buf + n, sizeof(buf) - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			vs_set_error("key_file: %s: %s", path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (rc == 0 && n != CRYPT_KEY_BYTES) {
		/* a regular file says its size; a pipe or device only what we read */
		bool reg = S_ISREG(st.st_mode);
		unsigned long long size = reg ? (unsigned long long)st.st_size : n;
		bool hex = size == 2 * CRYPT_KEY_BYTES || size == 2 * CRYPT_KEY_BYTES + 1;

		vs_set_error("key_file: %s holds %s%llu bytes; a key is exactly %u raw bytes "
		             "(two AES-256 keys, as aes-xts-plain64 with --key-size 512)%s", path,
		             !reg && n > CRYPT_KEY_BYTES ? "more than " : "",
		             !reg && n > CRYPT_KEY_BYTES ? CRYPT_KEY_BYTES : size, CRYPT_KEY_BYTES,
		             hex ? ", not hex text" : "");
		rc = -EINVAL;
	}
	if (rc == 0)
		memcpy(key, buf, CRYPT_KEY_BYTES);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* hex of the first CRYPT_FP_BYTES of SHA-256(CRYPT_FP_LABEL || key) */
static int key_fingerprint(const uint8_t key[CRYPT_KEY_BYTES], char out[CRYPT_FP_HEX + 1])
{
	uint8_t in[sizeof(CRYPT_FP_LABEL) - 1 + CRYPT_KEY_BYTES];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok;

	memcpy(in, CRYPT_FP_LABEL, sizeof(CRYPT_FP_LABEL) - 1);
	memcpy(in + sizeof(CRYPT_FP_LABEL) - 1, key, CRYPT_KEY_BYTES);
	ok = EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_cleanse(in, sizeof(in));
	if (!ok || mdlen < CRYPT_FP_BYTES) {
		vs_set_error("key_fingerprint: SHA-256 failed in libcrypto");
		return -EIO;
	}
	for (unsigned i = 0; i < CRYPT_FP_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ------------------------------------------------------------ ciphers */

static _Thread_local uint32_t thread_hint = UINT32_MAX;
static _Atomic uint32_t next_hint;

static struct crypt_cipher *cipher_get(struct crypt_dev *d)
{
	if (thread_hint == UINT32_MAX)
		thread_hint = atomic_fetch_add_explicit(&next_hint, 1, memory_order_relaxed);
	/* holders only compute (microseconds, never block): one is free soon */
	for (;;) {
		for (uint32_t k = 0; k < d->nciphers; k++) {
			struct crypt_cipher *c = &d->ciphers[(thread_hint + k) % d->nciphers];

			if (!atomic_load_explicit(&c->busy, memory_order_relaxed) &&
			    !atomic_exchange_explicit(&c->busy, true, memory_order_acquire))
				return c;
		}
		sched_yield();
	}
}

static void cipher_put(struct crypt_cipher *c)
{
	atomic_store_explicit(&c->busy, false, memory_order_release);
}

/* One XTS data unit: `unit` bytes from in to out (may be the same
 * memory), tweak = plain64 IV of the 512-byte sector `sector`. */
static int xts_unit(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, uint32_t unit,
                    uint64_t sector)
{
	uint8_t iv[16] = { 0 };
	int outl = 0;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(sector >> (8 * i));   /* little-endian 64-bit, then zeroes */
	if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) ||
	    !EVP_CipherUpdate(ctx, out, &outl, in, (int)unit) || outl != (int)unit) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ iovecs */

static bool iov_holds(const struct vs_bio *bio)
{
	uint64_t total = 0;

	if (!bio->iov || bio->iovcnt <= 0)
		return false;
	for (int i = 0; i < bio->iovcnt && total < bio->length; i++)
		total += bio->iov[i].iov_len;
	return total >= bio->length;
}

/*
 * The next `unit` bytes of the iovec at the cursor, which then moves past
 * them: a pointer into the iovec when one segment holds them all, else
 * they are gathered into tmp (*gathered set).  The caller made sure the
 * iovec holds them (iov_holds).
 */
static uint8_t *cursor_take(struct iov_cursor *c, const struct iovec *iov, uint32_t unit,
                            uint8_t *tmp, bool *gathered)
{
	uint32_t got = 0;

	while (iov[c->idx].iov_len == c->off) {
		c->idx++;
		c->off = 0;
	}
	if (iov[c->idx].iov_len - c->off >= unit) {
		uint8_t *p = (uint8_t *)iov[c->idx].iov_base + c->off;

		c->off += unit;
		*gathered = false;
		return p;
	}
	while (got < unit) {
		size_t n = iov[c->idx].iov_len - c->off;

		if (n > unit - got)
			n = unit - got;
		memcpy(tmp + got, (uint8_t *)iov[c->idx].iov_base + c->off, n);
		got += (uint32_t)n;
		c->off += n;
		if (c->off == iov[c->idx].iov_len && got < unit) {
			c->idx++;
			c->off = 0;
		}
	}
	*gathered = true;
	return tmp;
}

/* The other way: `unit` bytes of tmp back into the iovec from cursor c. */
static void cursor_scatter(struct iov_cursor c, const struct iovec *iov, uint32_t unit,
                           const uint8_t *tmp)
{
	uint32_t put = 0;

	while (put < unit) {
		size_t n = iov[c.idx].iov_len - c.off;

		if (n > unit - put)
			n = unit - put;
		memcpy((uint8_t *)iov[c.idx].iov_base + c.off, tmp + put, n);
		put += (uint32_t)n;
		c.idx++;
		c.off = 0;
	}
}

/* ------------------------------------------------------------ reads */

/* Decrypt the parent's data in place, unit by unit. */
static int decrypt_parent(struct crypt_dev *d, struct vs_bio *bio)
{
	uint8_t tmp[CRYPT_MAX_UNIT] __attribute__((aligned(16)));
	struct crypt_cipher *c = cipher_get(d);
	struct iov_cursor cur = { 0, 0 };
	int rc = 0;

	for (uint64_t pos = 0; pos < bio->length && rc == 0; pos += d->unit) {
		struct iov_cursor at = cur;
		bool gathered;
		uint8_t *p = cursor_take(&cur, bio->iov, d->unit, tmp, &gathered);

		rc = xts_unit(c->dec, p, p, d->unit, (bio->offset + pos) >> CRYPT_IV_SHIFT);
		if (gathered)
			cursor_scatter(at, bio->iov, d->unit, tmp);
	}
	cipher_put(c);
	return rc;
}

static void read_done(struct vs_bio *child, int err)
{
	struct crypt_req *r = child->ctx;

	/* a failed read's data is undefined: nothing to decrypt */
	if (!err)
		err = decrypt_parent(r->dev, r->parent);
	vs_bio_complete(r->parent, err);
}

/* ------------------------------------------------------------ writes */

/* Fill the bounce memory with the encryption of the parent's next n bytes
 * (WRITE_ZEROES: of n zero bytes). */
static int encrypt_piece(struct crypt_req *r, uint64_t n)
{
	uint8_t tmp[CRYPT_MAX_UNIT] __attribute__((aligned(16)));
	struct crypt_dev *d = r->dev;
	struct vs_bio *bio = r->parent;
	bool zeroes = bio->op == VS_BIO_WRITE_ZEROES;
	struct crypt_cipher *c = cipher_get(d);
	int rc = 0;

	if (zeroes)
		memset(r->bounce, 0, n);
	for (uint64_t k = 0; k < n && rc == 0; k += d->unit) {
		uint8_t *out = r->bounce + k;
		const uint8_t *in = out;
		bool gathered = false;

		if (!zeroes)
			in = cursor_take(&r->cur, bio->iov, d->unit, tmp, &gathered);
		rc = xts_unit(c->enc, out, in, d->unit,
		              (bio->offset + r->pos + k) >> CRYPT_IV_SHIFT);
	}
	cipher_put(c);
	return rc;
}

static void write_done(struct vs_bio *child, int err);

/*
 * Send the parent's remaining pieces one after the other through the
 * bounce memory.  A piece that completes inline (a RAM backend) is
 * followed by the next one in this loop, not by recursion from its done():
 * `phase` says who goes on.  The sender sets SENDING before it submits and
 * swaps in SENT after; done() swaps in DONE.  Whoever comes second sees the
 * other's mark: done() seeing SENT goes on itself (the sender has left);
 * the sender seeing DONE loops.
 *
 * from_submit: the first piece of a new request; a refusal of it is
 * returned without completing the parent (the block layer's contract).
 */
static int write_step(struct crypt_req *r, bool from_submit)
{
	struct vs_bio *bio = r->parent;
	uint32_t flags = bio->flags & VS_BIO_FUA;

	for (;;) {
		uint64_t n = bio->length - r->pos;
		int rc;

		if (r->err || n == 0) {
			vs_bio_complete(bio, r->err);
			return 0;
		}
		if (n > CRYPT_BOUNCE)
			n = CRYPT_BOUNCE;
		rc = encrypt_piece(r, n);
		if (rc == 0) {
			r->iov = (struct iovec){ .iov_base = r->bounce, .iov_len = n };
			r->child = (struct vs_bio){ .op = VS_BIO_WRITE, .flags = flags,
			                            .offset = bio->offset + r->pos, .length = n,
			                            .iov = &r->iov, .iovcnt = 1,
			                            .done = write_done, .ctx = r };
			r->pos += n;
			atomic_store(&r->phase, PHASE_SENDING);
			rc = vs_layer_submit(r->dev->self, 0, &r->child);
		}
		if (rc < 0) {
			if (from_submit)
				return rc;
			r->err = rc;
			continue;
		}
		from_submit = false;
		if (atomic_exchange(&r->phase, PHASE_SENT) != PHASE_DONE)
			return 0;       /* in flight: its done() goes on */
	}
}

static void write_done(struct vs_bio *child, int err)
{
	struct crypt_req *r = child->ctx;

	if (err && !r->err)
		r->err = err;
	if (atomic_exchange(&r->phase, PHASE_DONE) == PHASE_SENT)
		write_step(r, false);
}

/* ------------------------------------------------------------ the filter */

static int crypt_submit(void *h, struct vs_bio *bio, void *ctx)
{
	struct crypt_dev *d = h;
	struct crypt_req *r = ctx;

	if (bio->op != VS_BIO_FLUSH && ((bio->offset | bio->length) & (d->unit - 1)))
		return -EINVAL;         /* a piece of a unit cannot be encrypted */
	switch (bio->op) {
	case VS_BIO_FLUSH:
		return vs_layer_submit(d->self, 0, bio);
	case VS_BIO_UNMAP:
		return d->discard ? vs_layer_submit(d->self, 0, bio) : -EOPNOTSUPP;
	case VS_BIO_READ:
	case VS_BIO_WRITE:
	case VS_BIO_WRITE_ZEROES:
		break;
	default:
		return -EINVAL;
	}
	if (bio->length == 0)
		return vs_layer_submit(d->self, 0, bio);
	if (bio->op != VS_BIO_WRITE_ZEROES && !iov_holds(bio))
		return -EINVAL;
	r->dev = d;
	r->parent = bio;
	r->err = 0;
	if (bio->op == VS_BIO_READ) {
		r->child = (struct vs_bio){ .op = VS_BIO_READ, .flags = bio->flags,
		                            .offset = bio->offset, .length = bio->length,
		                            .iov = bio->iov, .iovcnt = bio->iovcnt,
		                            .done = read_done, .ctx = r };
		return vs_layer_submit(d->self, 0, &r->child);
	}
	r->bounce = vs_layer_bounce(d->self, ctx);
	r->pos = 0;
	r->cur = (struct iov_cursor){ 0, 0 };
	return write_step(r, true);
}

static void crypt_caps(void *h, struct vs_backend_caps *caps)
{
	struct crypt_dev *d = h;

	/* an unmapped block reads back as the decryption of zeroes */
	caps->unmap_zeroes = false;
	/* WRITE_ZEROES is done here (encrypted zeroes), whatever is below */
	caps->can_zero = caps->can_write;
	if (!d->discard) {
		caps->can_unmap = false;
		caps->unmap_granularity = 0;
	}
	if (caps->logical_block_size < d->unit)
		caps->logical_block_size = d->unit;
}

static void crypt_learned(void *h, void (*emit)(void *ctx, const char *key, const char *value),
                          void *ctx)
{
	struct crypt_dev *d = h;

	if (!d->fp_given)
		emit(ctx, "key_fingerprint", d->fingerprint);
}

static void crypt_free(struct crypt_dev *d)
{
	for (uint32_t i = 0; d->ciphers && i < d->nciphers; i++) {
		/* EVP_CIPHER_CTX_free wipes the key schedules */
		EVP_CIPHER_CTX_free(d->ciphers[i].enc);
		EVP_CIPHER_CTX_free(d->ciphers[i].dec);
	}
	free(d->ciphers);
	free(d);
}

static void crypt_close(void *h)
{
	crypt_free(h);
}

static uint32_t cipher_count(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t n = cpus > 0 ? 2 * (uint64_t)cpus : CRYPT_MIN_CIPHERS;

	return n < CRYPT_MIN_CIPHERS ? CRYPT_MIN_CIPHERS
	     : n > CRYPT_MAX_CIPHERS ? CRYPT_MAX_CIPHERS : (uint32_t)n;
}

static int ciphers_init(struct crypt_dev *d, const uint8_t key[CRYPT_KEY_BYTES])
{
	d->nciphers = cipher_count();
	d->ciphers = aligned_alloc(64, d->nciphers * sizeof(*d->ciphers));
	if (!d->ciphers) {
		vs_set_error("out of memory");
		return -ENOMEM;
	}
	memset(d->ciphers, 0, d->nciphers * sizeof(*d->ciphers));
	for (uint32_t i = 0; i < d->nciphers; i++) {
		struct crypt_cipher *c = &d->ciphers[i];

		atomic_init(&c->busy, false);
		c->enc = EVP_CIPHER_CTX_new();
		c->dec = EVP_CIPHER_CTX_new();
		if (!c->enc || !c->dec ||
		    !EVP_EncryptInit_ex2(c->enc, EVP_aes_256_xts(), key, NULL, NULL) ||
		    !EVP_DecryptInit_ex2(c->dec, EVP_aes_256_xts(), key, NULL, NULL)) {
			ERR_clear_error();
			vs_set_error("key_file: libcrypto refused the AES-256-XTS key");
			return -EIO;
		}
	}
	return 0;
}

static void *crypt_open(struct vs_filter_open_args *a)
{
	const char *path = vs_opt_str(a->opts, "key_file");
	const char *want = vs_opt_str(a->opts, "key_fingerprint");
	uint8_t key[CRYPT_KEY_BYTES];
	struct crypt_dev *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		vs_set_error("out of memory");
		return NULL;
	}
	d->self = a->self;
	d->unit = (uint32_t)strtoul(vs_opt_str(a->opts, "sector_size"), NULL, 10);
	d->discard = vs_opt_bool(a->opts, "discard");
	d->fp_given = want != NULL;
	rc = key_read(path, key);
	if (rc == 0 && CRYPTO_memcmp(key, key + CRYPT_KEY_BYTES / 2, CRYPT_KEY_BYTES / 2) == 0) {
		/* IEEE 1619 needs Key1 != Key2; libcrypto refuses it too */
		vs_set_error("key_file: %s: its two halves are the same key; XTS needs two "
		             "different keys", path);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = key_fingerprint(key, d->fingerprint);
	if (rc == 0 && want && strcasecmp(want, d->fingerprint) != 0) {
		vs_set_error("key_fingerprint: the key in %s has fingerprint %s, not %s "
		             "(another key?)", path, d->fingerprint, want);
		rc = -EACCES;
	}
	if (rc == 0)
		rc = ciphers_init(d, key);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		crypt_free(d);
		return NULL;
	}
	a->ctx_size = sizeof(struct crypt_req);
	a->bounce_size = CRYPT_BOUNCE;
	return d;
}

static const struct vs_filter_ops crypt_ops = {
	.name = "crypt",
	.api_version = VS_FILTER_API_VERSION,
	.struct_size = sizeof(struct vs_filter_ops),
	.description = "AES-256-XTS encryption, as dm-crypt's aes-xts-plain64 (plain mode)",
	.options = crypt_options,
	.check = crypt_check,
	.open = crypt_open,
	.close = crypt_close,
	.submit = crypt_submit,
	.get_caps = crypt_caps,
	.learned = crypt_learned,
};
VS_FILTER_BUILTIN(crypt_ops)
