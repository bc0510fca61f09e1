#include "histogram.h"

#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

/* Bucket index: v < 128 maps to itself; otherwise with e = msb(v) - 6 the top
 * seven bits m = v >> e lie in [64, 127] and the index is e * 64 + m, which
 * continues exactly where the previous octave stopped. */
static unsigned bucket_of(uint64_t v)
{
	if (v < (2u << HIST_SUB_BITS))
		return (unsigned)v;
	unsigned e = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	if (e > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1;
	return (e << HIST_SUB_BITS) + (unsigned)(v >> e);
}

/* Midpoint of bucket idx, the inverse of bucket_of(). */
static uint64_t bucket_mid(unsigned idx)
{
	if (idx < (2u << HIST_SUB_BITS))
		return idx;
	unsigned e = (idx >> HIST_SUB_BITS) - 1u;
	uint64_t m = idx - ((uint64_t)e << HIST_SUB_BITS);
	return (m << e) + (((uint64_t)1 << e) >> 1);
}

void hist_record(struct hist *h, uint64_t ns)
{
	h->bucket[bucket_of(ns)]++;
	h->count++;
	h->sum_ns += ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q < 0.0)
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	/* Rank of the sample at quantile q, 1-based, rounded up (nearest-rank). */
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = bucket_mid(i);
			/* Never report outside the observed range. */
			if (v < h->min_ns)
				v = h->min_ns;
			if (v > h->max_ns)
				v = h->max_ns;
			return v;
		}
	}
	return h->max_ns;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}
