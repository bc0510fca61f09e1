/* SPDX-License-Identifier: MIT */
/*
 * pr_cmd: drive src/vdisk/pr.h directly with hand-built SRBs, no port
 * (test_pr.c, test_pr_fastpath.c).  Each call runs what vdisk does for a
 * command: the reservation check first, then the command itself (a READ or
 * WRITE here just answers GOOD).
 *
 *   struct vs_nexus a;
 *   pr_mk_nexus(&a, "iqn.2024-01.test:host-a", "23d000001", 0);
 *   pr_prout(pr, &a, PR_SA_REGISTER, 0, 0, 0xaa);        // status byte
 *   pr_send(pr, &a, WRITE_10, 0);                         // SAM_STAT_GOOD or conflict
 */
#ifndef VSTOR_TEST_PR_CMD_H
#define VSTOR_TEST_PR_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vdisk/pr.h"

/* SPC-4 6.16.3 Table 188 types, 6.16.2 PERSISTENT RESERVE OUT service actions */
enum { WE = 1, EA = 3, WE_RO = 5, EA_RO = 6, WE_AR = 7, EA_AR = 8 };
enum { SA_REGISTER = 0, SA_RESERVE, SA_RELEASE, SA_CLEAR, SA_PREEMPT, SA_PREEMPT_ABORT,
       SA_REGISTER_IGNORE, SA_REGISTER_MOVE };

struct pr_cmd {
	struct vs_srb srb;
	struct iovec iov;
	uint8_t buf[8192];
};

/* An iSCSI I_T nexus "iname,i,0xisid" on relative target port 1, with its
 * TransportID (format 01b, SPC-4 7.6.4.6). */
void pr_mk_nexus(struct vs_nexus *n, const char *iname, const char *isid, uint32_t id);
/* A fresh command from nx with this CDB; data in or out through c->buf. */
void pr_cmd_init(struct pr_cmd *c, const struct vs_nexus *nx, const uint8_t *cdb,
                 size_t cdb_len, uint32_t data_length);
/* The reservation check, then the command (PR IN/OUT, RESERVE, RELEASE). */
void pr_run(struct vdisk_pr *pr, struct pr_cmd *c);
/* PERSISTENT RESERVE OUT with the basic 24-byte parameter list. */
uint8_t pr_prout_full(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, int scope,
                      int type, uint64_t rk, uint64_t sark, uint8_t flags, uint32_t plen,
                      struct pr_cmd *c);
uint8_t pr_prout(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, int type,
                 uint64_t rk, uint64_t sark);
uint8_t pr_prin(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, uint16_t alloc,
                struct pr_cmd *c);
/* An arbitrary short CDB (READ/WRITE/TUR/RESERVE ...): its status. */
uint8_t pr_send(struct vdisk_pr *pr, const struct vs_nexus *nx, uint8_t op, uint8_t b1);

void pr_put64(uint8_t *p, uint64_t v);
uint64_t pr_get64(const uint8_t *p);
uint32_t pr_get32(const uint8_t *p);

#endif
