/* SPDX-License-Identifier: MIT */
/*
 * bench-crc32c: GB/s of each CRC32C path (util/vs_crc32c.c) at
 * buffer sizes from a header to a large data segment, and of
 * vs_crc32c itself, which picks a path by length.
 *
 *   bench-crc32c [-t SECONDS_PER_CELL] [-r ROUNDS]
 *
 * Each cell is the best of ROUNDS runs (3; a busy machine only ever makes
 * a run slower), each of about SECONDS_PER_CELL / ROUNDS (0.3 s in all),
 * over a buffer that stays in cache.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/vs_crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t crc, const void *buf, size_t len);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes per second of fn over len bytes of buf, the best of `rounds`. */
static double rate(crc_fn fn, const uint8_t *buf, size_t len, double seconds, int rounds)
{
	double best = 0;
	volatile uint32_t sink = 0;

	for (int r = 0; r < rounds; r++) {
		uint64_t n = 0, batch = len < 65536 ? 65536 / len + 1 : 1;
		double t0 = now_s(), t;

		do {
			for (uint64_t i = 0; i < batch; i++)
				sink += fn(0, buf, len);
			n += batch;
			t = now_s() - t0;
		} while (t < seconds / rounds);
		if ((double)n * (double)len / t > best)
			best = (double)n * (double)len / t;
	}
	(void)sink;
	return best;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 48, 52, 64, 128, 192, 256, 512, 1024, 4096, 8192, 65536,
	                                262144, 1048576 };
	static const struct { const char *name; crc_fn fn; } paths[] = {
		{ "stream", vs_crc32c_stream }, { "isal", vs_crc32c_isal },
		{ "table", vs_crc32c_sw }, { "chosen", vs_crc32c },
	};
	double seconds = 0.3;
	int rounds = 3, opt;
	uint8_t *buf = malloc(1048576);

	while ((opt = getopt(argc, argv, "t:r:h")) != -1) {
		switch (opt) {
		case 't':
			seconds = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-t seconds_per_cell] [-r rounds]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!buf || seconds <= 0 || rounds < 1) {
		fprintf(stderr, "bench-crc32c: bad arguments\n");
		return 2;
	}
	for (size_t i = 0; i < 1048576; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 24);
	printf("%10s", "bytes");
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
		printf("%12s", paths[p].name);
	printf("   GB/s (10^9 bytes), best of %d\n", rounds);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		printf("%10zu", sizes[s]);
		for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
			printf("%12.2f", rate(paths[p].fn, buf, sizes[s], seconds, rounds) / 1e9);
		printf("\n");
	}
	free(buf);
	return 0;
}
