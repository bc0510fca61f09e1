/* SPDX-License-Identifier: MIT */
/*
 * Admission (src/fabrics/iscsi/admission.h): the budgets that keep anyone
 * who reaches a portal from locking initiators out.  First the accounting
 * on its own (fair shares of the login budget per address, reserved
 * session slots, the discovery budget and who gives way), then the fabric
 * using it: discovery sessions outside max_sessions, closed when idle
 * however faithfully they answer pings, replaced when the budget is full;
 * reserved slots for initiators that pass an ACL or CHAP; real TCP
 * connections from several 127.0.0.x addresses against the login budget;
 * every refusal and drop counted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fabrics/iscsi/admission.h"
#include "fabrics/iscsi/iscsi_target.h"
#include "iscsi_harness.h"

#define MS 1000000ull

/* ---------------------------------------------------------------- accounting */

static struct sockaddr_storage v4(const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return ss;
}

static void init(struct iscsi_admission *a, uint32_t logins, uint32_t per_source)
{
	struct iscsi_adm_limits lim = { .max_logins = logins, .logins_per_source = per_source,
		                        .max_sessions = 4, .reserved_sessions = 2, .max_discovery = 2,
		                        .discovery_replace_ns = 1000 * MS };

	assert_int_equal(vs_iscsi_adm_init(a, &lim), 0);
}

/* Admit a connection from addr at time t and bind it to owner; the
 * verdict is returned for the caller's checks. */
static struct iscsi_adm_verdict login(struct iscsi_admission *a, const char *addr, uint64_t t,
                                      void *owner)
{
	struct sockaddr_storage ss = v4(addr);
	struct iscsi_adm_verdict v;

	if (vs_iscsi_adm_login_admit(a, &ss, t, &v))
		vs_iscsi_adm_login_bind(a, v.slot, owner);
	return v;
}

/* One address takes at most its share; a full budget makes room for an
 * address holding two fewer than the busiest, taking the busiest's oldest
 * login; equal shares make no room. */
static void test_login_fair_shares(void **state)
{
	struct iscsi_admission a;
	int o[8];
	struct iscsi_adm_verdict v;

	(void)state;
	init(&a, 4, 2);
	assert_int_equal(login(&a, "127.0.0.2", 1, &o[0]).refused, -1);
	assert_int_equal(login(&a, "127.0.0.2", 2, &o[1]).refused, -1);
	v = login(&a, "127.0.0.2", 3, &o[7]);
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_LOGINS_PER_SOURCE);
	assert_null(v.victim);
	assert_int_equal(login(&a, "127.0.0.3", 4, &o[2]).refused, -1);
	assert_int_equal(login(&a, "127.0.0.3", 5, &o[3]).refused, -1);
	assert_int_equal(a.nlogins, 4);

	/* Full: a newcomer (0) against the busiest (2): the oldest of them. */
	v = login(&a, "127.0.0.1", 6, &o[4]);
	assert_int_equal(v.refused, -1);
	assert_ptr_equal(v.victim, &o[0]);
	assert_int_equal(a.nlogins, 4);
	/* .2 holds one now: its reconnect finds no address two above it. */
	v = login(&a, "127.0.0.2", 7, &o[7]);
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_MAX_LOGINS);
	/* Another newcomer: .3 is the only one holding two. */
	v = login(&a, "127.0.0.4", 8, &o[5]);
	assert_ptr_equal(v.victim, &o[2]);
	/* Every address holds one: nobody gives way. */
	v = login(&a, "127.0.0.5", 9, &o[6]);
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_MAX_LOGINS);
	assert_null(v.victim);

	/* The evicted let go of nothing: their places are someone else's. */
	vs_iscsi_adm_login_release(&a, &o[0]);
	vs_iscsi_adm_login_release(&a, &o[2]);
	assert_int_equal(a.nlogins, 4);
	/* A login that ends frees its place and its address's share. */
	vs_iscsi_adm_login_release(&a, &o[1]);
	assert_int_equal(a.nlogins, 3);
	assert_int_equal(login(&a, "127.0.0.2", 10, &o[0]).refused, -1);
	assert_int_equal(login(&a, "127.0.0.2", 11, &o[7]).refused, VS_ISCSI_REFUSED_MAX_LOGINS);
	vs_iscsi_adm_fini(&a);
}

/* A place admitted but not yet bound to its connection cannot be taken
 * (there is no one to close), and cancelling it gives it back. */
static void test_login_unbound(void **state)
{
	struct iscsi_admission a;
	struct sockaddr_storage ss = v4("127.0.0.2");
	struct iscsi_adm_verdict v, w;
	int newcomer;

	(void)state;
	init(&a, 2, 2);
	assert_true(vs_iscsi_adm_login_admit(&a, &ss, 1, &v));
	assert_true(vs_iscsi_adm_login_admit(&a, &ss, 2, &w));
	assert_int_equal(login(&a, "127.0.0.1", 3, &newcomer).refused, VS_ISCSI_REFUSED_MAX_LOGINS);
	vs_iscsi_adm_login_cancel(&a, v.slot);
	assert_int_equal(a.nlogins, 1);
	/* Cancelling a bound place does nothing: its owner releases it. */
	vs_iscsi_adm_login_bind(&a, w.slot, &newcomer);
	vs_iscsi_adm_login_cancel(&a, w.slot);
	assert_int_equal(a.nlogins, 1);
	vs_iscsi_adm_login_release(&a, &newcomer);
	assert_int_equal(a.nlogins, 0);
	vs_iscsi_adm_fini(&a);
}

/* One host is one source, however its address is written: IPv4 and its
 * IPv6-mapped form share a share; the port never counts. */
static void test_login_source_identity(void **state)
{
	struct iscsi_admission a;
	struct sockaddr_storage s4 = v4("127.0.0.2"), s6 = v6("::ffff:127.0.0.2"), other = v6("::1");
	struct iscsi_adm_verdict v;

	(void)state;
	init(&a, 8, 2);
	((struct sockaddr_in *)&s4)->sin_port = htons(1000);
	assert_true(vs_iscsi_adm_login_admit(&a, &s4, 1, &v));
	((struct sockaddr_in *)&s4)->sin_port = htons(1001);
	assert_true(vs_iscsi_adm_login_admit(&a, &s6, 2, &v));
	assert_false(vs_iscsi_adm_login_admit(&a, &s4, 3, &v));
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_LOGINS_PER_SOURCE);
	assert_true(vs_iscsi_adm_login_admit(&a, &other, 4, &v));
	vs_iscsi_adm_fini(&a);
}

/* reserved_sessions: while some target vets, the last slots are for the
 * vetted; otherwise they are everyone's. */
static void test_sessions_reserved(void **state)
{
	struct iscsi_admission a;
	struct iscsi_adm_verdict v;

	(void)state;
	init(&a, 4, 4);         /* max_sessions 4, 2 reserved */
	assert_true(vs_iscsi_adm_session_admit(&a, false, true, &v));
	assert_true(vs_iscsi_adm_session_admit(&a, false, true, &v));
	assert_false(vs_iscsi_adm_session_admit(&a, false, true, &v));
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_RESERVED);
	assert_true(vs_iscsi_adm_session_admit(&a, true, true, &v));
	assert_true(vs_iscsi_adm_session_admit(&a, true, true, &v));
	assert_false(vs_iscsi_adm_session_admit(&a, true, true, &v));
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_MAX_SESSIONS);
	assert_int_equal(a.nsessions, 4);
	for (int i = 0; i < 4; i++)
		vs_iscsi_adm_session_release(&a);
	/* Nobody can be vetted: nothing is held back. */
	for (int i = 0; i < 4; i++)
		assert_true(vs_iscsi_adm_session_admit(&a, false, false, &v));
	assert_false(vs_iscsi_adm_session_admit(&a, false, false, &v));
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_MAX_SESSIONS);
	vs_iscsi_adm_fini(&a);
}

/* The discovery budget: full, a newcomer replaces the session idle
 * longest once that one has been idle replace_ns; a Text or Logout
 * (touch) counts as activity. */
static void test_discovery_budget(void **state)
{
	struct iscsi_admission a;
	struct iscsi_adm_verdict v;
	int s[4];

	(void)state;
	init(&a, 4, 4);         /* 2 discovery sessions, replace after 1000 ms */
	assert_true(vs_iscsi_adm_discovery_admit(&a, &s[0], 0, &v));
	assert_true(vs_iscsi_adm_discovery_admit(&a, &s[1], 100 * MS, &v));
	assert_false(vs_iscsi_adm_discovery_admit(&a, &s[2], 900 * MS, &v));
	assert_int_equal(v.refused, VS_ISCSI_REFUSED_MAX_DISCOVERY);
	vs_iscsi_adm_discovery_touch(&a, &s[0], 950 * MS);
	/* s[1] has been idle 1000 ms, s[0] only 50. */
	assert_true(vs_iscsi_adm_discovery_admit(&a, &s[2], 1100 * MS, &v));
	assert_ptr_equal(v.victim, &s[1]);
	assert_int_equal(a.ndiscovery, 2);
	vs_iscsi_adm_discovery_release(&a, &s[1]);         /* replaced: holds nothing */
	assert_int_equal(a.ndiscovery, 2);
	assert_false(vs_iscsi_adm_discovery_admit(&a, &s[3], 1200 * MS, &v));
	vs_iscsi_adm_discovery_release(&a, &s[0]);
	assert_int_equal(a.ndiscovery, 1);
	assert_true(vs_iscsi_adm_discovery_admit(&a, &s[3], 1200 * MS, &v));
	assert_null(v.victim);
	vs_iscsi_adm_fini(&a);
}

/* The log limiter: a burst per window, then silence, then the count of
 * what was held back with the first line of the next window. */
static void test_log_rate(void **state)
{
	struct vs_log_rate r = { 0 };
	unsigned held = 99;

	(void)state;
	for (unsigned i = 0; i < VS_LOG_RATE_BURST; i++) {
		assert_true(vs_log_rate_ok(&r, 5000, &held));
		assert_int_equal(held, 0);
	}
	for (int i = 0; i < 7; i++)
		assert_false(vs_log_rate_ok(&r, 5000 + (uint64_t)i, &held));
	assert_true(vs_log_rate_ok(&r, 5000 + VS_LOG_RATE_WINDOW_MS, &held));
	assert_int_equal(held, 7);
	assert_true(vs_log_rate_ok(&r, 5001 + VS_LOG_RATE_WINDOW_MS, &held));
	assert_int_equal(held, 0);
}

/* ---------------------------------------------------------------- the fabric */

static uint64_t event(struct fx *f, int ev)
{
	struct vs_iscsi_admission_stats s;

	assert_int_equal(vs_iscsi_admission_stats(f->is, &s), 0);
	return s.events[ev];
}

static struct vs_iscsi_admission_stats held(struct fx *f)
{
	struct vs_iscsi_admission_stats s;

	assert_int_equal(vs_iscsi_admission_stats(f->is, &s), 0);
	return s;
}

/* What the fabric holds changes on its loops, a moment after what the
 * client sees (an accept after connect(), a session that leaves the table
 * once its connection is freed after the loop's pass): wait up to 2 s. */
#define WAIT_HELD(f, field, n) wait_held(f, offsetof(struct vs_iscsi_admission_stats, field), n)

static bool wait_held(struct fx *f, size_t off, uint32_t n)
{
	for (int i = 0; i < 200; i++) {
		struct vs_iscsi_admission_stats s = held(f);

		if (*(const uint32_t *)(const void *)((const char *)&s + off) == n)
			return true;
		usleep(10000);
	}
	return false;
}

static const uint8_t *isid(uint8_t n)
{
	static uint8_t v[16][6];

	v[n][0] = 0x80;
	v[n][5] = n;
	return v[n];
}

static int login_as(struct fx *f, struct cl *cl, struct login_opts o)
{
	memset(cl, 0, sizeof(*cl));
	cl->fd = connect_fx(f);
	o.expect_fail = true;
	return do_login(cl, &o);
}

/* Read what the target sends for up to ms, answering its NOP-In pings
 * (RFC 7143 §11.18) as a squatter would.  The elapsed ms when the target
 * closed the connection, or -1 if it was still open at the end. */
static int64_t hold_on(struct cl *cl, int ms)
{
	uint64_t t0 = now_ms();
	struct timeval tv = { .tv_usec = 100000 };

	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (now_ms() - t0 < (uint64_t)ms) {
		uint8_t b;
		ssize_t n = recv(cl->fd, &b, 1, MSG_PEEK);

		if (n == 0)
			return (int64_t)(now_ms() - t0);
		if (n < 0)
			continue;       /* nothing for 100 ms */
		if (recv_pdu(cl, &rx) < 0)
			return (int64_t)(now_ms() - t0);
		if ((rx.bhs[0] & 0x3f) == ISCSI_OP_NOP_IN && be32(rx.bhs + 20) != ISCSI_RESERVED_TAG) {
			uint8_t bhs[48] = { 0 };

			bhs[0] = ISCSI_OP_NOP_OUT | ISCSI_FLAG_IMMEDIATE;
			bhs[1] = ISCSI_FLAG_FINAL;
			iscsi_put_be32(bhs + 16, ISCSI_RESERVED_TAG);
			memcpy(bhs + 20, rx.bhs + 20, 4);
			iscsi_put_be32(bhs + 24, cl->cmdsn);
			iscsi_put_be32(bhs + 28, cl->exp_statsn);
			/* The target may have closed meanwhile: no assert. */
			if (send(cl->fd, bhs, sizeof(bhs), MSG_NOSIGNAL) != (ssize_t)sizeof(bhs))
				return (int64_t)(now_ms() - t0);
		}
	}
	tv.tv_sec = 5;
	tv.tv_usec = 0;
	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return -1;
}

/* SendTargets=All (§11.10, Appendix C): the answer names TGT. */
static void send_targets(struct cl *cl)
{
	static const char text[] = "SendTargets=All";
	uint8_t bhs[48] = { 0 };

	bhs[0] = ISCSI_OP_TEXT_REQ;
	bhs[1] = ISCSI_FLAG_FINAL;
	iscsi_put_be32(bhs + 16, cl->itt++);
	iscsi_put_be32(bhs + 20, ISCSI_RESERVED_TAG);
	iscsi_put_be32(bhs + 24, cl->cmdsn++);
	iscsi_put_be32(bhs + 28, cl->exp_statsn);
	send_pdu(cl, bhs, text, sizeof(text));
	do
		assert_int_equal(recv_pdu(cl, &rx), 0);
	while ((rx.bhs[0] & 0x3f) == ISCSI_OP_NOP_IN);
	assert_int_equal(rx.bhs[0] & 0x3f, ISCSI_OP_TEXT_RESP);
	cl->exp_statsn = be32(rx.bhs + 24) + 1;
	assert_non_null(key_value(&rx, "TargetName"));
}

static int setup_discovery(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .max_sessions = 1,
		                             .max_discovery_sessions = 2, .discovery_idle_ms = 500,
		                             .nop_interval_ms = 100, .nop_timeout_ms = 2000 };
	return fx_setup(state);
}

/* Discovery sessions have their own budget: two of them leave the only
 * normal session slot free, and a third is refused. */
static void test_discovery_outside_max_sessions(void **state)
{
	struct fx *f = *state;
	struct cl d[3], n;

	assert_int_equal(login_as(f, &d[0], (struct login_opts){ .discovery = true }), 0);
	assert_int_equal(login_as(f, &d[1], (struct login_opts){ .discovery = true, .isid = isid(1) }), 0);
	assert_int_equal(login_as(f, &d[2], (struct login_opts){ .discovery = true, .isid = isid(2) }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	assert_int_equal(login_as(f, &n, (struct login_opts){ .isid = isid(3) }), 0);
	ping(&n, 0x10);
	assert_int_equal(held(f).sessions, 1);
	assert_int_equal(held(f).discovery_sessions, 2);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_DISCOVERY), 1);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_SESSIONS), 0);
	for (int i = 0; i < 3; i++)
		close(d[i].fd);
	close(n.fd);
}

/* Answering pings does not keep a discovery session: it is closed after
 * discovery_idle_ms (500).  One that asks SendTargets now and then stays. */
static void test_discovery_idle(void **state)
{
	struct fx *f = *state;
	struct cl squat, asker;
	int64_t took;

	assert_int_equal(login_as(f, &squat, (struct login_opts){ .discovery = true }), 0);
	assert_int_equal(login_as(f, &asker, (struct login_opts){ .discovery = true, .isid = isid(1) }), 0);
	for (int i = 0; i < 10; i++) {
		send_targets(&asker);
		usleep(100000);
	}
	/* A second in: the squatter has been pinged (nop_interval 100 ms),
	 * not answered here, and is gone since about 500 ms. */
	took = hold_on(&squat, 2000);
	assert_true(took >= 0);
	send_targets(&asker);
	assert_int_equal(event(f, VS_ISCSI_DROPPED_DISCOVERY_IDLE), 1);
	close(squat.fd);
	close(asker.fd);
}

/* A squatter that answers pings the whole time still gets closed: the
 * timer counts from its login, not from its last PDU. */
static void test_discovery_idle_despite_pings(void **state)
{
	struct fx *f = *state;
	struct cl squat;
	uint64_t t0 = now_ms();
	int64_t took;

	assert_int_equal(login_as(f, &squat, (struct login_opts){ .discovery = true }), 0);
	took = hold_on(&squat, 3000);
	assert_true(took >= 0);
	assert_true(now_ms() - t0 >= 500);
	assert_true(now_ms() - t0 < 2500);
	assert_int_equal(event(f, VS_ISCSI_DROPPED_DISCOVERY_IDLE), 1);
	assert_true(WAIT_HELD(f, discovery_sessions, 0));
	close(squat.fd);
}

static int setup_discovery_full(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8,
		                             .max_discovery_sessions = 1, .nop_interval_ms = 100,
		                             .nop_timeout_ms = 5000 };
	return fx_setup(state);
}

/* A full discovery budget: a new session takes the place of one that has
 * asked nothing for ISCSI_DISCOVERY_REPLACE_MS, which is closed. */
static void test_discovery_replaced(void **state)
{
	struct fx *f = *state;
	struct cl squat, next;

	assert_int_equal(login_as(f, &squat, (struct login_opts){ .discovery = true }), 0);
	assert_int_equal(login_as(f, &next, (struct login_opts){ .discovery = true, .isid = isid(1) }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	close(next.fd);
	assert_int_equal(hold_on(&squat, ISCSI_DISCOVERY_REPLACE_MS + 100), -1);
	assert_int_equal(login_as(f, &next, (struct login_opts){ .discovery = true, .isid = isid(1) }), 0);
	send_targets(&next);
	assert_true(hold_on(&squat, 2000) >= 0);
	assert_int_equal(event(f, VS_ISCSI_DROPPED_DISCOVERY_REPLACED), 1);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_DISCOVERY), 1);
	assert_true(WAIT_HELD(f, discovery_sessions, 1));
	close(squat.fd);
	close(next.fd);
}

#define TGT_ACL  "iqn.2026-01.org.vstor:unit-acl"
#define TGT_CHAP "iqn.2026-01.org.vstor:unit-chap"
#define INI_OK   "iqn.2026-01.org.vstor:known"

static int setup_reserved(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .nop_interval_ms = 60000,
		                             .max_sessions = 3, .reserved_sessions = 2 };
	return fx_setup(state);
}

/* max_sessions 3, 2 reserved: an initiator nobody vetted (TGT has no ACL
 * or CHAP) gets the one open slot; the reserved ones go to an initiator
 * named by an ACL and to one that passed CHAP; then nothing is left. */
static void test_reserved_sessions(void **state)
{
	struct fx *f = *state;
	const char *acl[] = { INI_OK };
	struct vs_iscsi_chap chap = { .user = "u", .secret = "secret-1234567" };
	struct cl c[5];

	assert_int_equal(vs_iscsi_add_target(f->is, &(struct vs_iscsi_target_config){
	                         .iqn = TGT_ACL, .port = f->port, .acl = acl, .nacl = 1 }), 0);
	assert_int_equal(vs_iscsi_add_target(f->is, &(struct vs_iscsi_target_config){
	                         .iqn = TGT_CHAP, .port = f->port, .chap = &chap }), 0);
	assert_int_equal(login_as(f, &c[0], (struct login_opts){ .isid = isid(1) }), 0);
	assert_int_equal(login_as(f, &c[1], (struct login_opts){ .isid = isid(2) }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_RESERVED), 1);
	/* CHAP passed on the CHAP target, with the anonymous initiator name. */
	assert_int_equal(login_as(f, &c[2], (struct login_opts){ .isid = isid(3), .target = TGT_CHAP,
	                                                          .user = "u", .secret = "secret-1234567" }),
	                 0);
	assert_int_equal(login_as(f, &c[3], (struct login_opts){ .isid = isid(4), .target = TGT_ACL,
	                                                          .initiator = INI_OK }), 0);
	assert_int_equal(login_as(f, &c[4], (struct login_opts){ .isid = isid(5), .target = TGT_ACL,
	                                                          .initiator = INI_OK }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_SESSIONS), 1);
	assert_int_equal(held(f).sessions, 3);
	for (int i = 0; i < 5; i++)
		close(c[i].fd);
	assert_true(wait_sessions(f, 0, 2000));
	assert_int_equal(held(f).sessions, 0);
}

/* Without a target that vets anyone, nothing is held back. */
static void test_reserved_unused_without_vetting(void **state)
{
	struct fx *f = *state;
	struct cl c[4];

	for (uint8_t i = 0; i < 3; i++)
		assert_int_equal(login_as(f, &c[i], (struct login_opts){ .isid = isid(i) }), 0);
	assert_int_equal(login_as(f, &c[3], (struct login_opts){ .isid = isid(3) }),
	                 ISCSI_LOGIN_STATUS_NO_RESOURCES);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_SESSIONS), 1);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_RESERVED), 0);
	for (int i = 0; i < 4; i++)
		close(c[i].fd);
}

static int setup_logins(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .nop_interval_ms = 60000,
		                             .max_connections = 16, .max_login_connections = 4,
		                             .max_logins_per_source = 2, .login_timeout_ms = 60000 };
	return fx_setup(state);
}

/* A TCP connection to the portal from source address src (127.0.0.x);
 * returns once the target has had time to accept (or refuse) it. */
static int connect_from(const struct sockaddr_in *portal, const char *src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (const struct sockaddr *)portal, sizeof(*portal)), 0);
	usleep(50000);
	return fd;
}

/* The target closed fd (EOF, or a reset) rather than leaving it open. */
static bool closed(int fd)
{
	struct timeval tv = { .tv_sec = 2 };
	uint8_t b;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(fd, &b, 1, 0);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static bool still_open(int fd)
{
	uint8_t b;

	return recv(fd, &b, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Connections from 127.0.0.2 and .3 that never log in fill the login
 * budget (4, 2 per address); a third from .2 is refused at once; a login
 * from 127.0.0.1 still gets in, closing .2's oldest. */
static void test_login_budget(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in portal;
	socklen_t len = sizeof(portal);
	int squat[4], fd;

	assert_int_equal(vs_iscsi_add_portal(f->is, "127.0.0.1:0"), 0);
	assert_int_equal(getsockname(f->is->portals[0].fd, (struct sockaddr *)&portal, &len), 0);
	squat[0] = connect_from(&portal, "127.0.0.2");
	squat[1] = connect_from(&portal, "127.0.0.2");
	fd = connect_from(&portal, "127.0.0.2");
	assert_true(closed(fd));
	close(fd);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_LOGINS_PER_SOURCE), 1);
	squat[2] = connect_from(&portal, "127.0.0.3");
	squat[3] = connect_from(&portal, "127.0.0.3");
	assert_true(WAIT_HELD(f, logins, 4));
	{
		struct cl cl = { .fd = connect_from(&portal, "127.0.0.1") };

		assert_int_equal(do_login(&cl, &(struct login_opts){ 0 }), 0);
		ping(&cl, 0x20);
		close(cl.fd);
	}
	assert_true(closed(squat[0]));
	assert_int_equal(event(f, VS_ISCSI_DROPPED_LOGIN_EVICTED), 1);
	for (int i = 1; i < 4; i++)
		assert_true(still_open(squat[i]));
	assert_int_equal(held(f).logins, 3);
	/* Full again; .2 reconnects: it holds one, nobody holds two more. */
	squat[0] = connect_from(&portal, "127.0.0.4");
	fd = connect_from(&portal, "127.0.0.2");
	assert_true(closed(fd));
	close(fd);
	assert_int_equal(event(f, VS_ISCSI_REFUSED_MAX_LOGINS), 1);
	/* A newcomer: .3 holds two, the oldest of them goes. */
	fd = connect_from(&portal, "127.0.0.5");
	assert_true(closed(squat[2]));
	assert_true(still_open(squat[3]));
	assert_true(still_open(fd));
	assert_int_equal(event(f, VS_ISCSI_DROPPED_LOGIN_EVICTED), 2);
	assert_int_equal(held(f).logins, 4);
	close(fd);
	for (int i = 0; i < 4; i++)
		close(squat[i]);
}

static int setup_login_timeout(void **state)
{
	next_cfg = (struct vs_iscsi_config){ .threads = 2, .queue_depth = 8, .nop_interval_ms = 60000,
		                             .login_timeout_ms = 300 };
	return fx_setup(state);
}

/* The login timeout still applies, gives the place back, and is counted. */
static void test_login_timeout_counted(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in portal;
	socklen_t len = sizeof(portal);
	int fd;

	assert_int_equal(vs_iscsi_add_portal(f->is, "127.0.0.1:0"), 0);
	assert_int_equal(getsockname(f->is->portals[0].fd, (struct sockaddr *)&portal, &len), 0);
	fd = connect_from(&portal, "127.0.0.2");
	assert_true(WAIT_HELD(f, logins, 1));
	assert_true(closed(fd));
	close(fd);
	assert_int_equal(event(f, VS_ISCSI_DROPPED_LOGIN_TIMEOUT), 1);
	assert_int_equal(held(f).logins, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_fair_shares),
		cmocka_unit_test(test_login_unbound),
		cmocka_unit_test(test_login_source_identity),
		cmocka_unit_test(test_sessions_reserved),
		cmocka_unit_test(test_discovery_budget),
		cmocka_unit_test(test_log_rate),
		cmocka_unit_test_setup_teardown(test_discovery_outside_max_sessions, setup_discovery,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_discovery_idle, setup_discovery, fx_teardown),
		cmocka_unit_test_setup_teardown(test_discovery_idle_despite_pings, setup_discovery,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_discovery_replaced, setup_discovery_full, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_sessions, setup_reserved, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_unused_without_vetting, setup_reserved,
		                                fx_teardown),
		cmocka_unit_test_setup_teardown(test_login_budget, setup_logins, fx_teardown),
		cmocka_unit_test_setup_teardown(test_login_timeout_counted, setup_login_timeout,
		                                fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
