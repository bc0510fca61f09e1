/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "pr_cmd.h"
#include "vstor/scsi.h"

void pr_mk_nexus(struct vs_nexus *n, const char *iname, const char *isid, uint32_t id)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s,i,0x%s", iname, isid);
	snprintf(n->initiator_name, sizeof(n->initiator_name), "%s", iname);
	n->id = id;
	n->rel_target_port_id = 1;
	size_t len = strlen(n->name) + 1;
	size_t pad = (len + 3) & ~(size_t)3;
	n->transport_id[0] = 0x45;
	n->transport_id[2] = (uint8_t)(pad >> 8);
	n->transport_id[3] = (uint8_t)pad;
	memcpy(n->transport_id + 4, n->name, len - 1);
	n->transport_id_len = (uint16_t)(4 + pad);
}

void pr_cmd_init(struct pr_cmd *c, const struct vs_nexus *nx, const uint8_t *cdb,
                 size_t cdb_len, uint32_t data_length)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->srb.cdb, cdb, cdb_len);
	c->srb.cdb_len = (uint8_t)cdb_len;
	c->srb.nexus = (struct vs_nexus *)nx;
	c->iov.iov_base = c->buf;
	c->iov.iov_len = sizeof(c->buf);
	c->srb.iov = &c->iov;
	c->srb.iovcnt = 1;
	c->srb.data_length = data_length;
	c->srb.scsi_status = 0xff;     /* "not set" */
}

void pr_run(struct vdisk_pr *pr, struct pr_cmd *c)
{
	if (vs_vdisk_pr_conflict(pr, &c->srb))
		return;
	switch (c->srb.cdb[0]) {
	case PERSISTENT_RESERVE_IN:
		vs_vdisk_pr_in(pr, &c->srb);
		break;
	case PERSISTENT_RESERVE_OUT:
		vs_vdisk_pr_out(pr, &c->srb);
		break;
	case RESERVE_6:
	case RESERVE_10:
		vs_vdisk_pr_reserve(pr, &c->srb);
		break;
	case RELEASE_6:
	case RELEASE_10:
		vs_vdisk_pr_release(pr, &c->srb);
		break;
	default:
		vs_srb_set_good(&c->srb);      /* stands for the command running */
		break;
	}
}

void pr_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t pr_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

uint32_t pr_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint8_t pr_prout_full(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, int scope,
                      int type, uint64_t rk, uint64_t sark, uint8_t flags, uint32_t plen,
                      struct pr_cmd *c)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_OUT, (uint8_t)sa, (uint8_t)(scope << 4 | type) };
	cdb[5] = (uint8_t)(plen >> 24);
	cdb[6] = (uint8_t)(plen >> 16);
	cdb[7] = (uint8_t)(plen >> 8);
	cdb[8] = (uint8_t)plen;
	pr_cmd_init(c, nx, cdb, sizeof(cdb), plen);
	c->srb.data_dir = VS_DIR_TO_DEVICE;
	pr_put64(c->buf, rk);
	pr_put64(c->buf + 8, sark);
	c->buf[20] = flags;
	pr_run(pr, c);
	return c->srb.scsi_status;
}

uint8_t pr_prout(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, int type,
                 uint64_t rk, uint64_t sark)
{
	struct pr_cmd c;
	return pr_prout_full(pr, nx, sa, 0, type, rk, sark, 0, 24, &c);
}

uint8_t pr_prin(struct vdisk_pr *pr, const struct vs_nexus *nx, int sa, uint16_t alloc,
                struct pr_cmd *c)
{
	uint8_t cdb[10] = { PERSISTENT_RESERVE_IN, (uint8_t)sa };
	cdb[7] = (uint8_t)(alloc >> 8);
	cdb[8] = (uint8_t)alloc;
	pr_cmd_init(c, nx, cdb, sizeof(cdb), alloc);
	c->srb.data_dir = VS_DIR_FROM_DEVICE;
	pr_run(pr, c);
	return c->srb.scsi_status;
}

uint8_t pr_send(struct vdisk_pr *pr, const struct vs_nexus *nx, uint8_t op, uint8_t b1)
{
	struct pr_cmd c;
	uint8_t cdb[10] = { op, b1 };
	pr_cmd_init(&c, nx, cdb, (op >= 0x20 && op < 0x60) ? 10 : 6, 0);
	if (op == START_STOP_UNIT)
		c.srb.cdb[4] = 0x01;
	pr_run(pr, &c);
	return c.srb.scsi_status;
}
