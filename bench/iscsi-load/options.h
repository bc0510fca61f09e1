/* Command-line options of iscsi-load. */
#ifndef ISCSI_LOAD_OPTIONS_H
#define ISCSI_LOAD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_URLS 64
#define MAX_SESSIONS 256

enum rw_mode { RW_READ, RW_WRITE, RW_MIXED };
enum pattern_mode { PATTERN_RANDOM, PATTERN_SEQ };

struct options {
	const char *urls[MAX_URLS];
	unsigned n_urls;
	enum rw_mode rw;
	unsigned mix_read_pct;     /* share of reads in --rw mixed */
	enum pattern_mode pattern;
	uint32_t bs;               /* bytes per I/O */
	unsigned qd;               /* outstanding I/Os per session */
	unsigned sessions;
	unsigned threads;
	double duration_s;         /* measured window */
	double warmup_s;           /* load runs, nothing is counted */
	uint64_t size;             /* working set in bytes; 0 = whole LUN */
	bool verify;
	bool fill;                 /* write the working set once before warm-up */
	bool json;
	bool header_digest;        /* CRC32C header digest (RFC 7143 §13.1) */
	bool data_digest;          /* CRC32C data digest, done by ddigest.c */
	const char *initiator_name;
	uint64_t seed;
	int target_pid;            /* 0 = none; else its CPU is sampled too */
};

/* Parses argv into o. Prints a one-line error (or the usage for --help) and
 * returns non-zero when the program should exit: 1 for bad input, 2 for help. */
int options_parse(struct options *o, int argc, char **argv);
/* "4k" -> 4096; K/M/G (powers of 1024), optional trailing B/iB. -1 on error. */
int64_t parse_size(const char *s);

#endif
