/* SPDX-License-Identifier: MIT */
/*
 * APTPL state file: persistent reservations that must survive power loss
 * (SPC-4 5.13.5, "persist through power loss").  One small text file per
 * LUN, replaced atomically (write a temp file, fsync, rename, fsync the
 * directory) so a crash leaves either the old or the new state, never half.
 *
 *   vstor-pr-state 1
 *   aptpl 1
 *   generation 7
 *   reservation 1 0 1            (type, holder index or -1, holder rtpi) | reservation none
 *   reg <key hex> <rtpi> <all_tg_pt> <name hex> <initiator hex> <tid hex>   ('-' = empty)
 *   end
 *
 * Strings are hex encoded so no name can break the line format.  With
 * "aptpl 0" nothing else is stored: the state starts empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pr_internal.h"

#define PR_FILE_MAGIC "vstor-pr-state 1"

static void pr_hex_put(FILE *f, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (len == 0) {
		fputc('-', f);
		return;
	}
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

/* Decode hex token into out (at most max bytes); returns length or -1. */
static int pr_hex_get(const char *tok, uint8_t *out, size_t max)
{
	if (strcmp(tok, "-") == 0)
		return 0;
	size_t n = strlen(tok);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(tok + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static int pr_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int pr_fsync_dir(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int vs_pr_persist_save(const char *path, const struct pr_state *st)
{
	char *text = NULL;
	size_t text_len = 0;
	FILE *f = open_memstream(&text, &text_len);
	if (!f) {
		vs_set_error("pr_state_path: out of memory");
		return -ENOMEM;
	}
	fprintf(f, "%s\naptpl %d\n", PR_FILE_MAGIC, st->aptpl ? 1 : 0);
	if (st->aptpl) {
		/* Registrations are written densely; the holder index follows. */
		int file_idx = 0, holder_file_idx = -1;
		for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
			if (!st->regs[i].used)
				continue;
			if (i == st->holder)
				holder_file_idx = file_idx;
			file_idx++;
		}
		fprintf(f, "generation %" PRIu32 "\n", st->generation);
		if (st->reserved)
			fprintf(f, "reservation %u %d %u\n", st->type, holder_file_idx,
			        st->holder_rtpi);
		else
			fprintf(f, "reservation none\n");
		for (int i = 0; i < VDISK_PR_MAX_REGS; i++) {
			const struct pr_reg *r = &st->regs[i];
			if (!r->used)
				continue;
			fprintf(f, "reg %016" PRIx64 " %u %d ", r->key, r->rtpi, r->all_tg_pt ? 1 : 0);
			pr_hex_put(f, r->name, strlen(r->name));
			fputc(' ', f);
			pr_hex_put(f, r->initiator_name, strlen(r->initiator_name));
			fputc(' ', f);
			pr_hex_put(f, r->tid, r->tid_len);
			fputc('\n', f);
		}
	}
	fprintf(f, "end\n");
	if (fclose(f) != 0) {
		free(text);
		vs_set_error("pr_state_path: out of memory");
		return -ENOMEM;
	}

	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(text);
		vs_set_error("pr_state_path: path too long");
		return -ENAMETOOLONG;
	}
	int rc;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		free(text);
		vs_set_error("pr_state_path: cannot create %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = pr_write_all(fd, text, text_len);
	free(text);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = pr_fsync_dir(path);
	if (rc < 0) {
		unlink(tmp);
		vs_set_error("pr_state_path: cannot write %s: %s", path, strerror(-rc));
	}
	return rc;
}

static int pr_load_reg(struct pr_reg *r, char *line)
{
	char *save = NULL;
	char *tok[7];
	int n = 0;
	for (char *t = strtok_r(line, " \n", &save); t && n < 7; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if (n != 7 || strtok_r(NULL, " \n", &save) != NULL || strcmp(tok[0], "reg") != 0)
		return -1;
	char *end;
	errno = 0;
	r->key = strtoull(tok[1], &end, 16);
	if (errno || *end)
		return -1;
	unsigned long rtpi = strtoul(tok[2], &end, 10);
	if (*end || rtpi > UINT16_MAX)
		return -1;
	r->rtpi = (uint16_t)rtpi;
	if (strcmp(tok[3], "0") != 0 && strcmp(tok[3], "1") != 0)
		return -1;
	r->all_tg_pt = tok[3][0] == '1';
	/* leave room for the terminating NUL of the strings */
	int nl = pr_hex_get(tok[4], (uint8_t *)r->name, sizeof(r->name) - 1);
	int il = pr_hex_get(tok[5], (uint8_t *)r->initiator_name, sizeof(r->initiator_name) - 1);
	int tl = pr_hex_get(tok[6], r->tid, sizeof(r->tid));
	if (nl <= 0 || il < 0 || tl < 0 || memchr(r->name, 0, (size_t)nl))
		return -1;
	r->tid_len = (uint16_t)tl;
	r->name_hash = pr_name_hash(r->name);
	r->used = true;
	r->nexus_id = PR_NO_NEXUS;
	return 0;
}

int vs_pr_persist_load(const char *path, struct pr_state *st)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int rc = -errno;
		vs_set_error("pr_state_path: cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	struct pr_state s;
	memset(&s, 0, sizeof(s));
	s.holder = -1;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, aptpl = -1, holder_file = -1;
	unsigned type = 0, hrtpi = 0;
	bool have_gen = false, have_resv = false, ended = false;
	const char *what = NULL;

	while (!what && getline(&line, &cap, f) > 0) {
		lineno++;
		if (ended) {
			what = "data after end";
		} else if (lineno == 1) {
			if (strcmp(line, PR_FILE_MAGIC "\n") != 0)
				what = "not a vstor PR state file";
		} else if (lineno == 2) {
			if (sscanf(line, "aptpl %d", &aptpl) != 1 || (aptpl != 0 && aptpl != 1))
				what = "bad aptpl line";
		} else if (strcmp(line, "end\n") == 0) {
			ended = true;
		} else if (aptpl != 1) {
			what = "state stored without aptpl";
		} else if (strncmp(line, "generation ", 11) == 0) {
			have_gen = sscanf(line, "generation %" SCNu32, &s.generation) == 1;
			if (!have_gen)
				what = "bad generation";
		} else if (strcmp(line, "reservation none\n") == 0) {
			have_resv = true;
		} else if (strncmp(line, "reservation ", 12) == 0) {
			if (sscanf(line, "reservation %u %d %u", &type, &holder_file, &hrtpi) != 3 ||
			    !pr_type_valid((uint8_t)type) || hrtpi > UINT16_MAX ||
			    (pr_type_all_reg((uint8_t)type) ? holder_file != -1 : holder_file < 0))
				what = "bad reservation";
			s.reserved = true;
			have_resv = true;
		} else if (strncmp(line, "reg ", 4) == 0) {
			if (s.nregs >= VDISK_PR_MAX_REGS)
				what = "too many registrations";
			else if (pr_load_reg(&s.regs[s.nregs], line) < 0)
				what = "bad registration";
			else
				s.nregs++;
		} else {
			what = "unknown line";
		}
	}
	free(line);
	fclose(f);
	if (!what && !ended)
		what = "truncated (no end line)";
	if (!what && aptpl == 1 && (!have_gen || !have_resv))
		what = "missing generation or reservation line";
	if (!what && s.reserved) {
		if (s.nregs == 0 || holder_file >= (int)s.nregs)
			what = "reservation holder is not registered";
		s.type = (uint8_t)type;
		s.holder = holder_file;
		s.holder_rtpi = (uint16_t)hrtpi;
	}
	if (what) {
		vs_set_error("pr_state_path: %s line %d: %s", path, lineno, what);
		return -EINVAL;
	}
	if (aptpl == 1) {
		s.aptpl = true;
		*st = s;
	}
	return 0;
}
