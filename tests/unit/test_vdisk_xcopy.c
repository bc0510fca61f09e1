/* SPDX-License-Identifier: MIT */
/*
 * EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 6.3, 6.4, 6.18):
 * copies inside a LUN and between LUNs of one vdisk adapter, larger than
 * the engine buffer; every parameter-list error with its exact sense;
 * COPY ABORTED for segment errors; held copy status per I_T nexus and
 * list identifier, dropped at the I_T nexus loss.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_vdisk_helpers.h"

#define OP_XCOPY 0x83
#define OP_RCR   0x84
#define SENSE_COPY_ABORTED 0x0a

struct xc {
	uint8_t p[16 + 32 * 20 + 28 * 130];
	uint32_t ntgt, nseg;
	uint32_t len;
};

static void xc_begin(struct xc *x, uint8_t list_id, uint8_t usage)
{
	memset(x, 0, sizeof(*x));
	x->p[0] = list_id;
	x->p[1] = (uint8_t)(usage << 3);
}

/* Identification descriptor CSCD descriptor naming a 16-byte NAA. */
static void xc_target(struct xc *x, const uint8_t naa[16], uint8_t byte1, uint32_t bs)
{
	uint8_t *d = &x->p[16 + 32 * x->ntgt++];

	d[0] = 0xe4;
	d[1] = byte1;
	d[4] = 0x01;            /* binary */
	d[5] = 0x03;            /* LU association, NAA */
	d[7] = 16;
	memcpy(&d[8], naa, 16);
	put_be(&d[29], bs, 3);
}

static void xc_seg(struct xc *x, uint8_t type, uint16_t si, uint16_t di, uint16_t n, uint64_t slba,
                   uint64_t dlba)
{
	uint8_t *s = &x->p[16 + 32 * x->ntgt + 28 * x->nseg++];

	s[0] = type;
	put_be(&s[2], 0x18, 2);
	put_be(&s[4], si, 2);
	put_be(&s[6], di, 2);
	put_be(&s[10], n, 2);
	put_be(&s[12], slba, 8);
	put_be(&s[20], dlba, 8);
}

static uint32_t xc_end(struct xc *x)
{
	put_be(&x->p[2], 32 * x->ntgt, 2);
	put_be(&x->p[8], 28 * x->nseg, 4);
	x->len = 16 + 32 * x->ntgt + 28 * x->nseg;
	return x->len;
}

static void xcopy_on(struct vt *t, struct vs_nexus *n, struct xc *x, uint32_t plen,
                     struct tf_result *r)
{
	uint8_t cdb[16] = { OP_XCOPY };

	put_be(&cdb[10], plen, 4);
	assert_int_equal(tf_exec(t->tf, n, 0, cdb, 16, plen ? VS_DIR_TO_DEVICE : VS_DIR_NONE,
	                         plen ? x->p : NULL, plen, r), 0);
	assert_int_equal(r->srb_status, VS_SRB_SUCCESS);
}

static void xcopy(struct vt *t, struct xc *x, uint32_t plen, struct tf_result *r)
{
	xcopy_on(t, t->n, x, plen, r);
}

static void rcr_on(struct vt *t, struct vs_nexus *n, uint8_t sa, uint8_t list_id, uint8_t *d,
                   uint32_t len, struct tf_result *r)
{
	uint8_t cdb[16] = { OP_RCR, sa, list_id };

	put_be(&cdb[10], len, 4);
	assert_int_equal(tf_exec(t->tf, n, 0, cdb, 16, VS_DIR_FROM_DEVICE, d, len, r), 0);
}

static void lun_naa(struct vt *t, uint64_t lun, uint8_t naa[16])
{
	uint8_t d[255];
	struct tf_result r;

	assert_int_equal(tf_exec(t->tf, t->n, lun, (uint8_t[6]){ INQUIRY, 1, 0x83, 0, 255, 0 }, 6,
	                         VS_DIR_FROM_DEVICE, d, sizeof(d), &r), 0);
	assert_good(&r);
	assert_int_equal(d[5] & 0x0f, 3);       /* first designator: NAA */
	assert_int_equal(d[7], 16);
	memcpy(naa, &d[8], 16);
}

static void add_lun(struct vt *t, uint64_t n, const char *size, uint32_t bs, bool ro)
{
	struct vs_vdisk_lun_config cfg = {
		.bdev = vt_ram(size), .block_size = bs, .readonly = ro, .serial = "X",
	};
	char id[32];

	snprintf(id, sizeof(id), "xc-lun-%llu", (unsigned long long)n);
	cfg.device_id = id;
	assert_int_equal(vs_port_lun_add(tf_port(t->tf), n, &cfg), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n, n), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n, 0), 0);   /* REPORTED LUNS DATA HAS CHANGED */
	assert_int_equal(tf_clear_ua(t->tf, t->n2, n), 0);
	assert_int_equal(tf_clear_ua(t->tf, t->n2, 0), 0);
}

static void rw_on(struct vt *t, uint64_t lun, uint8_t op, uint64_t lba, uint32_t n, uint32_t bs,
                  void *buf)
{
	uint8_t cdb[16];
	struct tf_result r;
	size_t l = cdb_rw(cdb, op, lba, n, 0);

	vt_exec_on(t, t->n, lun, cdb, l, op == WRITE_16 ? VS_DIR_TO_DEVICE : VS_DIR_FROM_DEVICE,
	           buf, n * bs, &r);
	assert_good(&r);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static uint16_t field_ptr(const struct tf_result *r)
{
	assert_true(r->sense[15] & 0x80);       /* SKSV */
	return (uint16_t)(r->sense[16] << 8 | r->sense[17]);
}

static struct vt T;
static uint8_t naa0[16], naa1[16], naa2[16], naa3[16];

static int setup(void **state)
{
	(void)state;
	vt_setup(&T, 512, "4M", false);
	add_lun(&T, 1, "1M", 512, false);
	add_lun(&T, 2, "1M", 4096, false);
	add_lun(&T, 3, "1M", 512, true);
	for (uint64_t l = 0; l < 4; l++) {
		assert_int_equal(tf_clear_ua(T.tf, T.n, l), 0);
		assert_int_equal(tf_clear_ua(T.tf, T.n2, l), 0);
	}
	lun_naa(&T, 0, naa0);
	lun_naa(&T, 1, naa1);
	lun_naa(&T, 2, naa2);
	lun_naa(&T, 3, naa3);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vt_teardown(&T);
	return 0;
}

static void test_inquiry_and_params(void **state)
{
	uint8_t d[64];
	struct tf_result r;
	(void)state;

	vt_exec(&T, (uint8_t[6]){ INQUIRY, 0, 0, 0, 36, 0 }, 6, VS_DIR_FROM_DEVICE, d, 36, &r);
	assert_good(&r);
	assert_true(d[5] & 0x08);               /* 3PC */
	rcr_on(&T, T.n, 0x03, 0, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 46);
	assert_int_equal(get_be(d, 4), 42);
	assert_int_equal(get_be(&d[8], 2), 16);         /* targets */
	assert_int_equal(get_be(&d[10], 2), 64);        /* segments */
	assert_int_equal(get_be(&d[12], 4), 4096);      /* descriptor list */
	assert_int_equal(get_be(&d[16], 4), 0xffffu * 512);
	assert_int_equal(get_be(&d[20], 4), 0);         /* no inline data */
	assert_int_equal(d[37], 9);
	assert_int_equal(d[43], 2);
	assert_int_equal(d[44], 0x02);
	assert_int_equal(d[45], 0xe4);
	/* RECEIVE DATA (held data) is not supported */
	rcr_on(&T, T.n, 0x01, 0, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 1, 4);
}

static void test_copy_within_and_across(void **state)
{
	static uint8_t a[3000 * 512], b[3000 * 512];
	struct xc x;
	struct tf_result r;
	(void)state;

	/* 3000 blocks: more than the 1 MiB engine buffer */
	fill(a, sizeof(a), 7);
	rw_on(&T, 0, WRITE_16, 0, 3000, 512, a);
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 3000, 0, 4000);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);
	rw_on(&T, 0, READ_16, 4000, 3000, 512, b);
	assert_memory_equal(a, b, sizeof(a));

	/* two segments, LUN 0 → LUN 1 and LUN 1 → LUN 1 */
	xc_begin(&x, 2, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, naa1, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 100, 10, 0);
	xc_seg(&x, 0x02, 1, 1, 50, 0, 500);
	xc_seg(&x, 0x02, 0, 1, 0, 0, 0);        /* zero blocks: nothing */
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);
	rw_on(&T, 1, READ_16, 0, 100, 512, b);
	assert_memory_equal(b, a + 10 * 512, 100 * 512);
	rw_on(&T, 1, READ_16, 500, 50, 512, b);
	assert_memory_equal(b, a + 10 * 512, 50 * 512);

	/* a parameter list length of 0 copies nothing and is not an error */
	xcopy(&T, &x, 0, &r);
	assert_good(&r);
}

static void test_parameter_list_errors(void **state)
{
	struct xc x;
	struct tf_result r;
	(void)state;

	/* truncated: the lists run past the parameter list length */
	xc_begin(&x, 1, 0);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x) - 1, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	xcopy(&T, &x, 16 + 31, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	xcopy(&T, &x, 8, &r);                   /* not even a header */
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);

	/* 17 CSCD descriptors: TOO MANY TARGET DESCRIPTORS */
	xc_begin(&x, 1, 0);
	for (int i = 0; i < 17; i++)
		xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, 0x2606);

	/* 65 segments: TOO MANY SEGMENT DESCRIPTORS */
	xc_begin(&x, 1, 0);
	xc_target(&x, naa0, 0, 512);
	for (int i = 0; i < 65; i++)
		xc_seg(&x, 0x02, 0, 0, 1, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, 0x2608);

	/* more than the MAXIMUM DESCRIPTOR LIST LENGTH: PARAMETER LIST LENGTH ERROR */
	xc_begin(&x, 1, 0);
	for (int i = 0; i < 17; i++)
		xc_target(&x, naa0, 0, 512);
	for (int i = 0; i < 127; i++)
		xc_seg(&x, 0x02, 0, 0, 1, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);

	/* Fibre Channel N_Port_Name CSCD descriptor (E0h): unsupported */
	xc_begin(&x, 1, 0);
	xc_target(&x, naa0, 0, 512);
	x.p[16] = 0xe0;
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, 0x2607);
	assert_int_equal(field_ptr(&r), 16);

	/* stream-to-stream segment (03h): unsupported */
	xc_begin(&x, 1, 0);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x03, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, 0x2609);
	assert_int_equal(field_ptr(&r), 48);

	/* PERIPHERAL DEVICE TYPE other than a block device */
	xc_begin(&x, 1, 0);
	xc_target(&x, naa0, 0x01, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(field_ptr(&r), 17);
	/* SPC-4: LU ID TYPE is ignored in an E4h descriptor, NUL is obsolete */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0x80, 512);
	xc_target(&x, naa0, 0x20, 512);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);

	/* LIST ID USAGE 01b is reserved; 11b needs list identifier 0 */
	xc_begin(&x, 1, 1);
	xc_target(&x, naa0, 0, 512);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	xc_begin(&x, 1, 3);
	xc_target(&x, naa0, 0, 512);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(field_ptr(&r), 0);
	/* inline data is not supported */
	xc_begin(&x, 0, 3);
	xc_target(&x, naa0, 0, 512);
	xc_end(&x);
	put_be(&x.p[12], 4, 4);
	xcopy(&T, &x, x.len + 4, &r);
	assert_sense(&r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	assert_int_equal(field_ptr(&r), 12);
}

static void test_segment_errors(void **state)
{
	static uint8_t a[16 * 512];
	static const uint8_t nobody[16] = { 0x65, 1, 2, 3 };
	struct xc x;
	struct tf_result r;
	(void)state;

	/* a segment naming CSCD descriptor 1 of 1 */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, 0x0804);
	assert_int_equal(field_ptr(&r), 48 + 6);

	/* an NAA that is no LUN of this target */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, nobody, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, 0x0d02);
	assert_int_equal(field_ptr(&r), 16 + 32);

	/* past the end of the destination: nothing written */
	fill(a, sizeof(a), 3);
	rw_on(&T, 0, WRITE_16, 0, 16, 512, a);
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, naa1, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 16, 0, 2048 - 1);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, ASC_NO_ADDITIONAL_SENSE);
	assert_int_equal(field_ptr(&r), 80 + 20);  /* DESTINATION LBA */
	/* ... and of the source */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa1, 0, 512);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 16, 2040, 0);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, ASC_NO_ADDITIONAL_SENSE);
	assert_int_equal(field_ptr(&r), 80 + 12);

	/* a write-protected destination */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, naa3, 0, 512);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 0);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, ASC_WRITE_PROTECTED);

	/* different block lengths (512 → 4096) */
	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, naa2, 0, 4096);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 0);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

static void test_receive_copy_results(void **state)
{
	uint8_t d[512];
	struct xc x;
	struct tf_result r;
	(void)state;

	/* nothing held for list 9 */
	rcr_on(&T, T.n, 0x00, 9, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 2, 7);
	rcr_on(&T, T.n, 0x04, 9, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 2, 7);

	/* a held copy (LIST ID USAGE 00b): completed, 1 segment, 64 KiB */
	xc_begin(&x, 9, 0);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 128, 0, 1000);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);
	rcr_on(&T, T.n, 0x00, 9, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 12);
	assert_int_equal(get_be(d, 4), 8);
	assert_int_equal(d[4], 0x01);           /* completed without errors */
	assert_int_equal(get_be(&d[5], 2), 1);
	assert_int_equal(d[7], 0x00);           /* bytes */
	assert_int_equal(get_be(&d[8], 4), 128 * 512);
	rcr_on(&T, T.n, 0x04, 9, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 60);
	assert_int_equal(d[56], SAM_STAT_GOOD);
	assert_int_equal(get_be(&d[58], 2), 0);
	/* the list identifier belongs to this I_T nexus only */
	rcr_on(&T, T.n2, 0x00, 9, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 2, 7);

	/* a failed copy with the same list identifier replaces it */
	xc_begin(&x, 9, 0);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xc_seg(&x, 0x02, 0, 1, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_sense(&r, SENSE_COPY_ABORTED, 0x0804);
	rcr_on(&T, T.n, 0x00, 9, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(d[4], 0x02);           /* completed with errors */
	assert_int_equal(get_be(&d[5], 2), 1);  /* the first segment was done */
	assert_int_equal(get_be(&d[8], 4), 8 * 512);
	rcr_on(&T, T.n, 0x04, 9, d, sizeof(d), &r);
	assert_good(&r);
	assert_int_equal(d[56], SAM_STAT_CHECK_CONDITION);
	assert_true(get_be(&d[58], 2) >= 18);
	assert_int_equal(d[60] & 0x7f, 0x70);
	assert_int_equal(d[62] & 0x0f, SENSE_COPY_ABORTED);
	assert_int_equal(d[72], 0x08);
	assert_int_equal(d[73], 0x04);
	/* allocation length shorter than the data: truncated */
	rcr_on(&T, T.n, 0x00, 9, d, 6, &r);
	assert_good(&r);
	assert_int_equal(r.xfer_len, 6);

	/* LIST ID USAGE 10b: nothing is held */
	xc_begin(&x, 10, 2);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);
	rcr_on(&T, T.n, 0x00, 10, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 2, 7);

	/* the I_T nexus loss drops held statuses, even if the same initiator
	 * port logs in again at once */
	xc_begin(&x, 11, 0);
	xc_target(&x, naa0, 0, 512);
	xc_seg(&x, 0x02, 0, 0, 8, 0, 100);
	xcopy_on(&T, T.n2, &x, xc_end(&x), &r);
	assert_good(&r);
	rcr_on(&T, T.n2, 0x00, 11, d, sizeof(d), &r);
	assert_good(&r);
	vs_port_nexus_close(tf_port(T.tf), T.n2);
	T.n2 = tf_nexus(T.tf, "iqn.2024-01.test:init-b,i,0x2");
	for (uint64_t l = 0; l < 4; l++)
		assert_int_equal(tf_clear_ua(T.tf, T.n2, l), 0);
	rcr_on(&T, T.n2, 0x00, 11, d, sizeof(d), &r);
	assert_invalid_cdb(&r, 2, 7);
}

/* LUNs that took part in copies can still be removed (no reference is left). */
static void test_remove_after_copy(void **state)
{
	struct xc x;
	struct tf_result r;
	(void)state;

	xc_begin(&x, 1, 2);
	xc_target(&x, naa0, 0, 512);
	xc_target(&x, naa1, 0, 512);
	xc_seg(&x, 0x02, 1, 0, 8, 0, 100);
	xcopy(&T, &x, xc_end(&x), &r);
	assert_good(&r);
	assert_int_equal(vs_port_lun_remove(tf_port(T.tf), 1, false), 0);
	assert_int_equal(tf_clear_ua(T.tf, T.n, 0), 0);        /* REPORTED LUNS DATA HAS CHANGED */
	/* its NAA names nothing now */
	xcopy(&T, &x, x.len, &r);
	assert_sense(&r, SENSE_COPY_ABORTED, 0x0d02);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inquiry_and_params),
		cmocka_unit_test(test_copy_within_and_across),
		cmocka_unit_test(test_parameter_list_errors),
		cmocka_unit_test(test_segment_errors),
		cmocka_unit_test(test_receive_copy_results),
		cmocka_unit_test(test_remove_after_copy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
