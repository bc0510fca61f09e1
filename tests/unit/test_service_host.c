/* SPDX-License-Identifier: MIT */
/*
 * The service host (src/service/, doc/service-protocol.md) against a
 * service written by hand (svc_raw): a LUN attached at run time arrives
 * with REPORTED LUNS DATA HAS CHANGED; commands go through the rings with
 * their data in the shared area; a service that breaks the rules, hangs
 * or dies is disconnected and its commands complete once, NOT READY,
 * while its LUN stays; the same service attaches it again (POWER ON unit
 * attention, no new nexus); another one may not.  And libvstor-service's
 * completions, against the same host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/stat.h>

#include "svc_raw.h"
#include "test_fabric.h"
#include "test_port_mock.h"
#include "vstor/loop.h"
#include "vstor/service.h"
#include "vstor/service_host.h"

#define TARGET "iqn.2026-11.org.vstor:svc"
#define ASC_BECOMING_READY_ASC 0x04

struct fix {
	struct mock *m;
	struct tf *tf;
	struct vs_loop_group *loops;
	struct vs_svc_host *h;
	char dir[64], path[96];
	bool mp_added;
	int lun_adds;
};

static int t_lun_add(void *ctx, const char *iqn, const struct vs_miniport *mp, const void *acfg,
                     uint64_t lun, const void *lcfg, char *err, size_t errlen)
{
	struct fix *f = ctx;
	struct vs_port *port = tf_port(f->tf);
	int rc;

	if (strcmp(iqn, TARGET) != 0) {
		snprintf(err, errlen, "no target %s", iqn);
		return -ENOENT;
	}
	if (!f->mp_added) {
		rc = vs_port_miniport_add(port, mp, acfg);
		if (rc < 0)
			return rc;
		f->mp_added = true;
	}
	f->lun_adds++;
	rc = vs_port_lun_add_to(port, mp, lun, lcfg);
	if (rc < 0)
		snprintf(err, errlen, "%s", vs_last_error());
	return rc;
}

static int t_lun_remove(void *ctx, const char *iqn, uint64_t lun, bool force, char *err,
                        size_t errlen)
{
	struct fix *f = ctx;
	int rc;

	(void)iqn;
	rc = vs_port_lun_remove(tf_port(f->tf), lun, force);
	if (rc < 0)
		snprintf(err, errlen, "%s", vs_last_error());
	return rc;
}

static const struct vs_svc_host_targets targets = { t_lun_add, t_lun_remove };

static uint64_t fix_lend_max;   /* the next fix_new's lend_max_bytes */
static uint32_t fix_poll_us;    /* the next fix_new's poll_us */
static uint32_t fix_depth;      /* the next fix_new's queue depth per LUN; 0: the port's */

static struct fix *fix_new(uint32_t hang_ms)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/vstor-svc-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/svc.sock", f->dir);
	f->m = mock_new(MOCK_INLINE);
	f->m->max_xfer = 8u << 20;      /* vdisk's: the proxy takes no less */
	struct vs_port_config pc = { .queue_depth = fix_depth };
	f->tf = tf_create(&mock_miniport, fix_depth ? &pc : NULL, f->m);
	assert_int_equal(vs_port_lun_add(tf_port(f->tf), 0, NULL), 0);
	f->loops = vs_loop_group_create(2, "svctest");
	assert_non_null(f->loops);
	assert_int_equal(vs_loop_group_start(f->loops), 0);
	struct vs_svc_host_config hc = { .socket_path = f->path, .hang_timeout_ms = hang_ms,
	                                 .lend_max_bytes = fix_lend_max, .poll_us = fix_poll_us };
	f->h = vs_svc_host_create(&hc, err, sizeof(err));
	assert_non_null(f->h);
	assert_int_equal(vs_svc_host_start(f->h, f->loops, &targets, f, err, sizeof(err)), 0);
	return f;
}

static void fix_free(struct fix *f)
{
	vs_svc_host_stop(f->h);
	tf_destroy(f->tf);              /* removes the LUNs: their lun_detach reaches the host */
	vs_svc_host_destroy(f->h);
	vs_loop_group_destroy(f->loops);
	mock_free(f->m);
	rmdir(f->dir);
	free(f);
}

static uint8_t TUR[6] = { TEST_UNIT_READY };

/* TEST UNIT READY until GOOD; the service answers those that reach it. */
static void clear_ua_svc(struct fix *f, struct svc_raw *r, struct vs_nexus *n, uint64_t lun)
{
	for (int i = 0; i < 16; i++) {
		struct tf_task *t = tf_submit(f->tf, n, lun, TUR, 6, VS_DIR_NONE, NULL, 0);
		struct tf_result res;
		struct vs_svc_sqe e;

		if (svc_raw_take(r, &e, 200))
			svc_raw_complete_good(r, &e);
		assert_int_equal(tf_wait(t, &res), 0);
		if (res.status == SAM_STAT_GOOD)
			return;
	}
	fail_msg("LUN %llu keeps answering unit attentions", (unsigned long long)lun);
}

/* A raw service "raw" serving LUN 1, its unit attentions cleared for n. */
static struct svc_raw *raw_serving_lun1(struct fix *f, struct vs_nexus *n)
{
	struct vs_svc_reply rep;
	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);

	assert_non_null(r);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	assert_int_equal(rep.status, 0);
	clear_ua_svc(f, r, n, 1);
	return r;
}

/* A command to LUN 1 answered by the raw service with GOOD. */
static void round_trip(struct fix *f, struct svc_raw *r, struct vs_nexus *n)
{
	struct tf_task *t = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	struct vs_svc_sqe e;
	struct tf_result res;

	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.opcode, VS_SVC_OP_SCSI);
	assert_int_equal(e.lun, 1);
	assert_int_equal(e.cdb_len, 6);
	assert_int_equal(e.cdb[0], TEST_UNIT_READY);
	svc_raw_complete_good(r, &e);
	assert_int_equal(tf_wait(t, &res), 0);
	assert_int_equal(res.status, SAM_STAT_GOOD);
}

static void expect_sense(struct fix *f, struct vs_nexus *n, uint64_t lun, uint8_t key,
                         uint8_t asc, uint8_t ascq)
{
	struct tf_result res;

	assert_int_equal(tf_exec(f->tf, n, lun, TUR, 6, VS_DIR_NONE, NULL, 0, &res), 0);
	assert_int_equal(res.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(res.sense_key, key);
	assert_int_equal(res.asc, asc);
	assert_int_equal(res.ascq, ascq);
}

/* Attach at run time: the LUN is in REPORT LUNS and every logged-in
 * nexus hears REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh). */
static void test_attach_arrives_with_ua(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;
	uint8_t rl[12] = { REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, data[256];
	struct tf_result res;

	tf_clear_ua(f->tf, n, 0);
	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_non_null(r);
	assert_int_equal(r->w.ring_entries, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.flags, 0);
	expect_sense(f, n, 0, SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	assert_int_equal(tf_exec(f->tf, n, 0, rl, 12, VS_DIR_FROM_DEVICE, data, sizeof(data), &res), 0);
	assert_int_equal(data[3], 16);          /* LUN 0 and LUN 1 */
	clear_ua_svc(f, r, n, 1);
	round_trip(f, r, n);

	/* a target that does not exist, a LUN that does */
	struct svc_raw *r2 = svc_raw_connect(f->path, "other", "iqn.2026-11.org.vstor:none", 16);
	assert_non_null(r2);
	assert_int_equal(svc_raw_attach(r2, 3, &rep), 0);
	assert_int_equal(rep.status, -ENOENT);
	svc_raw_close(r2);
	r2 = svc_raw_connect(f->path, "other", TARGET, 16);
	assert_int_equal(svc_raw_attach(r2, 0, &rep), 0);
	assert_int_equal(rep.status, -EEXIST);
	assert_int_equal(svc_raw_attach(r2, 1, &rep), 0);
	assert_int_equal(rep.status, -EEXIST);  /* raw's, who is connected */
	assert_non_null(strstr(rep.message, "served by another service"));
	svc_raw_close(r2);
	svc_raw_close(r);
	fix_free(f);
}

/* The data of a command whose buffer the port took from the LUN's
 * provider is in the shared area (no copy); a buffer from elsewhere is
 * copied through it, and counted. */
static void test_zero_copy(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_sqe e;
	struct vs_svc_info info;
	struct svc_raw *r = raw_serving_lun1(f, n);

	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(f->tf), 4, 65536);
	struct tf_pio io = { 0 };
	struct vs_srb *srb = vs_srb_get(pool);
	srb->lun = 1;
	srb->nexus = n;
	srb->data_dir = VS_DIR_FROM_DEVICE;
	uint8_t *buf = vs_port_srb_buffer(tf_port(f->tf), srb, 4096);
	size_t cap;
	assert_non_null(buf);
	assert_ptr_not_equal(buf, vs_srb_buffer(srb, &cap));   /* the LUN's, not the pool's */
	vs_srb_put(srb);

	/* a READ through a pool: the fabric's way */
	uint8_t rd[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	tf_pio_submit(tf_port(f->tf), pool, n, 1, rd, 10, VS_DIR_FROM_DEVICE, NULL, 4096, &io);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.data_dir, VS_SVC_DIR_FROM_DEVICE);
	assert_int_equal(e.data_length, 4096);
	memset(r->data + e.data_offset, 0x5a, 4096);
	svc_raw_complete_good(r, &e);
	struct tf_result res;
	assert_int_equal(tf_pio_wait(&io, 2000, &res), 0);
	assert_int_equal(res.status, SAM_STAT_GOOD);
	assert_int_equal(res.xfer_len, 4096);
	vs_svc_host_services(f->h, &info, 1);
	assert_int_equal(info.bytes_copied, 0);
	assert_int_equal(info.bytes_shared, 4096);

	/* tf_submit's caller-owned buffer: copied in and counted */
	uint8_t wr[10] = { WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, out[512];
	memset(out, 0xc3, sizeof(out));
	struct tf_task *t = tf_submit(f->tf, n, 1, wr, 10, VS_DIR_TO_DEVICE, out, 512);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(r->data[e.data_offset], 0xc3);
	svc_raw_complete_good(r, &e);
	assert_int_equal(tf_wait(t, &res), 0);
	vs_svc_host_services(f->h, &info, 1);
	assert_int_equal(info.bytes_copied, 512);
	vs_srb_pool_destroy(pool);
	svc_raw_close(r);
	fix_free(f);
}

/* Mappings of NAME's memory in this process (/proc/self/smaps), and how
 * many of them carry MADV_HUGEPAGE ("hg" in VmFlags). */
static void count_advised(const char *name, int *maps, int *advised)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;

	*maps = *advised = 0;
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		if (strstr(line, name)) {
			in = true;
			(*maps)++;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			if (strstr(line, " hg"))
				(*advised)++;
			in = false;
		}
	}
	fclose(fp);
}

/* vstord advises its mapping of a service's shared area for 2 MiB pages
 * (doc/services.md "Huge pages"); the hand-written service does not, so
 * of the two mappings here exactly vstord's is advised. */
static void test_area_advised_huge(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_svc_reply rep;
	int maps, advised;

	struct svc_raw *r = svc_raw_connect(f->path, "thp", TARGET, 16);
	assert_non_null(r);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	count_advised("memfd:vstor-service-thp", &maps, &advised);
	assert_int_equal(maps, 2);
	assert_int_equal(advised, 1);
	svc_raw_close(r);
	fix_free(f);
}

/* Anything wrong in the completion ring: disconnected, its commands
 * complete once with NOT READY / BECOMING READY, the LUN stays. */
static void hostile_case(const struct vs_svc_cqe *bad, bool raw_tail, const char *why)
{
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;
	struct vs_svc_sqe e, e2;
	struct tf_result res;
	uint8_t rl[12] = { REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, data[256];

	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	clear_ua_svc(f, r, n, 1);
	uint64_t done_before = tf_done_calls(f->tf);
	struct tf_task *t1 = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	struct tf_task *t2 = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_true(svc_raw_take(r, &e2, 2000));
	if (raw_tail) {
		/* cq_tail far ahead of what vstord has taken */
		__atomic_store_n(&r->hdr->cq_tail, 1000000, __ATOMIC_RELEASE);
		(void)eventfd_write(r->cq_efd, 1);
	} else {
		struct vs_svc_cqe c = *bad;
		if (c.tag == 1)
			c.tag = e.tag;          /* "the right tag" */
		svc_raw_complete(r, &c);
	}
	assert_true(svc_raw_closed(r, 3000));
	assert_non_null(strstr(r->error, why));
	assert_int_equal(tf_wait(t1, &res), 0);
	if (bad && bad->tag == 1 && !raw_tail) {
		/* the bad entry named t1: it is still completed once, NOT READY */
	}
	assert_int_equal(res.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(res.sense_key, SENSE_NOT_READY);
	assert_int_equal(res.asc, 0x04);
	assert_int_equal(res.ascq, 0x01);
	assert_int_equal(tf_wait(t2, &res), 0);
	assert_int_equal(res.sense_key, SENSE_NOT_READY);
	assert_int_equal(tf_done_calls(f->tf) - done_before, 2);
	assert_int_equal(tf_double_completions(f->tf), 0);
	/* new commands: NOT READY; the LUN is still there */
	expect_sense(f, n, 1, SENSE_NOT_READY, 0x04, 0x01);
	assert_int_equal(tf_exec(f->tf, n, 0, rl, 12, VS_DIR_FROM_DEVICE, data, sizeof(data), &res), 0);
	assert_int_equal(data[3], 16);
	svc_raw_close(r);
	fix_free(f);
}

static void test_hostile_completions(void **state)
{
	(void)state;
	struct vs_svc_cqe c;

	memset(&c, 0, sizeof(c));
	c.tag = 0xdeadbeef00000007ull;
	hostile_case(&c, false, "names no command in flight");
	memset(&c, 0, sizeof(c));
	c.tag = 1;
	c.scsi_status = 0x99;
	hostile_case(&c, false, "scsi_status 0x99");
	c.scsi_status = SAM_STAT_CHECK_CONDITION;
	c.sense_len = 18;       /* all zeroes: no response code */
	hostile_case(&c, false, "neither fixed nor descriptor");
	memset(&c, 0, sizeof(c));
	c.tag = 1;
	c.sense_len = 253;
	hostile_case(&c, false, "sense_len 253");
	memset(&c, 0, sizeof(c));
	c.tag = 1;
	c.xfer_len = 4096;      /* a command without data */
	hostile_case(&c, false, "xfer_len 4096");
	memset(&c, 0, sizeof(c));
	c.tag = 1;
	c.resid_flags = 3;
	hostile_case(&c, false, "resid_flags");
	hostile_case(NULL, true, "cq_tail 1000000");
	memset(&c, 0, sizeof(c));
	c.tag = 1;
	c.lend_region = 1;      /* a command with no data-in to lend */
	hostile_case(&c, false, "not flagged MAY_LEND");
}

/* A service that takes a command and never answers is taken for hung. */
/* ---------------------------------------------------------------- lending (1.1, LEND) */

static void lend_done(struct vs_srb *srb)
{
	atomic_fetch_add((_Atomic int *)srb->done_ctx, 1);
}

/* A READ(10) of 8 blocks to LUN 1 as the iSCSI fabric sends one: its
 * buffer from the LUN's provider, data-in by reference if `accept`. */
static struct vs_srb *lend_read(struct fix *f, struct vs_srb_pool *pool, struct vs_nexus *n,
                                uint8_t accept, _Atomic int *done)
{
	static const uint8_t rd[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	struct vs_srb *srb = vs_srb_get(pool);

	assert_non_null(srb);
	memcpy(srb->cdb, rd, sizeof(rd));
	srb->cdb_len = sizeof(rd);
	srb->data_dir = VS_DIR_FROM_DEVICE;
	srb->lun = 1;
	srb->nexus = n;
	srb->accept_data_ref = accept;
	srb->iov[0] = (struct iovec){ vs_port_srb_buffer(tf_port(f->tf), srb, 4096), 4096 };
	assert_non_null(srb->iov[0].iov_base);
	srb->data_length = 4096;
	srb->done = lend_done;
	srb->done_ctx = done;
	atomic_store(done, 0);
	vs_port_submit(tf_port(f->tf), srb);
	return srb;
}

static void wait_done(_Atomic int *done)
{
	for (int i = 0; i < 2000 && atomic_load(done) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(done), 1);
}

static int sealed_memfd(size_t bytes, bool seal)
{
	int fd = memfd_create("svc-test-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

/*
 * REGION: only a memfd sealed against shrinking, inside its size, once
 * per number.  A READ the fabric takes by reference (not stable) is
 * flagged MAY_LEND; its completion may name where in the region the data
 * is, and vstord sends it from there: nothing copied, counted as lent.
 * A fabric that needs stable data (digests) is never offered it.  A range
 * outside the region disconnects the service, the command NOT READY.
 */
static void test_lend(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;
	struct vs_svc_sqe e;
	struct vs_svc_info info;
	_Atomic int done;
	uint8_t want[4096];

	struct svc_raw *r = raw_serving_lun1(f, n);
	assert_true(r->w.features & VS_SVC_F_LEND);

	/* refusals: the connection stays */
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(svc_raw_region(r, 1, devnull, 65536, &rep), 0);
	assert_int_equal(rep.status, -EINVAL);
	assert_non_null(strstr(rep.message, "not a memfd sealed with F_SEAL_SHRINK"));
	close(devnull);
	int loose = sealed_memfd(65536, false);
	assert_int_equal(svc_raw_region(r, 1, loose, 65536, &rep), 0);
	assert_int_equal(rep.status, -EINVAL);
	close(loose);
	int fd = sealed_memfd(65536, true);
	assert_int_equal(svc_raw_region(r, 0, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, -EINVAL);
	assert_int_equal(svc_raw_region(r, 17, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, -EINVAL);
	assert_int_equal(svc_raw_region(r, 1, fd, 65537, &rep), 0);
	assert_int_equal(rep.status, -EINVAL);
	assert_non_null(strstr(rep.message, "more than the memfd"));
	assert_int_equal(svc_raw_region(r, 1, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(svc_raw_region(r, 1, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, -EEXIST);
	uint8_t *mem = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	close(fd);
	memset(mem + 8192, 0x77, 4096);
	memset(want, 0x77, sizeof(want));

	struct vs_srb_pool *pool = vs_srb_pool_create(tf_port(f->tf), 4, 65536);

	/* lent: sent from the region, not copied */
	struct vs_srb *srb = lend_read(f, pool, n, VS_DATA_REF_OK, &done);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.flags, VS_SVC_SQE_MAY_LEND);
	svc_raw_complete(r, &(struct vs_svc_cqe){ .tag = e.tag, .xfer_len = 4096, .lend_region = 1,
	                                          .lend_offset = 8192 });
	wait_done(&done);
	assert_int_equal(srb->scsi_status, SAM_STAT_GOOD);
	assert_int_equal(srb->xfer_len, 4096);
	assert_non_null(srb->data_ref);
	assert_memory_equal(srb->data_ref, want, sizeof(want));
	vs_srb_put(srb);
	vs_svc_host_services(f->h, &info, 1);
	assert_int_equal(info.bytes_lent, 4096);
	assert_int_equal(info.bytes_copied, 0);

	/* stable data wanted (digests): not offered, the buffer is used */
	srb = lend_read(f, pool, n, VS_DATA_REF_OK | VS_DATA_REF_STABLE, &done);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.flags, 0);
	memset(r->data + e.data_offset, 0x42, 4096);
	svc_raw_complete_good(r, &e);
	wait_done(&done);
	assert_null(srb->data_ref);
	assert_int_equal(((uint8_t *)srb->iov[0].iov_base)[4095], 0x42);
	vs_srb_put(srb);

	/* a range past the region's end: disconnected, NOT READY once */
	srb = lend_read(f, pool, n, VS_DATA_REF_OK, &done);
	assert_true(svc_raw_take(r, &e, 2000));
	svc_raw_complete(r, &(struct vs_svc_cqe){ .tag = e.tag, .xfer_len = 4096, .lend_region = 1,
	                                          .lend_offset = 65536 - 2048 });
	assert_true(svc_raw_closed(r, 3000));
	assert_non_null(strstr(r->error, "is not inside region 1"));
	wait_done(&done);
	assert_int_equal(srb->scsi_status, SAM_STAT_CHECK_CONDITION);
	assert_null(srb->data_ref);
	vs_srb_put(srb);
	svc_raw_close(r);

	/* a region never registered */
	r = raw_serving_lun1(f, n);
	srb = lend_read(f, pool, n, VS_DATA_REF_OK, &done);
	assert_true(svc_raw_take(r, &e, 2000));
	svc_raw_complete(r, &(struct vs_svc_cqe){ .tag = e.tag, .xfer_len = 4096, .lend_region = 5 });
	assert_true(svc_raw_closed(r, 3000));
	assert_non_null(strstr(r->error, "is not inside region 5"));
	wait_done(&done);
	vs_srb_put(srb);
	svc_raw_close(r);

	/* REGION without its descriptor breaks the protocol */
	r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_non_null(r);
	(void)svc_raw_region(r, 2, -1, 65536, &rep);
	assert_true(svc_raw_closed(r, 3000));
	assert_non_null(strstr(r->error, "carried 0 file descriptors"));
	svc_raw_close(r);

	munmap(mem, 65536);
	vs_srb_pool_destroy(pool);
	fix_free(f);
}

/* All services together lend at most lend_max_bytes; a connection that
 * goes gives its share back. */
static void test_lend_limit(void **state)
{
	(void)state;
	fix_lend_max = 131072;
	struct fix *f = fix_new(0);
	fix_lend_max = 0;
	struct vs_svc_reply rep;
	struct svc_raw *a = svc_raw_connect(f->path, "a", TARGET, 16);
	struct svc_raw *b = svc_raw_connect(f->path, "b", TARGET, 16);
	int fd = sealed_memfd(65536, true);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(svc_raw_region(a, 1, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(svc_raw_region(b, 1, fd, 65536, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(svc_raw_region(a, 2, fd, 4096, &rep), 0);
	assert_int_equal(rep.status, -ENOSPC);
	assert_non_null(strstr(rep.message, "services may lend in all"));
	svc_raw_close(b);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(svc_raw_region(a, 2, fd, 65536, &rep), 0);
		if (rep.status != -ENOSPC)
			break;
		usleep(10000);
	}
	assert_int_equal(rep.status, 0);
	close(fd);
	svc_raw_close(a);
	fix_free(f);
}

static void test_hang(void **state)
{
	(void)state;
	struct fix *f = fix_new(300);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;
	struct vs_svc_sqe e;
	struct tf_result res;

	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	clear_ua_svc(f, r, n, 1);
	struct tf_task *t = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_true(svc_raw_closed(r, 3000));
	assert_int_equal(tf_wait(t, &res), 0);
	assert_int_equal(res.sense_key, SENSE_NOT_READY);
	struct vs_svc_info info;
	assert_int_equal(vs_svc_host_services(f->h, &info, 1), 1);
	assert_int_equal(info.state, VS_SVC_GONE);
	assert_non_null(strstr(info.why, "hung"));
	svc_raw_close(r);
	fix_free(f);
}

/* Dead and back: the same service attaches its LUN again -- POWER ON
 * unit attention, no REPORTED LUNS DATA HAS CHANGED, the same nexus goes
 * on; another service may not take it. */
static void test_restart_reattaches(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;

	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	tf_clear_ua(f->tf, n, 0);
	clear_ua_svc(f, r, n, 1);
	round_trip(f, r, n);
	svc_raw_close(r);               /* dies */
	for (int i = 0; i < 100; i++) {
		struct vs_svc_lun_info li;
		if (vs_svc_host_luns(f->h, &li, 1) == 1 && li.state == VS_SVC_GONE)
			break;
		usleep(10000);
	}
	expect_sense(f, n, 1, SENSE_NOT_READY, 0x04, 0x01);

	struct svc_raw *o = svc_raw_connect(f->path, "impostor", TARGET, 16);
	assert_int_equal(svc_raw_attach(o, 1, &rep), 0);
	assert_int_equal(rep.status, -EEXIST);
	svc_raw_close(o);

	r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_non_null(r);
	int adds = f->lun_adds;
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.flags, VS_SVC_REPLY_REATTACHED);
	assert_int_equal(f->lun_adds, adds);    /* not added again */
	expect_sense(f, n, 1, SENSE_UNIT_ATTENTION, 0x29, 0x00);
	round_trip(f, r, n);
	/* LUN 0 heard nothing: the LUN set did not change */
	struct tf_result res;
	assert_int_equal(tf_exec(f->tf, n, 0, TUR, 6, VS_DIR_NONE, NULL, 0, &res), 0);
	assert_int_equal(res.status, SAM_STAT_GOOD);
	svc_raw_close(r);
	fix_free(f);
}

/* DETACH removes the LUN (3Fh/0Eh); a LUN removed by vstord's owner is
 * told to its service (LUN_GONE). */
static void test_detach_and_lun_gone(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct vs_svc_reply rep;
	union {
		struct vs_svc_lun_gone g;
		uint8_t raw[VS_SVC_MSG_MAX];
	} m;

	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	assert_int_equal(svc_raw_attach(r, 2, &rep), 0);
	tf_clear_ua(f->tf, n, 0);
	assert_int_equal(svc_raw_detach(r, 1, false, &rep), 0);
	assert_int_equal(rep.status, 0);
	expect_sense(f, n, 0, SENSE_UNIT_ATTENTION, 0x3f, 0x0e);
	expect_sense(f, n, 1, SENSE_ILLEGAL_REQUEST, 0x25, 0x00);
	assert_int_equal(svc_raw_detach(r, 1, false, &rep), 0);
	assert_int_equal(rep.status, -ENOENT);

	assert_int_equal(vs_port_lun_remove(tf_port(f->tf), 2, true), 0);
	int type;
	do
		type = svc_raw_recv(r, &m, sizeof(m), 1000);
	while (type > 0 && type != VS_SVC_MSG_LUN_GONE);
	assert_int_equal(type, VS_SVC_MSG_LUN_GONE);
	assert_int_equal(m.g.lun, 2);
	svc_raw_close(r);
	fix_free(f);
}

/* HELLO and messages that break the rules: refused with a line naming
 * the field; descriptors passed to vstord are closed. */
static void test_bad_hello(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_svc_hello h;
	char err[256];

	svc_raw_hello_init(&h, "x", TARGET, 16);
	h.magic = 1;
	assert_null(svc_raw_connect_hello(f->path, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "magic"));
	svc_raw_hello_init(&h, "x", TARGET, 24);
	assert_null(svc_raw_connect_hello(f->path, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "ring_entries 24"));
	svc_raw_hello_init(&h, "bad name", TARGET, 16);
	assert_null(svc_raw_connect_hello(f->path, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "name"));
	svc_raw_hello_init(&h, "x", TARGET, 16);
	h.data_bytes = 5ULL << 30;
	assert_null(svc_raw_connect_hello(f->path, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "data_bytes"));
	svc_raw_hello_init(&h, "x", TARGET, 16);
	h.version_major = 2;
	assert_null(svc_raw_connect_hello(f->path, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "version_major 2"));

	/* a message of the wrong size, and one carrying a descriptor */
	struct svc_raw *r = svc_raw_connect(f->path, "x", TARGET, 16);
	uint8_t junk[40] = { 3, 0, 0, 0, 40 };
	assert_int_equal(svc_raw_send(r, junk, sizeof(junk)), 0);
	assert_true(svc_raw_closed(r, 2000));
	assert_non_null(strstr(r->error, "want 104"));
	svc_raw_close(r);
	r = svc_raw_connect(f->path, "x", TARGET, 16);
	{
		struct vs_svc_detach d = { .hdr = { VS_SVC_MSG_DETACH, sizeof(d), 5 }, .lun = 1 };
		int fd = dup(0);
		union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr a; } cm;
		struct iovec iov = { &d, sizeof(d) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
		                     .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
		assert_int_equal(sendmsg(r->sock, &mh, 0), (ssize_t)sizeof(d));
		close(fd);
	}
	assert_true(svc_raw_closed(r, 2000));
	assert_non_null(strstr(r->error, "file descriptors"));
	svc_raw_close(r);
	fix_free(f);
}

/* The nexus table names the initiator before the first entry that needs
 * it; its loss is told (NEXUS_LOST), and its id's next nexus has a new
 * generation. */
static void test_nexus_records(void **state)
{
	(void)state;
	struct fix *f = fix_new(0);
	struct vs_svc_reply rep;
	struct vs_svc_sqe e;

	struct svc_raw *r = svc_raw_connect(f->path, "raw", TARGET, 16);
	assert_int_equal(svc_raw_attach(r, 1, &rep), 0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	clear_ua_svc(f, r, n, 1);
	struct tf_task *t = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.nexus_id, n->id);
	uint32_t gen = e.nexus_gen;
	assert_int_not_equal(gen, 0);
	assert_int_equal(__atomic_load_n(&r->nexus[e.nexus_id].gen, __ATOMIC_ACQUIRE), gen);
	assert_string_equal(r->nexus[e.nexus_id].name, n->name);
	svc_raw_complete_good(r, &e);
	struct tf_result res;
	assert_int_equal(tf_wait(t, &res), 0);
	uint32_t id = n->id;
	vs_port_nexus_close(tf_port(f->tf), n);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.opcode, VS_SVC_OP_NEXUS_LOST);
	assert_int_equal(e.nexus_id, id);
	assert_int_equal(e.nexus_gen, gen);
	struct vs_nexus *n2 = tf_nexus(f->tf, "iqn.test:b");
	assert_int_equal(n2->id, id);           /* the id is reused */
	/* its POWER ON unit attention is the port's, then to the service */
	expect_sense(f, n2, 1, SENSE_UNIT_ATTENTION, 0x29, 0x00);
	t = tf_submit(f->tf, n2, 1, TUR, 6, VS_DIR_NONE, NULL, 0);
	assert_true(svc_raw_take(r, &e, 2000));
	assert_int_equal(e.nexus_id, id);
	assert_int_not_equal(e.nexus_gen, gen);
	assert_string_equal(r->nexus[id].name, n2->name);
	svc_raw_complete_good(r, &e);
	assert_int_equal(tf_wait(t, &res), 0);
	svc_raw_close(r);
	fix_free(f);
}

static bool cq_wake(struct svc_raw *r)
{
	return __atomic_load_n(&r->hdr->cq_flags, __ATOMIC_ACQUIRE) & VS_SVC_WAKE;
}

/* Wait up to ms for cq_flags WAKE to be `want`. */
static bool cq_wake_becomes(struct svc_raw *r, bool want, int ms)
{
	for (int i = 0; i < ms && cq_wake(r) != want; i++)
		usleep(1000);
	return cq_wake(r) == want;
}

/*
 * Polling the completion ring (--service-poll-us; protocol "Doorbells"):
 * once completions have come, vstord clears WAKE and takes what the
 * service writes without its doorbell; a spin that finds nothing sets
 * WAKE again, so a quiet service is then woken for.  Off: WAKE stays.
 */
static void test_completions_polled(void **state)
{
	(void)state;
	fix_poll_us = 1500000;          /* 1.5 s: long enough to act inside it */
	struct fix *f = fix_new(0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct svc_raw *r = raw_serving_lun1(f, n);
	struct tf_result res;
	struct vs_svc_sqe e;

	/* the round trips of raw_serving_lun1 rang: vstord polls now */
	round_trip(f, r, n);
	assert_true(cq_wake_becomes(r, false, 1000));
	for (int i = 0; i < 20; i++) {
		struct tf_task *t = tf_submit(f->tf, n, 1, TUR, 6, VS_DIR_NONE, NULL, 0);

		assert_true(svc_raw_take(r, &e, 2000));
		assert_false(cq_wake(r));
		svc_raw_complete_quiet(r, &(struct vs_svc_cqe){ .tag = e.tag });
		assert_int_equal(tf_wait_ms(t, &res, 1000), 0);
		assert_int_equal(res.status, SAM_STAT_GOOD);
	}
	/* nothing for longer than the spin: the doorbell is wanted again */
	assert_true(cq_wake_becomes(r, true, 5000));
	round_trip(f, r, n);
	svc_raw_close(r);
	fix_free(f);

	fix_poll_us = VS_SVC_POLL_OFF;
	f = fix_new(0);
	n = tf_nexus(f->tf, "iqn.test:a");
	r = raw_serving_lun1(f, n);
	for (int i = 0; i < 5; i++) {
		round_trip(f, r, n);
		assert_true(cq_wake(r));
	}
	svc_raw_close(r);
	fix_free(f);
	fix_poll_us = 0;
}

/* ---------------------------------------------------------------- libvstor-service */

/* A raw LUN of libvstor-service's: opcode HOLD_OP waits for the test to
 * let it go; INDEX_OP answers with the 4-byte index its CDB carries. */
#define HOLD_OP  0xc0
#define INDEX_OP 0xc1

struct held {
	atomic_bool holding, released;
};

static void held_command(void *ctx, struct vs_svc_cmd *cmd)
{
	struct held *h = ctx;
	const uint8_t *cdb = vs_svc_cmd_cdb(cmd, NULL);
	uint32_t cap;
	uint8_t *buf = vs_svc_cmd_data(cmd, &cap);

	if (cdb[0] == HOLD_OP) {
		atomic_store(&h->holding, true);
		for (int i = 0; i < 10000 && !atomic_load(&h->released); i++)
			usleep(1000);
	} else if (cdb[0] == INDEX_OP && buf && cap >= 4) {
		memcpy(buf, cdb + 2, 4);
		vs_svc_cmd_done(cmd, SAM_STAT_GOOD, 4);
		return;
	}
	vs_svc_cmd_done(cmd, SAM_STAT_GOOD, 0);
}

static void *serve(void *s)
{
	return (void *)(intptr_t)vs_svc_run(s);
}

/*
 * The library stages the completions of one batch in its own memory and
 * writes them into the ring at the batch's end (lib_ring.c).  A batch of
 * more commands than the stage holds: held back by a command that blocks
 * the serving thread until they are all in the ring, so the next batch
 * takes them together.  Each completes once, GOOD, with its own data.
 */
static void test_lib_batch_over_stage(void **state)
{
	enum { N = 100 };
	(void)state;
	fix_depth = 2 * N;              /* all of them in the ring at once */
	struct fix *f = fix_new(0);
	fix_depth = 0;
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	struct held h = { false, false };
	static const struct vs_svc_raw_ops ops = { .command = held_command };
	struct vs_svc_raw_lun info = { .peripheral_type = 0x03, .description = "held" };
	struct vs_svc *s = vs_svc_open(&(struct vs_svc_options){
		.socket_path = f->path, .name = "lib", .target = TARGET });
	struct tf_task *t[N], *hold;
	uint32_t data[N];
	struct tf_result res;
	pthread_t th;
	void *rc;

	assert_non_null(s);
	assert_int_equal(vs_svc_attach_raw(s, 1, &info, &ops, &h), 0);
	assert_int_equal(pthread_create(&th, NULL, serve, s), 0);
	assert_int_equal(tf_clear_ua(f->tf, n, 1), 0);

	hold = tf_submit(f->tf, n, 1, (uint8_t[6]){ HOLD_OP }, 6, VS_DIR_NONE, NULL, 0);
	for (int i = 0; i < 5000 && !atomic_load(&h.holding); i++)
		usleep(1000);
	assert_true(atomic_load(&h.holding));
	for (uint32_t i = 0; i < N; i++) {
		uint8_t cdb[10] = { INDEX_OP, 0 };

		memcpy(cdb + 2, &i, 4);
		data[i] = UINT32_MAX;
		/* the entry is in the ring when tf_submit returns (proxy_start_io) */
		t[i] = tf_submit(f->tf, n, 1, cdb, 10, VS_DIR_FROM_DEVICE, &data[i], 4);
	}
	atomic_store(&h.released, true);
	assert_int_equal(tf_wait(hold, &res), 0);
	assert_int_equal(res.status, SAM_STAT_GOOD);
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(tf_wait(t[i], &res), 0);
		assert_int_equal(res.status, SAM_STAT_GOOD);
		assert_int_equal(res.xfer_len, 4);
		assert_int_equal(data[i], i);
	}
	assert_int_equal(tf_double_completions(f->tf), 0);
	vs_svc_stop(s);
	assert_int_equal(pthread_join(th, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	vs_svc_close(s);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_arrives_with_ua),
		cmocka_unit_test(test_zero_copy),
		cmocka_unit_test(test_area_advised_huge),
		cmocka_unit_test(test_hostile_completions),
		cmocka_unit_test(test_lend),
		cmocka_unit_test(test_lend_limit),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_restart_reattaches),
		cmocka_unit_test(test_detach_and_lun_gone),
		cmocka_unit_test(test_bad_hello),
		cmocka_unit_test(test_nexus_records),
		cmocka_unit_test(test_completions_polled),
		cmocka_unit_test(test_lib_batch_over_stage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
