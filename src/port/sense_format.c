/* SPDX-License-Identifier: MIT */
/*
 * Which sense format each logical unit wants, and the SRB sense helpers
 * that follow it.
 *
 * SPC-4 4.5.1 / 7.5.8: the D_SENSE bit of a logical unit's control mode
 * page selects descriptor format (1) or fixed format (0) for the sense
 * data it returns with CHECK CONDITION, whoever builds it.  The mode page
 * belongs to the miniport (it answers MODE SENSE / MODE SELECT); it tells
 * the port what D_SENSE says with vs_port_lun_set_sense_format, and the
 * port keeps it in one atomic flag per LUN.  So the sense the port makes
 * itself (unit attentions, LOGICAL UNIT NOT SUPPORTED for a LUN on its way
 * out, timeouts), the miniport's and the fabric's all come out in the same
 * format.  The flag is read with one relaxed load: no lock on the I/O path.
 *
 * A LUN number with no logical unit behind it has no control mode page, so
 * its sense (LOGICAL UNIT NOT SUPPORTED, SAM-5 5.9.2) is fixed format, the
 * format every initiator reads and the default of D_SENSE; Linux's own
 * target (LIO, target_sense_desc_format) does the same without a device.
 */
#include "port_int.h"

void vs_port_lun_set_sense_format(struct vs_port_lun *lun, bool descriptor)
{
	if (!port_arg(lun, "lun_set_sense_format: lun"))
		return;
	atomic_store_explicit(&lun->sense_desc, descriptor, memory_order_relaxed);
}

bool vs_port_lun_sense_descriptor(struct vs_port *port, uint64_t lun)
{
	return port && port_lun_sense_desc(port_lun_slot(port, lun));
}

/*
 * vs_port_submit notes the format of the LUN the SRB is addressed to
 * (port_lun_sense_desc) in the SRB, before anyone may build its sense and
 * never again: the miniport reads it without a lock, and one command's
 * sense has one format even if a MODE SELECT changes D_SENSE meanwhile
 * (the change is for the commands that follow it).  An SRB the port never
 * saw (a test's own) is fixed format.
 */
bool vs_srb_sense_descriptor(const struct vs_srb *srb)
{
	return srb->priv.sense_desc;
}

void vs_srb_set_sense_data(struct vs_srb *srb, const struct vs_sense *s)
{
	srb->srb_status = VS_SRB_SUCCESS;
	srb->scsi_status = SAM_STAT_CHECK_CONDITION;
	srb->sense_len = (uint8_t)vs_sense_build(srb->sense, sizeof(srb->sense),
	                                         vs_srb_sense_descriptor(srb), s);
}

void vs_srb_set_sense(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq)
{
	struct vs_sense s = { .key = key, .asc_ascq = asc_ascq };

	vs_srb_set_sense_data(srb, &s);
}

void vs_srb_set_invalid_field(struct vs_srb *srb, bool in_cdb, uint16_t byte, int bit)
{
	struct vs_sense s = {
		.key = SENSE_ILLEGAL_REQUEST,
		.asc_ascq = in_cdb ? ASC_INVALID_FIELD_IN_CDB : ASC_INVALID_FIELD_IN_PARAMETER_LIST,
	};

	vs_sense_field_pointer(&s, in_cdb, byte, bit);
	vs_srb_set_sense_data(srb, &s);
}

/* Read back what is there, add INFORMATION, lay it out again in the same
 * format: the builder stays the only code that places sense bytes. */
void vs_srb_set_sense_info(struct vs_srb *srb, uint64_t info)
{
	struct vs_sense s;
	bool desc = vs_sense_is_descriptor(srb->sense, srb->sense_len);

	if (!vs_sense_parse(srb->sense, srb->sense_len, &s))
		return;
	s.info_valid = true;
	s.info = info;
	srb->sense_len = (uint8_t)vs_sense_build(srb->sense, sizeof(srb->sense), desc, &s);
}
