/* CPU time of another process (the target under test), read from
 * /proc/PID/stat, so its cost per I/O can be taken over exactly the window
 * in which the I/Os were counted. */
#ifndef ISCSI_LOAD_PROC_CPU_H
#define ISCSI_LOAD_PROC_CPU_H

#include <sys/types.h>

/* utime + stime of every thread of pid, in seconds; -1.0 if unreadable. */
double proc_cpu_seconds(pid_t pid);

#endif
