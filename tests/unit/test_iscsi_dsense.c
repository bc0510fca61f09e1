/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI fabric's own sense follows the LUN's D_SENSE too (SPC-4
 * 4.5.1): after MODE SELECT sets it, a Data-Out that breaks the rules
 * (RFC 7143 §11.7.4) and the SCSI asynchronous event (§11.9.4) carry
 * descriptor-format sense, as does the port's unit attention that follows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "iscsi_harness.h"
#include "test_sense_check.h"
#include "vstor/port.h"

#define LEN 16384u

static uint8_t out[LEN];

/* rx holds a PDU with SenseLength + sense data (§11.4.7.2, §11.9.4). */
static void expect_rx_desc_sense(uint8_t key, uint16_t asc_ascq)
{
	uint16_t n = iscsi_get_be16(rx.data);

	assert_int_equal(rx.dlen, 2u + n);
	assert_desc_sense(rx.data + 2, n, key, asc_ascq);
}

static void set_d_sense(struct cl *cl)
{
	uint8_t ms[6] = { MODE_SENSE_6, 0x08, 0x0a, 0, 255, 0 }, d[255], p[16];
	uint8_t sel[6] = { MODE_SELECT_6, 0x10, 0, 0, 16, 0 };
	struct result r;

	exec(cl, ms, 6, ISCSI_CMD_READ, sizeof(d), NULL, d, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	memset(p, 0, 4);
	memcpy(&p[4], &d[4], 12);
	p[4] &= 0x7f;
	p[4 + 2] |= 0x04;                       /* D_SENSE */
	exec(cl, sel, 6, ISCSI_CMD_WRITE, 16, p, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
}

static void test_fabric_sense_follows_d_sense(void **state)
{
	struct fx *f = *state;
	struct login_opts o = { .first_burst = 4096, .initial_r2t = true };
	struct cl *cl = new_client(f, &o);
	uint8_t tur[6] = { TEST_UNIT_READY };
	uint64_t size = 32u << 20;
	struct result r;

	clear_ua(cl);
	set_d_sense(cl);
	assert_true(vs_port_lun_sense_descriptor(f->port, 0));

	/* DataSN 1 where 0 is due: DATA PHASE ERROR, built by the fabric */
	uint32_t ttt = write_until_r2t(cl, 0x100, 0, LEN, out, 4096);
	send_data_out(cl, 0x100, ttt, 1, 4096, out, 4096, false);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_SCSI_RESP);
	assert_int_equal(rx.bhs[3], SAM_STAT_CHECK_CONDITION);
	cl->exp_statsn++;
	expect_rx_desc_sense(SENSE_ABORTED_COMMAND, 0x4b00);
	send_data_out(cl, 0x100, ttt, 2, 8192, out, 8192, true);
	ping(cl, 0x101);

	/* CAPACITY DATA HAS CHANGED: the asynchronous message ... */
	assert_int_equal(vs_port_lun_control(f->port, 0, VS_LUN_RESIZE, &size), 0);
	assert_int_equal(recv_pdu(cl, &rx), 0);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_ASYNC_MSG);
	assert_int_equal(rx.bhs[36], 0);                /* AsyncEvent: SCSI event */
	cl->exp_statsn++;
	expect_rx_desc_sense(SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED);
	/* ... and the unit attention on the next command */
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	expect_rx_desc_sense(SENSE_UNIT_ATTENTION, ASC_CAPACITY_DATA_HAS_CHANGED);
	exec(cl, tur, 6, 0, 0, NULL, NULL, &r);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	close(cl->fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fabric_sense_follows_d_sense, fx_setup,
		                                fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
