/* SPDX-License-Identifier: MIT */
/*
 * svc_hostile PORTAL IQN SOCKET SECONDS SEED: a service that writes
 * whatever it likes into the rings and the socket, for service_hostile.sh.
 *
 * One thread is an initiator: a session that keeps sending TEST UNIT
 * READY, READ(16) and WRITE(16) to the service's LUNs (1-4) and LUN 0 (a
 * RAM disk in vstord whose data it verifies), so there are always
 * commands in flight; each must be answered (any status), and LUN 0 must
 * read back what was written.  The other thread is the service, round
 * after round: it connects (a name of a few, so LUNs are attached again),
 * attaches LUNs, behaves for a while, then does one hostile thing, each
 * kind in turn with random values:
 *  - a completion with a good tag and random status / sense / lengths
 *  - a completion that is random bytes
 *  - cq_tail or sq_head set to random values
 *  - the whole completion ring overwritten with random bytes, cq_tail moved
 *  - the same command completed twice
 *  - a control message of random bytes (random type and length)
 *  - a HELLO with random fields
 *  - taking commands and never answering (vstord --service-timeout)
 *  - vanishing with commands outstanding
 * and waits until vstord disconnects it (or 3 s).  Prints counts; exit 0
 * when the initiator's every command was answered and LUN 0 verified.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CLIENT_NAME "svc_hostile"
#define INITIATOR "iqn.2026-11.org.vstor:e2e-hostile"
#include "lib/lib_client.h"
#include "../unit/lib/svc_raw.h"

static const char *portal, *iqn, *sock_path;
static double deadline;
static atomic_bool stop;
static atomic_ulong answered, rounds, disconnects, verified;
static unsigned long kinds[10];

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void fill_random(uint64_t *s, void *buf, size_t len)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)rnd(s);
}

/* ---------------------------------------------------------------- the initiator */

static void *initiator_main(void *arg)
{
	uint64_t seed = *(uint64_t *)arg ^ 0x5555;
	static uint8_t out[512], in[512];
	struct iscsi_context *is = login_ex(portal, iqn, 0, &(struct login_opts){ .who = "io" });

	if (!is) {
		atomic_store(&stop, true);
		return NULL;
	}
	while (!atomic_load(&stop) && now_s() < deadline) {
		int lun = (int)(rnd(&seed) % 5);
		uint64_t lba = rnd(&seed) % 64;
		struct scsi_task *t;

		if (lun == 0) {
			/* vstord's own LUN: what is written is read back */
			memset(out, (int)(lba ^ 0xa5), sizeof(out));
			t = iscsi_write16_sync(is, 0, lba, out, 512, 512, 0, 0, 0, 0, 0);
			if (t && t->status == SCSI_STATUS_CHECK_CONDITION &&
			    t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
				scsi_free_scsi_task(t);
				continue;
			}
			if (!t || t->status != SCSI_STATUS_GOOD) {
				FAIL("LUN 0 WRITE(16): %s", t ? "not GOOD" : iscsi_get_error(is));
				if (t)
					scsi_free_scsi_task(t);
				break;
			}
			scsi_free_scsi_task(t);
			t = iscsi_read16_sync(is, 0, lba, 512, 512, 0, 0, 0, 0, 0);
			if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size != 512 ||
			    memcmp(t->datain.data, out, 512) != 0) {
				FAIL("LUN 0 READ(16) LBA %llu: not what was written", (unsigned long long)lba);
				if (t)
					scsi_free_scsi_task(t);
				break;
			}
			memcpy(in, t->datain.data, 512);
			scsi_free_scsi_task(t);
			atomic_fetch_add(&verified, 1);
			continue;
		}
		switch (rnd(&seed) % 3) {
		case 0:
			t = iscsi_testunitready_sync(is, lun);
			break;
		case 1:
			t = iscsi_read16_sync(is, lun, lba, 512, 512, 0, 0, 0, 0, 0);
			break;
		default:
			t = iscsi_write16_sync(is, lun, lba, out, 512, 512, 0, 0, 0, 0, 0);
			break;
		}
		if (!t) {
			/* no answer at all: the one thing that must not happen */
			FAIL("LUN %d: no answer: %s", lun, iscsi_get_error(is));
			break;
		}
		atomic_fetch_add(&answered, 1);
		scsi_free_scsi_task(t);
	}
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	atomic_store(&stop, true);
	return NULL;
}

/* ---------------------------------------------------------------- the service */

static void hostile(struct svc_raw *r, uint64_t *seed, unsigned kind)
{
	struct vs_svc_sqe e;
	struct vs_svc_cqe c;
	uint8_t msg[1100];

	switch (kind) {
	case 0:         /* a good tag, the rest random */
		if (!svc_raw_take(r, &e, 500))
			return;
		fill_random(seed, &c, sizeof(c));
		c.tag = e.tag;
		svc_raw_complete(r, &c);
		break;
	case 1:         /* random bytes */
		fill_random(seed, &c, sizeof(c));
		svc_raw_complete(r, &c);
		break;
	case 2:
		__atomic_store_n(&r->hdr->cq_tail, (uint32_t)rnd(seed), __ATOMIC_RELEASE);
		(void)eventfd_write(r->cq_efd, 1);
		break;
	case 3:
		__atomic_store_n(&r->hdr->sq_head, (uint32_t)rnd(seed), __ATOMIC_RELEASE);
		break;
	case 4:         /* the whole ring */
		fill_random(seed, r->cq, (size_t)r->w.ring_entries * sizeof(*r->cq));
		r->cq_tail += (uint32_t)(rnd(seed) % (r->w.ring_entries + 2));
		__atomic_store_n(&r->hdr->cq_tail, r->cq_tail, __ATOMIC_RELEASE);
		(void)eventfd_write(r->cq_efd, 1);
		break;
	case 5:         /* twice */
		if (!svc_raw_take(r, &e, 500))
			return;
		svc_raw_complete_good(r, &e);
		svc_raw_complete_good(r, &e);
		break;
	case 6: {       /* a message of random bytes */
		size_t n = 8 + rnd(seed) % (sizeof(msg) - 8);

		fill_random(seed, msg, n);
		if (rnd(seed) % 2) {
			/* sometimes a plausible header */
			((struct vs_svc_msg_hdr *)msg)->type = (uint32_t)(rnd(seed) % 9);
			((struct vs_svc_msg_hdr *)msg)->length = (uint32_t)n;
		}
		(void)svc_raw_send(r, msg, n);
		break;
	}
	case 7:         /* take and never answer: vstord's hang timeout */
		while (svc_raw_take(r, &e, 100))
			;
		break;
	default:        /* vanish with commands outstanding */
		svc_raw_take(r, &e, 500);
		break;
	}
}

static void *service_main(void *arg)
{
	uint64_t seed = *(uint64_t *)arg;

	while (!atomic_load(&stop) && now_s() < deadline) {
		char name[16];
		struct vs_svc_reply rep;
		struct vs_svc_sqe e;
		/* every kind in turn, so a run of any length has each one */
		unsigned kind = (unsigned)(atomic_fetch_add(&rounds, 1) % 10);
		struct svc_raw *r;

		snprintf(name, sizeof(name), "hostile%u", (unsigned)(rnd(&seed) % 3));
		if (kind == 9) {
			/* a HELLO of random fields */
			struct vs_svc_hello h;

			fill_random(&seed, &h, sizeof(h));
			if (rnd(&seed) % 2)
				svc_raw_hello_init(&h, name, iqn, (uint32_t)(rnd(&seed) & 0x1ff0));
			h.hdr.type = VS_SVC_MSG_HELLO;
			h.hdr.length = sizeof(h);
			r = svc_raw_connect_hello(sock_path, &h, NULL, 0);
			kinds[9]++;
			svc_raw_close(r);
			continue;
		}
		r = svc_raw_connect(sock_path, name, iqn, 16u << (rnd(&seed) % 4));
		if (!r) {
			usleep(50000);  /* the previous instance of the name is still going */
			continue;
		}
		for (uint64_t lun = 1; lun <= 4; lun++)
			svc_raw_attach(r, lun, &rep);
		/* behave for a little while */
		for (int i = 0, n = (int)(rnd(&seed) % 64); i < n; i++)
			if (svc_raw_take(r, &e, 20))
				svc_raw_complete_good(r, &e);
		kinds[kind]++;
		hostile(r, &seed, kind);
		/* vanishing (kind 8) needs no answer; the others get one */
		if (kind != 8 && svc_raw_closed(r, 1500))
			atomic_fetch_add(&disconnects, 1);
		svc_raw_close(r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t ti, ts;
	uint64_t seed;

	if (argc != 6) {
		fprintf(stderr, "usage: svc_hostile PORTAL IQN SOCKET SECONDS SEED\n");
		return 2;
	}
	portal = argv[1];
	iqn = argv[2];
	sock_path = argv[3];
	deadline = now_s() + atof(argv[4]);
	seed = strtoull(argv[5], NULL, 0) | 1;
	pthread_create(&ts, NULL, service_main, &seed);
	pthread_create(&ti, NULL, initiator_main, &seed);
	pthread_join(ti, NULL);
	atomic_store(&stop, true);
	pthread_join(ts, NULL);
	printf("svc_hostile: %lu rounds, %lu disconnected by vstord, %lu commands to service LUNs "
	       "answered, %lu LUN 0 blocks verified; kinds:", rounds, disconnects, answered, verified);
	for (int i = 0; i < 10; i++)
		printf(" %lu", kinds[i]);
	printf("\n");
	if (!verified || !answered)
		FAIL("no I/O was done");
	return failures ? 1 : 0;
}
