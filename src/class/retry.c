/* SPDX-License-Identifier: MIT */
/*
 * The retry table: what one finished SRB means for its piece (class.h has
 * the same table for users).  Status and sense meanings: SAM-5 5.3.1
 * (status codes), SPC-4 4.5.6 (sense keys) and Annex D (ASC/ASCQ).  What
 * is worth retrying follows ClassPnP's ClassInterpretSenseInfo and Linux's
 * scsi_check_sense: a unit attention is news, not a failure; BUSY, TASK
 * SET FULL and "becoming ready" pass with time; the rest is an answer.
 */
#include <errno.h>

#include "class_int.h"

#define ANY 0x100       /* matches every ASC / ASCQ */

struct sense_rule {
	uint8_t  key;
	uint16_t asc, ascq;     /* or ANY */
	uint8_t  action;        /* enum class_action */
	int      err;
};

/* First match wins, so specific ASCs come before their key's catch-all. */
static const struct sense_rule sense_rules[] = {
	{ SENSE_NO_SENSE,        ANY,  ANY,  ACT_RETRY_NOW, -EIO },
	{ SENSE_RECOVERED_ERROR, ANY,  ANY,  ACT_DONE,      0 },
	{ SENSE_NOT_READY,       0x04, 0x01, ACT_BACKOFF,   -ETIMEDOUT },
	{ SENSE_NOT_READY,       0x3a, ANY,  ACT_FAIL,      -ENOMEDIUM },
	{ SENSE_NOT_READY,       ANY,  ANY,  ACT_FAIL,      -EIO },
	{ SENSE_MEDIUM_ERROR,    ANY,  ANY,  ACT_FAIL,      -EIO },
	{ SENSE_HARDWARE_ERROR,  ANY,  ANY,  ACT_FAIL,      -EIO },
	{ SENSE_ILLEGAL_REQUEST, 0x20, 0x00, ACT_FAIL,      -EOPNOTSUPP },
	{ SENSE_ILLEGAL_REQUEST, 0x21, 0x00, ACT_FAIL,      -EINVAL },
	{ SENSE_ILLEGAL_REQUEST, 0x25, 0x00, ACT_FAIL,      -ENODEV },
	{ SENSE_ILLEGAL_REQUEST, ANY,  ANY,  ACT_FAIL,      -EINVAL },
	{ SENSE_UNIT_ATTENTION,  ANY,  ANY,  ACT_RETRY_NOW, -EIO },
	{ SENSE_DATA_PROTECT,    0x27, 0x07, ACT_FAIL,      -ENOSPC },
	{ SENSE_DATA_PROTECT,    0x27, ANY,  ACT_FAIL,      -EROFS },
	{ SENSE_DATA_PROTECT,    ANY,  ANY,  ACT_FAIL,      -EACCES },
	{ SENSE_BLANK_CHECK,     ANY,  ANY,  ACT_FAIL,      -EIO },
	{ SENSE_ABORTED_COMMAND, ANY,  ANY,  ACT_RETRY_NOW, -EIO },
	{ SENSE_MISCOMPARE,      ANY,  ANY,  ACT_FAIL,      -EILSEQ },
};

static bool field_matches(uint16_t rule, uint8_t v)
{
	return rule == ANY || rule == v;
}

/* SPC-4 4.5.1 response codes 71h (fixed) and 73h (descriptor) */
static bool is_deferred(const struct vs_srb *srb)
{
	uint8_t code = srb->sense_len ? srb->sense[0] & 0x7f : 0;

	return code == 0x71 || code == 0x73;
}

static void classify_sense(const struct vs_srb *srb, struct class_verdict *v)
{
	struct vs_sense s;
	uint8_t asc, ascq;

	if (!vs_sense_parse(srb->sense, srb->sense_len, &s)) {
		v->action = ACT_FAIL;   /* CHECK CONDITION we cannot read */
		v->err = -EIO;
		return;
	}
	asc = VS_ASC(s.asc_ascq);
	ascq = VS_ASCQ(s.asc_ascq);
	if (is_deferred(srb)) {
		/* SPC-4 4.5.5: a deferred error is about an earlier command;
		 * this one did not run, so it may go again (as Linux does). */
		v->action = ACT_RETRY_NOW;
		v->err = -EIO;
		return;
	}
	for (size_t i = 0; i < sizeof(sense_rules) / sizeof(sense_rules[0]); i++) {
		const struct sense_rule *r = &sense_rules[i];

		if (r->key != s.key || !field_matches(r->asc, asc) || !field_matches(r->ascq, ascq))
			continue;
		v->action = r->action;
		v->err = r->err;
		if (s.key == SENSE_UNIT_ATTENTION) {
			v->unit_attention = true;
			v->asc_ascq = s.asc_ascq;
		}
		v->invalid_field_in_cdb = s.key == SENSE_ILLEGAL_REQUEST && asc == 0x24;
		return;
	}
	v->action = ACT_FAIL;       /* reserved or vendor sense keys */
	v->err = -EIO;
}

static void classify_status(const struct vs_srb *srb, struct class_verdict *v)
{
	switch (srb->scsi_status) {
	case SAM_STAT_GOOD:
	case SAM_STAT_CONDITION_MET:
		v->action = ACT_DONE;
		break;
	case SAM_STAT_CHECK_CONDITION:
		classify_sense(srb, v);
		break;
	case SAM_STAT_BUSY:
	case SAM_STAT_TASK_SET_FULL:
		v->action = ACT_BACKOFF;
		v->err = -ETIMEDOUT;
		break;
	case SAM_STAT_TASK_ABORTED:
		/* SAM-5 5.6: another I_T nexus's task management aborted it
		 * (TAS=1); nothing is wrong with the command itself */
		v->action = ACT_RETRY_NOW;
		v->err = -EIO;
		break;
	case SAM_STAT_RESERVATION_CONFLICT:
		v->action = ACT_FAIL;
		v->err = -EBADE;
		break;
	default:
		v->action = ACT_FAIL;   /* ACA ACTIVE, obsolete or reserved codes */
		v->err = -EIO;
		break;
	}
}

void vs_class_classify(const struct vs_srb *srb, struct class_verdict *v)
{
	*v = (struct class_verdict){ .action = ACT_FAIL, .err = -EIO };
	switch (srb->srb_status) {
	case VS_SRB_SUCCESS:
		classify_status(srb, v);
		break;
	case VS_SRB_BUS_RESET:
		v->action = ACT_RETRY_NOW;      /* a reset elsewhere cleared it */
		break;
	case VS_SRB_ABORTED:
		v->err = -ECANCELED;            /* our own nexus's abort: do not resend */
		break;
	case VS_SRB_TIMEOUT:
		v->err = -ETIMEDOUT;
		break;
	case VS_SRB_NO_DEVICE:
		v->err = -ENODEV;
		break;
	default:
		break;                          /* VS_SRB_ERROR and anything unknown */
	}
}
