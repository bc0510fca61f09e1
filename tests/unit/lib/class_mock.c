/* SPDX-License-Identifier: MIT */
/* class_mock: see class_mock.h */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "class_mock.h"
#include "vstor/scsi.h"

struct cm_adapter {
	struct cm *m;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const uint8_t *p) { return ((uint32_t)get16(p) << 16) | get16(p + 2); }
static uint64_t get64(const uint8_t *p) { return ((uint64_t)get32(p) << 32) | get32(p + 4); }

static void answer_sense(struct vs_srb *srb, const struct cm_rule *r)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_CHECK_CONDITION;
	memset(srb->sense, 0, 32);
	if (r->bad_sense) {
		srb->sense[0] = 0x7e;   /* no such response code */
		srb->sense_len = 18;
		return;
	}
	if (r->descriptor) {
		srb->sense_len = (uint8_t)vs_sense_descriptor(srb->sense, sizeof(srb->sense), r->key,
		                                              r->asc_ascq);
		if (r->deferred)
			srb->sense[0] = 0x73;
	} else {
		srb->sense_len = (uint8_t)vs_sense_fixed(srb->sense, sizeof(srb->sense), r->key,
		                                         r->asc_ascq);
		if (r->deferred)
			srb->sense[0] = 0x71;
	}
}

static void answer_rule(struct vs_srb *srb, const struct cm_rule *r)
{
	srb->xfer_len = 0;
	if (r->srb_status && r->srb_status != VS_SRB_SUCCESS) {
		srb->srb_status = r->srb_status;
		srb->scsi_status = r->status;
		return;
	}
	if (r->status == SAM_STAT_CHECK_CONDITION) {
		answer_sense(srb, r);
		return;
	}
	vs_srb_set_status(srb, r->status);
}

/* m->mu held: the rule this command meets, if any (counts it) */
static bool take_rule_locked(struct cm *m, uint8_t op, struct cm_rule *out)
{
	for (int i = 0; i < m->nrules; i++) {
		struct cm_rule *r = &m->rules[i];

		if (r->opcode != CM_ANY && r->opcode != op)
			continue;
		if (r->skip) {
			r->skip--;
			continue;
		}
		if (!r->count)
			continue;
		r->count--;
		*out = *r;
		return true;
	}
	return false;
}

static void invalid(struct vs_srb *srb, uint16_t asc)
{
	vs_srb_set_sense(srb, SENSE_ILLEGAL_REQUEST, asc);
}

static void data_in(struct vs_srb *srb, const void *d, uint32_t len)
{
	uint32_t n = len < srb->data_length ? len : srb->data_length;

	vs_srb_copy_to_iov(srb, 0, d, n);
	srb->xfer_len = n;
	vs_srb_set_good(srb);
}

static void emu_inquiry(struct cm *m, struct vs_srb *srb)
{
	uint8_t d[256] = {0};
	uint32_t n;

	if (!(srb->cdb[1] & 1)) {
		d[0] = m->not_disk ? 0x7f : TYPE_DISK;
		d[2] = 6;
		d[4] = 91;
		data_in(srb, d, 96);
		return;
	}
	d[1] = srb->cdb[2];
	switch (srb->cdb[2]) {
	case 0x00:
		n = 0;
		d[4 + n++] = 0x00;
		if (m->vpd_b0)
			d[4 + n++] = 0xb0;
		if (m->vpd_b2)
			d[4 + n++] = 0xb2;
		d[3] = (uint8_t)n;
		data_in(srb, d, 4 + n);
		return;
	case 0xb0:
		if (!m->vpd_b0)
			break;
		put16(&d[2], m->b0_short ? 0x0c : 0x3c);
		put16(&d[6], m->b0_opt_gran);
		put32(&d[8], m->b0_max_xfer);
		put32(&d[12], m->b0_opt_xfer);
		put32(&d[20], m->b0_max_unmap);
		put32(&d[24], m->b0_max_desc);
		put32(&d[28], m->b0_gran);
		put32(&d[32], m->b0_align ? 0x80000000u | m->b0_align : 0);
		put64(&d[36], m->b0_max_ws);
		data_in(srb, d, m->b0_short ? 16 : 64);
		return;
	case 0xb2:
		if (!m->vpd_b2)
			break;
		put16(&d[2], 4);
		d[5] = (uint8_t)((m->lbpu ? 0x80 : 0) | (m->lbpws ? 0x40 : 0) | (m->lbprz ? 0x04 : 0));
		data_in(srb, d, 8);
		return;
	}
	invalid(srb, ASC_INVALID_FIELD_IN_CDB);
}

static bool range_ok(struct cm *m, struct vs_srb *srb, uint64_t lba, uint64_t n)
{
	if (lba > m->blocks || n > m->blocks - lba) {
		invalid(srb, ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

/* mark [lba, lba+n) deallocated (zeroed when LBPRZ) or written */
static void provision(struct cm *m, uint64_t lba, uint64_t n, bool dealloc)
{
	for (uint64_t b = lba; b < lba + n && b < m->data_blocks; b++) {
		m->prov[b] = dealloc;
		if (!dealloc || m->lbprz)
			memset(m->data + b * m->block_size, 0, m->block_size);
	}
}

/* The mock whose image a loan points into (one mock lends at a time). */
static struct cm *lending_mock;

static void lend_end(struct vs_srb *srb)
{
	struct cm *m = lending_mock;

	(void)srb;
	atomic_fetch_add(&m->lends_ended, 1);
}

/* READ by reference (srb.h data_ref): the image's own bytes, all in RAM.
 * (m->mu is held here; the loan may end under it too: counters atomic.) */
static bool emu_lend(struct cm *m, struct vs_srb *srb, uint64_t lba, uint32_t n)
{
	if (!m->lend || !srb->accept_data_ref || lba + n > m->data_blocks)
		return false;
	lending_mock = m;
	srb->data_ref = m->data + lba * m->block_size;
	srb->data_ref_release = lend_end;
	atomic_fetch_add(&m->lent, 1);
	srb->xfer_len = srb->data_length;
	vs_srb_set_good(srb);
	return true;
}

static void emu_rw(struct cm *m, struct vs_srb *srb, bool write)
{
	uint64_t lba = get64(&srb->cdb[2]);
	uint32_t n = get32(&srb->cdb[10]);
	uint8_t zero[512] = {0};

	if (!range_ok(m, srb, lba, n))
		return;
	if (srb->data_length != (uint64_t)n * m->block_size) {
		invalid(srb, ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (!write && emu_lend(m, srb, lba, n))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t b = lba + i;
		size_t off = (size_t)i * m->block_size;

		if (b < m->data_blocks) {
			uint8_t *blk = m->data + b * m->block_size;
			if (write) {
				vs_srb_copy_from_iov(srb, off, blk, m->block_size);
				m->prov[b] = 0;
			} else {
				vs_srb_copy_to_iov(srb, off, blk, m->block_size);
			}
		} else if (!write) {
			for (uint32_t z = 0; z < m->block_size; z += sizeof(zero))
				vs_srb_copy_to_iov(srb, off + z, zero, sizeof(zero));
		}
	}
	srb->xfer_len = srb->data_length;
	vs_srb_set_good(srb);
}

static void emu_unmap(struct cm *m, struct vs_srb *srb)
{
	uint8_t p[CM_PARAM];
	uint32_t len = srb->data_length < sizeof(p) ? srb->data_length : (uint32_t)sizeof(p);
	uint32_t bd;

	vs_srb_copy_from_iov(srb, 0, p, len);
	if (len < 8 || !m->lbpu) {
		invalid(srb, ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	bd = get16(&p[2]);
	if (m->b0_max_desc && bd / 16 > m->b0_max_desc) {
		invalid(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
		return;
	}
	uint64_t total = 0;
	for (uint32_t at = 8; at + 16 <= len && at < 8 + bd; at += 16)
		total += get32(&p[at + 8]);
	if (m->b0_max_unmap && m->b0_max_unmap != 0xffffffffu && total > m->b0_max_unmap) {
		invalid(srb, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
		return;
	}
	for (uint32_t at = 8; at + 16 <= len && at < 8 + bd; at += 16) {
		uint64_t lba = get64(&p[at]);
		uint32_t n = get32(&p[at + 8]);

		if (!range_ok(m, srb, lba, n))
			return;
		provision(m, lba, n, true);
	}
	vs_srb_set_good(srb);
}

static void emu_write_same(struct cm *m, struct vs_srb *srb)
{
	uint64_t lba = get64(&srb->cdb[2]);
	uint32_t n = get32(&srb->cdb[10]);
	bool unmap = srb->cdb[1] & 0x08, ndob = srb->cdb[1] & 0x01;

	if (ndob && m->refuse_ndob) {
		invalid(srb, ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if ((m->b0_max_ws && n > m->b0_max_ws) || n == 0 ||
	    srb->data_length != (ndob ? 0 : m->block_size)) {
		invalid(srb, ASC_INVALID_FIELD_IN_CDB);
		return;
	}
	if (!range_ok(m, srb, lba, n))
		return;
	provision(m, lba, n, unmap && m->lbpws && m->lbprz);
	srb->xfer_len = srb->data_length;
	vs_srb_set_good(srb);
}

static void emu_lba_status(struct cm *m, struct vs_srb *srb)
{
	uint8_t d[8 + 16 * 32] = {0};
	uint64_t lba = get64(&srb->cdb[2]);
	uint32_t nd = 0;

	if (m->no_lba_status) {
		invalid(srb, ASC_INVALID_COMMAND_OPERATION_CODE);
		return;
	}
	if (lba >= m->blocks) {
		invalid(srb, ASC_LBA_OUT_OF_RANGE);
		return;
	}
	while (lba < m->blocks && nd < 32) {
		uint8_t st = lba < m->data_blocks ? m->prov[lba] : 0;
		uint64_t end = lba + 1;

		while (end < m->blocks && (end < m->data_blocks ? m->prov[end] : 0) == st &&
		       end - lba < 0xffffffffu)
			end++;
		put64(&d[8 + 16 * nd], lba);
		put32(&d[8 + 16 * nd + 8], (uint32_t)(end - lba));
		d[8 + 16 * nd + 12] = st;
		nd++;
		lba = end;
		if (lba >= m->data_blocks)
			break;
	}
	if (lba < m->blocks && lba >= m->data_blocks && nd < 32) {
		put64(&d[8 + 16 * nd], lba);
		put32(&d[8 + 16 * nd + 8], (uint32_t)(m->blocks - lba > 0xffffffffu ? 0xffffffffu
		                                                                     : m->blocks - lba));
		nd++;
	}
	put32(&d[0], 4 + 16 * nd);
	data_in(srb, d, 8 + 16 * nd);
}

static void emulate(struct cm *m, struct vs_srb *srb)
{
	uint8_t d[64] = {0};

	switch (srb->cdb[0]) {
	case INQUIRY:
		emu_inquiry(m, srb);
		break;
	case SERVICE_ACTION_IN_16:
		if ((srb->cdb[1] & 0x1f) == SAI_GET_LBA_STATUS) {
			emu_lba_status(m, srb);
			break;
		}
		put64(&d[0], m->blocks - 1);
		put32(&d[8], m->block_size);
		d[13] = m->phys_exp;
		d[14] = (uint8_t)((m->lbpme ? 0x80 : 0) | (m->lbprz ? 0x40 : 0));
		data_in(srb, d, 32);
		break;
	case MODE_SENSE_10:
		if (m->no_mode_sense) {
			invalid(srb, ASC_INVALID_COMMAND_OPERATION_CODE);
			break;
		}
		put16(&d[0], 6 + 20);
		d[3] = m->wp ? 0x80 : 0;
		d[8] = 0x08;
		d[9] = 0x12;
		d[10] = m->wce ? 0x04 : 0;
		data_in(srb, d, 28);
		break;
	case READ_16:
		emu_rw(m, srb, false);
		break;
	case WRITE_16:
		emu_rw(m, srb, true);
		break;
	case SYNCHRONIZE_CACHE_16:
		vs_srb_set_good(srb);
		break;
	case UNMAP:
		emu_unmap(m, srb);
		break;
	case WRITE_SAME_16:
		emu_write_same(m, srb);
		break;
	default:
		invalid(srb, ASC_INVALID_COMMAND_OPERATION_CODE);
		break;
	}
}

static void answer(struct cm *m, struct vs_srb *srb, const struct cm_rule *forced)
{
	struct cm_rule r;
	bool ruled;

	pthread_mutex_lock(&m->mu);
	ruled = forced ? (r = *forced, true) : take_rule_locked(m, srb->cdb[0], &r);
	if (!ruled) {
		emulate(m, srb);
	} else if (r.short_read) {
		emulate(m, srb);
		srb->xfer_len /= 2;
	} else if (r.status == SAM_STAT_CHECK_CONDITION && r.key == SENSE_RECOVERED_ERROR) {
		/* SPC-4 4.5.6: the command completed (with recovery) */
		emulate(m, srb);
		uint32_t moved = srb->xfer_len;
		pthread_mutex_unlock(&m->mu);
		answer_sense(srb, &r);
		srb->xfer_len = moved;
		return;
	}
	pthread_mutex_unlock(&m->mu);
	if (ruled && !r.short_read)
		answer_rule(srb, &r);
}

static void log_cmd(struct cm *m, const struct vs_srb *srb)
{
	struct cm_cmd *c;

	if (m->nlog >= CM_LOG)
		return;
	c = &m->log[m->nlog++];
	memcpy(c->cdb, srb->cdb, 16);
	c->data_length = srb->data_length;
	c->iovcnt = (uint32_t)srb->iovcnt;
	c->nexus_id = srb->nexus ? srb->nexus->id : UINT32_MAX;
	c->param_len = 0;
	if (srb->data_dir == VS_DIR_TO_DEVICE && srb->cdb[0] == UNMAP) {
		c->param_len = srb->data_length < CM_PARAM ? srb->data_length : CM_PARAM;
		vs_srb_copy_from_iov(srb, 0, c->param, c->param_len);
	}
}

static void cm_start_io(void *aext, void *lext, struct vs_srb *srb)
{
	struct cm *m = ((struct cm_adapter *)aext)->m;

	(void)lext;
	pthread_mutex_lock(&m->mu);
	log_cmd(m, srb);
	if ((m->hold || m->async) && m->nheld < CM_HELD) {
		m->held[m->nheld++] = srb;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		return;
	}
	pthread_mutex_unlock(&m->mu);
	answer(m, srb, NULL);
	vs_port_complete(srb);
}

static bool cm_abort_srb(void *aext, void *lext, struct vs_srb *srb)
{
	struct cm *m = ((struct cm_adapter *)aext)->m;
	bool found = false;

	(void)lext;
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nheld; i++)
		if (m->held[i] == srb) {
			memmove(&m->held[i], &m->held[i + 1], (size_t)(m->nheld - i - 1) * sizeof(srb));
			m->nheld--;
			found = true;
			break;
		}
	pthread_mutex_unlock(&m->mu);
	if (found) {
		vs_srb_set_good(srb);
		vs_port_complete(srb);
	}
	return found;
}

static int cm_find_adapter(void *aext, struct vs_port *port, const void *cfg,
                           struct vs_adapter_caps *caps)
{
	struct cm_adapter *a = aext;

	a->m = (struct cm *)cfg;
	a->m->port = port;
	caps->max_luns = 16;
	caps->default_queue_depth = 256;
	caps->max_transfer_length = a->m->max_xfer;
	caps->max_sg_elements = a->m->max_sg;
	return 0;
}

static int cm_initialize(void *aext) { (void)aext; return 0; }

static int cm_lun_attach(void *aext, struct vs_port_lun *lun, void *lext, const void *cfg)
{
	(void)lext;
	(void)cfg;
	((struct cm_adapter *)aext)->m->lun = lun;
	return 0;
}

static void cm_lun_detach(void *aext, void *lext) { (void)aext; (void)lext; }

static int cm_lun_control(void *aext, void *lext, enum vs_lun_control_type type, void *arg)
{
	(void)aext;
	(void)lext;
	(void)type;
	(void)arg;
	return -EOPNOTSUPP;
}

static int cm_reset(void *aext, void *lext, enum vs_reset_kind kind)
{
	(void)aext;
	(void)lext;
	(void)kind;
	return 0;
}

static int cm_adapter_control(void *aext, enum vs_adapter_control_type type, void *arg)
{
	(void)aext;
	if (type == VS_ADAPTER_QUERY_SUPPORTED)
		return 0;
	(void)arg;
	return -EOPNOTSUPP;
}

static void cm_free_adapter(void *aext) { (void)aext; }

static const struct vs_miniport cm_miniport = {
	.name = "class-mock",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct cm_adapter),
	.lun_extension_size = 16,
	.srb_extension_size = 16,
	.find_adapter = cm_find_adapter,
	.initialize = cm_initialize,
	.lun_attach = cm_lun_attach,
	.lun_detach = cm_lun_detach,
	.lun_control = cm_lun_control,
	.start_io = cm_start_io,
	.abort_srb = cm_abort_srb,
	.reset = cm_reset,
	.adapter_control = cm_adapter_control,
	.free_adapter = cm_free_adapter,
};

struct cm *cm_new(void)
{
	struct cm *m = calloc(1, sizeof(*m));

	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->block_size = 512;
	m->blocks = 2048;
	m->data_blocks = 2048;
	m->lbpme = m->lbpu = m->lbpws = m->lbprz = true;
	m->wce = true;
	m->vpd_b0 = m->vpd_b2 = true;
	return m;
}

int cm_start(struct cm *m)
{
	struct vs_port_config cfg = { .name = "cm", .default_timeout_ms = 60000 };

	m->data = calloc(m->data_blocks ? m->data_blocks : 1, m->block_size);
	m->prov = calloc(m->data_blocks ? m->data_blocks : 1, 1);
	m->port = vs_port_create(&cm_miniport, &cfg, m);
	if (!m->port)
		return -ENOMEM;
	return vs_port_lun_add(m->port, 0, NULL);
}

static void *async_main(void *arg)
{
	struct cm *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->async_stop) {
		if (!m->nheld) {
			pthread_cond_wait(&m->cv, &m->mu);
			continue;
		}
		struct vs_srb *srb = m->held[0];
		memmove(&m->held[0], &m->held[1], (size_t)(m->nheld - 1) * sizeof(srb));
		m->nheld--;
		uint32_t n = ++m->answered;
		pthread_mutex_unlock(&m->mu);
		if (m->chaos && n % m->chaos == 0) {
			struct cm_rule r = { .status = n % (2 * m->chaos) ? SAM_STAT_BUSY
			                                                 : SAM_STAT_CHECK_CONDITION,
			                     .key = SENSE_UNIT_ATTENTION,
			                     .asc_ascq = ASC_MODE_PARAMETERS_CHANGED,
			                     .descriptor = n % 3 == 0 };
			answer(m, srb, &r);
		} else {
			answer(m, srb, NULL);
		}
		vs_port_complete(srb);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

void cm_async_start(struct cm *m, uint32_t chaos)
{
	pthread_mutex_lock(&m->mu);
	m->async = true;
	m->chaos = chaos;
	pthread_mutex_unlock(&m->mu);
	pthread_create(&m->thread, NULL, async_main, m);
}

void cm_free(struct cm *m)
{
	if (m->async) {
		pthread_mutex_lock(&m->mu);
		m->async_stop = true;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	pthread_cond_destroy(&m->cv);
	if (m->port)
		vs_port_destroy(m->port);
	free(m->data);
	free(m->prov);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void cm_rule(struct cm *m, struct cm_rule r)
{
	pthread_mutex_lock(&m->mu);
	if (m->nrules < CM_RULES)
		m->rules[m->nrules++] = r;
	pthread_mutex_unlock(&m->mu);
}

int cm_count(struct cm *m, uint16_t opcode)
{
	int n = 0;

	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nlog; i++)
		n += opcode == CM_ANY || m->log[i].cdb[0] == opcode;
	pthread_mutex_unlock(&m->mu);
	return n;
}

const struct cm_cmd *cm_nth(struct cm *m, uint16_t opcode, int i)
{
	const struct cm_cmd *c = NULL;

	pthread_mutex_lock(&m->mu);
	for (int k = 0; k < m->nlog && !c; k++)
		if ((opcode == CM_ANY || m->log[k].cdb[0] == opcode) && i-- == 0)
			c = &m->log[k];
	pthread_mutex_unlock(&m->mu);
	return c;
}

int cm_held(struct cm *m)
{
	pthread_mutex_lock(&m->mu);
	int n = m->nheld;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void cm_finish(struct cm *m, int idx, const struct cm_rule *r)
{
	struct vs_srb *srb;

	pthread_mutex_lock(&m->mu);
	if (idx < 0 || idx >= m->nheld) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	srb = m->held[idx];
	memmove(&m->held[idx], &m->held[idx + 1], (size_t)(m->nheld - idx - 1) * sizeof(srb));
	m->nheld--;
	pthread_mutex_unlock(&m->mu);
	answer(m, srb, r);
	vs_port_complete(srb);
}

/* ---- harness ---- */

static uint64_t ch_now(void *ctx)
{
	struct ch *h = ctx;

	pthread_mutex_lock(&h->mu);
	uint64_t n = h->now_ns;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void ch_arm(void *ctx, uint64_t when)
{
	struct ch *h = ctx;

	pthread_mutex_lock(&h->mu);
	h->armed_ns = when;
	h->arms++;
	pthread_mutex_unlock(&h->mu);
}

static void ch_event(void *ctx, const struct vs_disk_event *ev)
{
	struct ch *h = ctx;

	pthread_mutex_lock(&h->mu);
	if (h->nevents < CH_EVENTS)
		h->events[h->nevents++] = *ev;
	pthread_mutex_unlock(&h->mu);
}

int ch_open_deadline(struct ch *h, struct cm *m, uint32_t depth, uint32_t max_srbs,
                     uint32_t max_iov, uint32_t deadline_ms)
{
	struct vs_disk_config cfg = {
		.lun = 0, .nexus_name = "class-test", .queue_depth = depth,
		.max_srbs = max_srbs, .max_iov = max_iov, .retry_deadline_ms = deadline_ms,
		.timer = { .arm = ch_arm, .now_ns = ch_now, .ctx = h },
		.event = ch_event, .event_ctx = h,
	};

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->m = m;
	h->now_ns = 1000000000ull;
	h->armed_ns = VS_DISK_TIMER_OFF;
	if (!m->port && cm_start(m) < 0)
		return -ENOMEM;
	cfg.port = m->port;
	h->disk = vs_disk_create(&cfg);
	if (!h->disk)
		return -ENOMEM;
	return vs_disk_probe_sync(h->disk);
}

int ch_open(struct ch *h, struct cm *m, uint32_t depth, uint32_t max_srbs, uint32_t max_iov)
{
	return ch_open_deadline(h, m, depth, max_srbs, max_iov, 0);
}

void ch_close(struct ch *h)
{
	if (h->disk)
		vs_disk_destroy(h->disk);
	h->disk = NULL;
	pthread_mutex_destroy(&h->mu);
}

bool ch_fire(struct ch *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t when = h->armed_ns;
	if (when == VS_DISK_TIMER_OFF) {
		pthread_mutex_unlock(&h->mu);
		return false;
	}
	if (when > h->now_ns)
		h->now_ns = when;
	h->armed_ns = VS_DISK_TIMER_OFF;
	pthread_mutex_unlock(&h->mu);
	vs_disk_timer_expired(h->disk);
	return true;
}

static void ch_done(struct vs_blk_request *req)
{
	struct ch_req *r = req->ctx;

	r->done++;
	r->result = req->result;
}

static struct ch_req *submit_rec(struct ch *h, struct ch_req *r, uint8_t op, uint32_t flags,
                                 uint64_t off, uint64_t len, const struct iovec *iov, int iovcnt)
{
	r->req = vs_disk_request_get(h->disk);
	if (!r->req) {
		free(r);
		return NULL;
	}
	r->req->op = op;
	r->req->flags = flags;
	r->req->offset = off;
	r->req->length = len;
	r->req->iov = iov;
	r->req->iovcnt = iovcnt;
	r->req->extents = r->extents;
	r->req->max_extents = CH_EXTENTS;
	r->req->done = ch_done;
	r->req->ctx = r;
	vs_disk_submit(h->disk, r->req);
	return r;
}

struct ch_req *ch_submit_iov(struct ch *h, uint8_t op, uint32_t flags, uint64_t off,
                             uint64_t len, const struct iovec *iov, int iovcnt)
{
	return submit_rec(h, calloc(1, sizeof(struct ch_req)), op, flags, off, len, iov, iovcnt);
}

struct ch_req *ch_submit(struct ch *h, uint8_t op, uint32_t flags, uint64_t off, uint64_t len,
                         void *buf)
{
	struct ch_req *r = calloc(1, sizeof(*r));

	r->iov1.iov_base = buf;
	r->iov1.iov_len = len;
	return submit_rec(h, r, op, flags, off, len, &r->iov1, buf ? 1 : 0);
}

void ch_put(struct ch_req *r)
{
	if (!r)
		return;
	vs_disk_request_put(r->req);
	free(r);
}

int ch_run(struct ch *h, uint8_t op, uint32_t flags, uint64_t off, uint64_t len, void *buf)
{
	struct ch_req *r = ch_submit(h, op, flags, off, len, buf);
	int rc;

	if (!r)
		return -ENOMEM;
	rc = r->done == 1 ? r->result : -999;
	ch_put(r);
	return rc;
}

int ch_event_count(struct ch *h, enum vs_disk_event_type type, uint16_t asc_ascq)
{
	int n = 0;

	pthread_mutex_lock(&h->mu);
	for (int i = 0; i < h->nevents; i++)
		n += h->events[i].type == type &&
		     (type != VS_DISK_EV_UNIT_ATTENTION || h->events[i].asc_ascq == asc_ascq);
	pthread_mutex_unlock(&h->mu);
	return n;
}
