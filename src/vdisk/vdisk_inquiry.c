/* SPDX-License-Identifier: MIT */
/*
 * INQUIRY (SPC-4 6.6): standard data and the vital product data pages a
 * direct-access device reports (SPC-4 7.8, SBC-3 6.5).
 */
#include <string.h>

#include "vdisk_int.h"

#define VPD_SUPPORTED   0x00
#define VPD_SERIAL      0x80
#define VPD_DEVICE_ID   0x83
#define VPD_BLOCK_LIMITS 0xb0
#define VPD_BLOCK_CHARS 0xb1
#define VPD_LBP         0xb2

static const uint8_t vpd_pages[] = {
	VPD_SUPPORTED, VPD_SERIAL, VPD_DEVICE_ID, VPD_BLOCK_LIMITS, VPD_BLOCK_CHARS, VPD_LBP,
};

/* Space-padded ASCII (SPC-4 4.4.1). */
static void put_ascii(uint8_t *p, const char *s, size_t width)
{
	size_t n = strlen(s);

	memset(p, ' ', width);
	memcpy(p, s, n < width ? n : width);
}

static uint32_t standard_inquiry(struct vdisk_lun *lun, uint8_t *d)
{
	/* SAM-5, SPC-4, SBC-3 (SPC-4 Table 144 version descriptors); the
	 * transport's, if the adapter was told it, follows */
	static const uint16_t versions[] = { 0x00a0, 0x0460, 0x04c0 };
	uint32_t len = 96;

	memset(d, 0, len);
	d[0] = TYPE_DISK;               /* qualifier 000b: LU connected */
	d[1] = lun->removable ? 0x80 : 0; /* RMB (SPC-4 6.6.2) */
	d[2] = 0x06;                    /* VERSION: SPC-4 */
	d[3] = 0x10 | 0x02;             /* HISUP, RESPONSE DATA FORMAT 2 */
	d[4] = (uint8_t)(len - 5);      /* ADDITIONAL LENGTH */
	d[5] = 0x08;                    /* 3PC: EXTENDED COPY; TPGS 00b, no PROTECT */
	d[7] = 0x02;                    /* CMDQUE */
	put_ascii(&d[8], lun->vendor, 8);
	put_ascii(&d[16], lun->product, 16);
	put_ascii(&d[32], lun->revision, 4);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		vd_put16(&d[58 + 2 * i], versions[i]);
	vd_put16(&d[58 + 2 * sizeof(versions) / sizeof(versions[0])], lun->ad->transport_version);
	return len;
}

static uint32_t vpd_supported(uint8_t *d)
{
	d[3] = sizeof(vpd_pages);
	memcpy(&d[4], vpd_pages, sizeof(vpd_pages));
	return 4 + sizeof(vpd_pages);
}

static uint32_t vpd_serial(struct vdisk_lun *lun, uint8_t *d)
{
	size_t n = strlen(lun->serial);

	memcpy(&d[4], lun->serial, n);
	d[3] = (uint8_t)n;
	return 4 + (uint32_t)n;
}

/* One designation descriptor header (SPC-4 7.8.6.1). */
static uint8_t *designator(uint8_t *p, uint8_t code_set, uint8_t assoc, uint8_t type, uint8_t len)
{
	p[0] = code_set;
	p[1] = (uint8_t)(assoc << 4 | type);
	p[2] = 0;
	p[3] = len;
	return p + 4;
}

static uint32_t vpd_device_id(struct vdisk_lun *lun, uint8_t *d)
{
	uint8_t *p = &d[4], *q;
	size_t n;

	/* NAA IEEE Registered Extended (NAA 6h), logical unit (SPC-4 7.8.6.6.5) */
	q = designator(p, 0x1, 0, 0x3, 16);
	memcpy(q, lun->naa, 16);
	p = q + 16;

	/* T10 vendor ID based (SPC-4 7.8.6.4): vendor + product + serial */
	n = 8 + 16 + strlen(lun->serial);
	q = designator(p, 0x2, 0, 0x1, (uint8_t)n);
	put_ascii(q, lun->vendor, 8);
	put_ascii(q + 8, lun->product, 16);
	memcpy(q + 24, lun->serial, strlen(lun->serial));
	p = q + n;

	/* Relative target port (SPC-4 7.8.6.7), association: target port */
	q = designator(p, 0x1, 1, 0x4, 4);
	memset(q, 0, 4);
	vd_put16(q + 2, lun->ad->rel_target_port_id);
	p = q + 4;

	/* Target port group (SPC-4 7.8.6.8): one group, 0 */
	q = designator(p, 0x1, 1, 0x5, 4);
	memset(q, 0, 4);
	p = q + 4;

	/* SCSI name string of the target device (SPC-4 7.8.6.11), UTF-8,
	 * NUL-terminated and padded to a multiple of 4 */
	n = strlen(lun->ad->target_name);
	if (n) {
		size_t padded = (n + 1 + 3) & ~(size_t)3;

		q = designator(p, 0x3, 2, 0x8, (uint8_t)padded);
		memset(q, 0, padded);
		memcpy(q, lun->ad->target_name, n);
		p = q + padded;
	}
	vd_put16(&d[2], (uint16_t)(p - &d[4]));
	return (uint32_t)(p - d);
}

static uint32_t vpd_block_limits(struct vdisk_lun *lun, uint8_t *d)
{
	uint32_t max_blocks = VDISK_MAX_XFER_BYTES >> lun->block_shift;
	uint32_t caw = VDISK_ENGINE_BUF_BYTES >> lun->block_shift;
	uint32_t opt = lun->caps.optimal_io_size >> lun->block_shift;

	if (caw > VDISK_MAX_CAW_BLOCKS)
		caw = VDISK_MAX_CAW_BLOCKS;
	vd_put16(&d[2], 0x3c);
	d[4] = 0x01;                            /* WSNZ: 0 blocks is not "to the end" */
	d[5] = (uint8_t)caw;                    /* MAXIMUM COMPARE AND WRITE LENGTH */
	/* OPTIMAL TRANSFER LENGTH GRANULARITY: one physical block */
	vd_put16(&d[6], (uint16_t)(1u << lun->phys_shift));
	vd_put32(&d[8], max_blocks);            /* MAXIMUM TRANSFER LENGTH */
	vd_put32(&d[12], opt && opt <= max_blocks ? opt : max_blocks); /* OPTIMAL TRANSFER LENGTH */
	vd_put32(&d[16], 0);                    /* MAXIMUM PREFETCH LENGTH: no cache */
	if (lun->caps.can_unmap) {
		uint32_t gran = lun->caps.unmap_granularity >> lun->block_shift;
		uint32_t per_phys = 1u << lun->phys_shift;

		vd_put32(&d[20], VDISK_MAX_UNMAP_LBAS);
		vd_put32(&d[24], VDISK_MAX_UNMAP_DESC);
		/* OPTIMAL UNMAP GRANULARITY: deallocation happens in whole
		 * physical blocks (and whole backend units, if larger) */
		vd_put32(&d[28], gran > per_phys ? gran : per_phys);
		/* UGAVALID=1, UNMAP GRANULARITY ALIGNMENT 0: granules start at
		 * LBA 0, as physical blocks do (LOWEST ALIGNED LBA 0) */
		vd_put32(&d[32], 0x80000000u);
	}
	vd_put64(&d[36], VDISK_MAX_WS_BLOCKS);  /* MAXIMUM WRITE SAME LENGTH */
	/* SBC-4 6.6.4: WRITE ATOMIC(16) up to the transfer limit, any
	 * alignment and granularity (0), no atomic boundaries */
	vd_put32(&d[44], vdisk_max_atomic_blocks(lun)); /* MAXIMUM ATOMIC TRANSFER LENGTH */
	return 4 + 0x3c;
}

static uint32_t vpd_block_chars(struct vdisk_lun *lun, uint8_t *d)
{
	vd_put16(&d[2], 0x3c);
	/* MEDIUM ROTATION RATE: 0001h non-rotating; 0000h not reported */
	vd_put16(&d[4], lun->caps.is_rotational ? 0 : 1);
	/* SBC-4 6.6.2 WABEREQ / WACEREQ 01b: after a BLOCK / CRYPTO ERASE
	 * sanitize, reads complete GOOD (and return zeroes: LBPRZ) */
	d[7] = (uint8_t)((vs_vdisk_avail_unmap(lun) ? 0x40 : 0) | 0x10);
	return 4 + 0x3c;
}

static uint32_t vpd_lbp(struct vdisk_lun *lun, uint8_t *d)
{
	vd_put16(&d[2], 4);
	if (lun->caps.can_unmap) {
		d[5] = 0x80 | 0x40 | 0x20;      /* LBPU, LBPWS, LBPWS10 */
		if (lun->caps.unmap_zeroes)
			d[5] |= 0x04;           /* LBPRZ */
		d[6] = 0x02;                    /* PROVISIONING TYPE: thin */
	}
	return 8;
}

void vs_vdisk_cmd_inquiry(struct vdisk_lun *lun, struct vs_srb *srb)
{
	uint8_t d[512];
	bool evpd = srb->cdb[1] & 0x01;
	uint8_t page = srb->cdb[2];
	uint32_t alloc = vd_get16(&srb->cdb[3]);
	uint32_t len;

	memset(d, 0, sizeof(d));
	if (!evpd) {
		if (page) {
			/* SPC-4 6.6.1: PAGE CODE must be zero when EVPD is zero */
			vs_srb_set_invalid_field(srb, true, 2, -1);
			vs_port_complete(srb);
			return;
		}
		len = standard_inquiry(lun, d);
	} else {
		d[0] = TYPE_DISK;
		d[1] = page;
		switch (page) {
		case VPD_SUPPORTED:    len = vpd_supported(d); break;
		case VPD_SERIAL:       len = vpd_serial(lun, d); break;
		case VPD_DEVICE_ID:    len = vpd_device_id(lun, d); break;
		case VPD_BLOCK_LIMITS: len = vpd_block_limits(lun, d); break;
		case VPD_BLOCK_CHARS:  len = vpd_block_chars(lun, d); break;
		case VPD_LBP:          len = vpd_lbp(lun, d); break;
		default:
			vs_srb_set_invalid_field(srb, true, 2, -1);
			vs_port_complete(srb);
			return;
		}
	}
	vs_vdisk_data_in(srb, d, len, alloc);
	vs_port_complete(srb);
}
