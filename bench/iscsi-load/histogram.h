/* Log-linear latency histogram (the HdrHistogram idea, fixed precision).
 *
 * Values (nanoseconds) below 128 get one bucket each; above that every power
 * of two is split into 64 equal sub-buckets, so a reported percentile is
 * within 1/64 (< 1.6 %) of the true value. The whole table is a fixed array
 * inside the struct: recording is one index computation and one increment,
 * with no allocation, which keeps the load generator off its own critical
 * path. */
#ifndef ISCSI_LOAD_HISTOGRAM_H
#define ISCSI_LOAD_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 6u                     /* 64 sub-buckets per octave */
#define HIST_MAX_SHIFT 34u                   /* caps values near 2^40 ns (~18 min) */
#define HIST_BUCKETS ((HIST_MAX_SHIFT + 2u) << HIST_SUB_BITS)

struct hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* Adds every sample of src into dst (per-thread histograms merged at the end). */
void hist_merge(struct hist *dst, const struct hist *src);
/* Value at quantile q in [0,1] (midpoint of the bucket holding it); 0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

#endif
