/* SPDX-License-Identifier: MIT */
/*
 * The disk class layer (Windows disk.sys / ClassPnP): block requests in,
 * SRBs out.  A block fabric (NBD) or an in-process user opens one LUN of a
 * port as a struct vs_disk, which is one I_T nexus to the port, so the
 * port's queueing, task management, unit attentions and statistics stay in
 * the path.  Users of the class layer include this header only.
 *
 * What it does for each block request:
 *  - builds the CDBs: READ(16) / WRITE(16) (FUA bit), SYNCHRONIZE CACHE(16),
 *    UNMAP, WRITE SAME(16) with UNMAP / NDOB, GET LBA STATUS (SBC-3 5.x);
 *  - splits it into pieces the device takes: the port's maximum transfer
 *    and scatter/gather limit (vs_port_adapter_caps), the LUN's Block
 *    Limits VPD page (SBC-3 6.6.4: MAXIMUM TRANSFER LENGTH, MAXIMUM UNMAP
 *    LBA COUNT / BLOCK DESCRIPTOR COUNT, MAXIMUM WRITE SAME LENGTH, OPTIMAL
 *    UNMAP GRANULARITY), read once when the disk is probed;
 *  - completes the request exactly once, when every piece has finished;
 *    the first piece to fail decides its error, and no further piece of it
 *    is started;
 *  - retries by the table below.
 *
 * Retry table (vs_disk_* results are 0 or a negative errno):
 *
 *   result of one SRB                              action        errno when it gives up
 *   ---------------------------------------------  ------------  ---------------------
 *   GOOD, CONDITION MET, RECOVERED ERROR           done          -
 *   CHECK CONDITION, UNIT ATTENTION (any ASC)      retry at once -EIO (after 8)
 *       reported upward (VS_DISK_EV_UNIT_ATTENTION); 2A/09 CAPACITY DATA
 *       HAS CHANGED also re-reads the capacity (VS_DISK_EV_CAPACITY)
 *   CHECK CONDITION, deferred error (71h/73h)      retry at once -EIO (after 8)
 *   CHECK CONDITION, ABORTED COMMAND / NO SENSE    retry at once -EIO (after 8)
 *   TASK ABORTED (another nexus's TMF, TAS=1)      retry at once -EIO (after 8)
 *   VS_SRB_BUS_RESET (a reset cleared it)          retry at once -EIO (after 8)
 *   BUSY, TASK SET FULL                            back-off      -ETIMEDOUT at the deadline
 *   NOT READY, 04/01 LUN BECOMING READY            back-off      -ETIMEDOUT at the deadline
 *   NOT READY, 3A/xx MEDIUM NOT PRESENT            fail          -ENOMEDIUM
 *   NOT READY, other                               fail          -EIO
 *   MEDIUM ERROR, HARDWARE ERROR, BLANK CHECK      fail          -EIO
 *   ILLEGAL REQUEST, 20/00 INVALID OPCODE          fail          -EOPNOTSUPP
 *   ILLEGAL REQUEST, 21/00 LBA OUT OF RANGE        fail          -EINVAL
 *   ILLEGAL REQUEST, 25/00 LUN NOT SUPPORTED       fail          -ENODEV
 *   ILLEGAL REQUEST, other                         fail          -EINVAL
 *   DATA PROTECT, 27/07 SPACE ALLOCATION FAILED    fail          -ENOSPC
 *   DATA PROTECT, 27/xx WRITE PROTECTED            fail          -EROFS
 *   DATA PROTECT, other                            fail          -EACCES
 *   MISCOMPARE                                     fail          -EILSEQ
 *   RESERVATION CONFLICT                           fail          -EBADE
 *   ACA ACTIVE, other status, unreadable sense     fail          -EIO
 *   VS_SRB_ABORTED (our own nexus aborted)         fail          -ECANCELED
 *   VS_SRB_TIMEOUT (the port timed it out)         fail          -ETIMEDOUT
 *   VS_SRB_NO_DEVICE (LUN removed)                 fail          -ENODEV
 *   VS_SRB_ERROR (port / miniport internal)        fail          -EIO
 *
 * Back-off starts at 1 ms and doubles up to 100 ms per piece; the deadline
 * is retry_deadline_ms after the block request was submitted.  Sense data
 * in fixed (70h/71h) and descriptor (72h/73h) format is understood
 * (vs_sense_parse, srb.h).
 *
 * Threading and memory: everything a request needs (request slots, SRBs,
 * pieces, iovec slices) is allocated by vs_disk_create; the I/O path
 * allocates nothing.  A request that finds no SRB or piece free waits in
 * the disk's queue (in order) until one is.  Requests may be submitted
 * from any thread; done() and the event callback run on whatever thread
 * completed the last SRB (possibly inline in vs_disk_submit), never under
 * a class lock, so they may submit again.  One disk has one mutex, shared
 * by nothing else.
 */
#ifndef VSTOR_CLASS_H
#define VSTOR_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vs_port;
struct vs_nexus;
struct vs_disk;

enum vs_blk_op {
	VS_BLK_READ = 1,
	VS_BLK_WRITE,
	VS_BLK_FLUSH,           /* the whole LUN's write cache */
	VS_BLK_UNMAP,           /* deallocate (trim); contents then undefined unless unmap_zeroes */
	VS_BLK_WRITE_ZEROES,
	VS_BLK_BLOCK_STATUS,    /* which ranges are holes / read as zeroes */
};

/* flags */
#define VS_BLK_FUA       0x1u   /* WRITE, WRITE_ZEROES, UNMAP: durable before done() */
#define VS_BLK_NO_UNMAP  0x2u   /* WRITE_ZEROES: keep the blocks allocated (no hole) */
#define VS_BLK_FAST_ZERO 0x4u   /* WRITE_ZEROES: -EOPNOTSUPP at once unless it can be
                                 * done by deallocating (faster than writing) */
#define VS_BLK_MAY_LEND  0x8u   /* READ: the data may come by reference (data_ref) */

/* VS_BLK_BLOCK_STATUS result: one run of blocks with the same state. */
#define VS_BLK_EXTENT_HOLE 0x1u /* not allocated (SBC-3 "deallocated") */
#define VS_BLK_EXTENT_ZERO 0x2u /* reads as zeroes */
struct vs_blk_extent {
	uint64_t offset, length;        /* bytes */
	uint32_t flags;
};

struct vs_blk_request;
typedef void (*vs_blk_done_fn)(struct vs_blk_request *req);

struct vs_blk_request {
	/* ---- filled by the caller before vs_disk_submit ---- */
	uint8_t  op;                    /* enum vs_blk_op */
	uint32_t flags;                 /* VS_BLK_* */
	uint64_t offset, length;        /* bytes, multiples of the block size; FLUSH: ignored */
	const struct iovec *iov;        /* READ / WRITE: at least `length` bytes */
	int      iovcnt;                /* at most the disk's max_iov */
	struct vs_blk_extent *extents;  /* BLOCK_STATUS: room for max_extents */
	uint32_t max_extents;
	vs_blk_done_fn done;            /* exactly once */
	void    *ctx;                   /* the caller's */

	/* ---- results, valid in done() ---- */
	int      result;                /* 0 or -errno (table above) */
	uint32_t nextents;              /* BLOCK_STATUS: extents filled, covering a prefix */
	/* A READ with VS_BLK_MAY_LEND that succeeded: NULL (the data is in
	 * iov), or the `length` bytes the device lends from its own memory (a
	 * RAM disk's; srb.h data_ref) with iov left untouched.  Read-only,
	 * valid until vs_disk_request_release() or vs_disk_request_put(); the
	 * bytes may change with a later write, so a caller that checksums them
	 * and sends later must copy.  Lent only when the request went to the
	 * device as one command (not split). */
	const void *data_ref;
};

/*
 * Back-off timer, normally an event loop's timer.  arm() asks for one call
 * of vs_disk_timer_expired(disk) at or after when_ns (CLOCK_MONOTONIC, or
 * now_ns's clock); each call replaces the previous request; UINT64_MAX
 * cancels.  arm() is called with the disk's lock held, so it must not call
 * back into the disk itself.  With arm == NULL the class layer uses one
 * timer thread of its own (shared by such disks; it runs only for retries).
 */
#define VS_DISK_TIMER_OFF UINT64_MAX
struct vs_disk_timer {
	void (*arm)(void *ctx, uint64_t when_ns);
	uint64_t (*now_ns)(void *ctx);  /* NULL: CLOCK_MONOTONIC */
	void *ctx;
};

enum vs_disk_event_type {
	VS_DISK_EV_UNIT_ATTENTION = 1,  /* asc_ascq: what the device reported */
	VS_DISK_EV_CAPACITY,            /* capacity re-read after 2A/09: capacity_bytes */
};
struct vs_disk_event {
	enum vs_disk_event_type type;
	uint16_t asc_ascq;
	uint64_t capacity_bytes;
};
typedef void (*vs_disk_event_fn)(void *ctx, const struct vs_disk_event *ev);

struct vs_disk_config {
	struct vs_port *port;
	uint64_t lun;
	const char *nexus_name;         /* the I_T nexus (initiator port) name, e.g. the peer */
	const char *initiator_name;     /* NULL: nexus_name */
	uint32_t queue_depth;           /* block requests at once; 0 = 64 */
	uint32_t max_srbs;              /* pieces in the port or waiting for a retry at
	                                 * once (one SRB each); 0 = queue_depth */
	uint32_t max_iov;               /* iovec entries per READ / WRITE; 0 = 16 */
	uint32_t retry_deadline_ms;     /* 0 = 30000 */
	uint32_t srb_timeout_ms;        /* per SRB; 0 = the port's default */
	struct vs_disk_timer timer;
	vs_disk_event_fn event;         /* may be NULL */
	void *event_ctx;
};

/* What the probe found (SBC-3 READ CAPACITY(16), Block Limits and Logical
 * Block Provisioning VPD pages, the caching mode page). */
struct vs_disk_info {
	uint64_t capacity_bytes;
	uint32_t block_size;            /* logical */
	uint32_t physical_block_size;
	uint32_t max_transfer_bytes;    /* per SRB: the port's and the LUN's limit */
	uint32_t optimal_transfer_bytes;        /* 0: not reported */
	uint32_t optimal_granularity_bytes;     /* OPTIMAL TRANSFER LENGTH GRANULARITY; 0: none */
	uint32_t max_unmap_blocks;      /* per UNMAP command */
	uint32_t max_unmap_descriptors;
	uint32_t unmap_granularity_blocks;      /* 0: none */
	uint32_t unmap_alignment_blocks;
	uint64_t max_write_same_blocks;
	bool readonly;                  /* mode parameter header WP */
	bool write_cache;               /* caching page WCE */
	bool can_unmap;                 /* LBPME and LBPU */
	bool can_write_same_unmap;      /* LBPWS: WRITE SAME(16) may deallocate */
	bool unmap_zeroes;              /* LBPRZ: deallocated blocks read as zeroes */
	bool block_status;              /* LBPME: GET LBA STATUS tells holes */
};

/* Allocate everything and open the nexus.  NULL with vs_last_error() set. */
struct vs_disk *vs_disk_create(const struct vs_disk_config *cfg);
/*
 * Ask the LUN what it is (INQUIRY, VPD 00h/B0h/B2h, READ CAPACITY(16),
 * MODE SENSE(10) caching page), retrying as the table says (a new nexus
 * first meets POWER ON OCCURRED).  done(ctx, err) runs once; 0 means
 * vs_disk_info is valid and requests may be submitted.  -ENODEV: no disk
 * at that LUN.
 */
int vs_disk_probe(struct vs_disk *disk, void (*done)(void *ctx, int err), void *ctx);
/* The same, waiting for the answer (not on a thread that must not block). */
int vs_disk_probe_sync(struct vs_disk *disk);
void vs_disk_info(struct vs_disk *disk, struct vs_disk_info *out);
struct vs_nexus *vs_disk_nexus(struct vs_disk *disk);

/* A free request slot (NULL when queue_depth are in use), with the caller's
 * fields cleared.  Give it back with vs_disk_request_put after done(). */
struct vs_blk_request *vs_disk_request_get(struct vs_disk *disk);
void vs_disk_request_put(struct vs_blk_request *req);
/* End a READ's loan (data_ref), if it has one; any thread, after done(). */
void vs_disk_request_release(struct vs_blk_request *req);
/*
 * Start a request; done() runs exactly once, perhaps inline.  A request
 * the disk cannot take at all completes at once with -EINVAL (misaligned,
 * past the capacity, too many iovec entries, data shorter than length),
 * -EROFS (a write to a read-only LUN), -EOPNOTSUPP (UNMAP without LBPU,
 * FAST_ZERO that would have to write), -ESHUTDOWN (after vs_disk_abort).
 */
void vs_disk_submit(struct vs_disk *disk, struct vs_blk_request *req);

/*
 * Connection loss / shutdown: fail every request with -ECANCELED that has
 * not finished yet (queued ones at once, those waiting for a retry at once,
 * those in the port through vs_port_nexus_abort_all); new ones get
 * -ESHUTDOWN.  Each still completes exactly once.  Does not block.
 */
void vs_disk_abort(struct vs_disk *disk);
/* Requests not yet given back with vs_disk_request_put. */
uint32_t vs_disk_busy(struct vs_disk *disk);
/* Close the nexus and free.  -EBUSY (nothing done) while requests are out. */
int vs_disk_destroy(struct vs_disk *disk);

/* The back-off timer fired (see struct vs_disk_timer).  Any thread. */
void vs_disk_timer_expired(struct vs_disk *disk);

#endif
