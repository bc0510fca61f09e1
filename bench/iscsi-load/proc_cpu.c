#include "proc_cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double proc_cpu_seconds(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1.0;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* proc(5): the command name (field 2) is in parentheses and may hold
	 * spaces, so count fields from the last ')'. utime and stime are
	 * fields 14 and 15, in clock ticks, summed over all threads. */
	char *p = strrchr(line, ')');
	if (!p)
		return -1.0;
	p++;
	unsigned long long utime = 0, stime = 0;
	for (int field = 3; field <= 15; field++) {
		char *end;
		while (*p == ' ')
			p++;
		if (field == 3) {            /* state: one character */
			p++;
			continue;
		}
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			return -1.0;
		if (field == 14)
			utime = v;
		else if (field == 15)
			stime = v;
		p = end;
	}
	long tck = sysconf(_SC_CLK_TCK);
	if (tck <= 0)
		return -1.0;
	return (double)(utime + stime) / (double)tck;
}
