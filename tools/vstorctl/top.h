/* SPDX-License-Identifier: MIT */
/* vstorctl top: the live per-LUN table (top.c). */
#ifndef VSTORCTL_TOP_H
#define VSTORCTL_TOP_H

/* argv[0] is "top"; returns the exit status (vstorctl's). */
int vsc_top(int argc, char **argv, const char *socket_path);

#endif
