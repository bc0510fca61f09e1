#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fputs(
"usage: iscsi-load --url iscsi://HOST[:PORT]/IQN/LUN [options]\n"
"  --url URL            target LUN; repeat for several LUNs\n"
"                       (sessions take URLs round-robin; one URL serves all)\n"
"  --rw read|write|mixed  (default read)\n"
"  --mix-read-pct N     reads in --rw mixed, percent (default 70)\n"
"  --pattern random|seq (default random)\n"
"  --bs SIZE            bytes per I/O, K/M suffix (default 4k)\n"
"  --qd N               outstanding I/Os per session (default 32)\n"
"  --sessions N         iSCSI sessions, each its own connection (default 1)\n"
"  --threads N          polling threads; sessions are spread over them (default 1)\n"
"  --duration SEC       measured window (default 10; 0 with --fill/--verify\n"
"                       skips the timed phase)\n"
"  --warmup SEC         load before measuring, not counted (default 2)\n"
"  --size SIZE          working set from LBA 0 (default: whole LUN)\n"
"  --fill               first write the whole working set once, sequentially,\n"
"                       so reads never hit unwritten (sparse) blocks\n"
"  --verify             write LBA+generation patterns (implies --fill), check\n"
"                       every read and read all back at the end; exit 3 on\n"
"                       any mismatch\n"
"  --header-digest      negotiate CRC32C header digests\n"
"  --data-digest        negotiate CRC32C data digests (libiscsi cannot: iscsi-load\n"
"                       checks and strips them itself); reads only, not with\n"
"                       --fill or --verify\n"
"  --initiator-name IQN (default iqn.2026-11.org.vstor:iscsi-load)\n"
"  --seed N             random seed (default: from the clock)\n"
"  --target-pid PID     also report that process's CPU (utime+stime from\n"
"                       /proc/PID/stat) over the measured window\n"
"  --json               one line of JSON instead of the text report\n",
	      f);
}

int64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0')
		return -1;
	if (v > (uint64_t)INT64_MAX / mul)
		return -1;
	return (int64_t)(v * mul);
}

static int parse_uint(const char *name, const char *s, unsigned min,
		      unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-' || v < min ||
	    v > max) {
		fprintf(stderr, "iscsi-load: %s: expected an integer in [%u, %u], got '%s'\n",
			name, min, max, s);
		return 1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_seconds(const char *name, const char *s, double min,
			 double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= min) || v > 86400.0) {
		fprintf(stderr, "iscsi-load: %s: expected seconds >= %g, got '%s'\n",
			name, min, s);
		return 1;
	}
	*out = v;
	return 0;
}

enum {
	OPT_URL = 256, OPT_RW, OPT_MIX, OPT_PATTERN, OPT_BS, OPT_QD,
	OPT_SESSIONS, OPT_THREADS, OPT_DURATION, OPT_WARMUP, OPT_SIZE,
	OPT_VERIFY, OPT_FILL, OPT_JSON, OPT_DIGEST, OPT_DDIGEST, OPT_INITIATOR, OPT_SEED, OPT_TARGET_PID,
	OPT_HELP,
};

static const struct option long_opts[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "rw", required_argument, NULL, OPT_RW },
	{ "mix-read-pct", required_argument, NULL, OPT_MIX },
	{ "pattern", required_argument, NULL, OPT_PATTERN },
	{ "bs", required_argument, NULL, OPT_BS },
	{ "qd", required_argument, NULL, OPT_QD },
	{ "sessions", required_argument, NULL, OPT_SESSIONS },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "fill", no_argument, NULL, OPT_FILL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "header-digest", no_argument, NULL, OPT_DIGEST },
	{ "data-digest", no_argument, NULL, OPT_DDIGEST },
	{ "initiator-name", required_argument, NULL, OPT_INITIATOR },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "target-pid", required_argument, NULL, OPT_TARGET_PID },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

int options_parse(struct options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->rw = RW_READ;
	o->mix_read_pct = 70;
	o->pattern = PATTERN_RANDOM;
	o->bs = 4096;
	o->qd = 32;
	o->sessions = 1;
	o->threads = 1;
	o->duration_s = 10.0;
	o->warmup_s = 2.0;
	o->initiator_name = "iqn.2026-11.org.vstor:iscsi-load";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	o->seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		  (uint64_t)getpid();

	int c;
	int64_t v;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_URL:
			if (o->n_urls == MAX_URLS) {
				fprintf(stderr, "iscsi-load: --url: at most %d URLs\n", MAX_URLS);
				return 1;
			}
			o->urls[o->n_urls++] = optarg;
			break;
		case OPT_RW:
			if (!strcmp(optarg, "read"))
				o->rw = RW_READ;
			else if (!strcmp(optarg, "write"))
				o->rw = RW_WRITE;
			else if (!strcmp(optarg, "mixed") || !strcmp(optarg, "randrw"))
				o->rw = RW_MIXED;
			else {
				fprintf(stderr, "iscsi-load: --rw: expected read, write or mixed, got '%s'\n", optarg);
				return 1;
			}
			break;
		case OPT_MIX:
			if (parse_uint("--mix-read-pct", optarg, 0, 100, &o->mix_read_pct))
				return 1;
			break;
		case OPT_PATTERN:
			if (!strcmp(optarg, "random") || !strcmp(optarg, "rand"))
				o->pattern = PATTERN_RANDOM;
			else if (!strcmp(optarg, "seq") || !strcmp(optarg, "sequential"))
				o->pattern = PATTERN_SEQ;
			else {
				fprintf(stderr, "iscsi-load: --pattern: expected random or seq, got '%s'\n", optarg);
				return 1;
			}
			break;
		case OPT_BS:
			v = parse_size(optarg);
			if (v < 512 || v > (16 << 20)) {
				fprintf(stderr, "iscsi-load: --bs: expected a size from 512 to 16M, got '%s'\n", optarg);
				return 1;
			}
			o->bs = (uint32_t)v;
			break;
		case OPT_QD:
			if (parse_uint("--qd", optarg, 1, 1024, &o->qd))
				return 1;
			break;
		case OPT_SESSIONS:
			if (parse_uint("--sessions", optarg, 1, MAX_SESSIONS, &o->sessions))
				return 1;
			break;
		case OPT_THREADS:
			if (parse_uint("--threads", optarg, 1, 64, &o->threads))
				return 1;
			break;
		case OPT_DURATION:
			if (parse_seconds("--duration", optarg, 0.0, &o->duration_s))
				return 1;
			break;
		case OPT_WARMUP:
			if (parse_seconds("--warmup", optarg, 0.0, &o->warmup_s))
				return 1;
			break;
		case OPT_SIZE:
			v = parse_size(optarg);
			if (v <= 0) {
				fprintf(stderr, "iscsi-load: --size: expected a positive size, got '%s'\n", optarg);
				return 1;
			}
			o->size = (uint64_t)v;
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_FILL:
			o->fill = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_DIGEST:
			o->header_digest = true;
			break;
		case OPT_DDIGEST:
			o->data_digest = true;
			break;
		case OPT_INITIATOR:
			o->initiator_name = optarg;
			break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || *end != '\0' || end == optarg) {
				fprintf(stderr, "iscsi-load: --seed: expected an integer, got '%s'\n", optarg);
				return 1;
			}
			break;
		}
		case OPT_TARGET_PID: {
			unsigned pid;
			if (parse_uint("--target-pid", optarg, 1, 0x7fffffff, &pid))
				return 1;
			o->target_pid = (int)pid;
			break;
		}
		case OPT_HELP:
			usage(stdout);
			return 2;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "iscsi-load: unexpected argument '%s'\n", argv[optind]);
		return 1;
	}
	if (o->n_urls == 0) {
		fprintf(stderr, "iscsi-load: --url: at least one target URL is required\n");
		return 1;
	}
	if (o->sessions % o->n_urls) {
		/* Sessions take the URLs round-robin; a remainder would silently skew the load. */
		fprintf(stderr, "iscsi-load: --url: %u URLs for %u sessions; the sessions must be a multiple of the URLs\n",
			o->n_urls, o->sessions);
		return 1;
	}
	if (o->data_digest && (o->rw != RW_READ || o->fill || o->verify)) {
		/* Data sent would need digests that libiscsi does not add. */
		fprintf(stderr, "iscsi-load: --data-digest: reads only (--rw read, no --fill or --verify)\n");
		return 1;
	}
	if (o->verify)
		o->fill = true;
	if (o->duration_s < 0.1 && !(o->duration_s == 0.0 && o->fill)) {
		fprintf(stderr, "iscsi-load: --duration: must be at least 0.1 s (0 only with --fill or --verify)\n");
		return 1;
	}
	if (o->threads > o->sessions)
		o->threads = o->sessions;
	return 0;
}
