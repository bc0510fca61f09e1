/* SPDX-License-Identifier: MIT */
/*
 * libvstor-service: write a storage service -- a miniport in a process of
 * its own -- in a few lines (doc/services.md; the protocol under it:
 * doc/service-protocol.md).
 *
 *   struct vs_svc *s = vs_svc_open(&(struct vs_svc_options){
 *           .name = "ramdisk", .target = "iqn.2026-11.org.vstor:default" });
 *   vs_svc_attach_disk(s, 1, &disk, &my_ops, my_ctx);   // LUN 1 appears
 *   vs_svc_run(s);                                       // until stopped
 *   vs_svc_close(s);
 *
 * Two modes, per LUN:
 *  - disk mode (vs_svc_attach_disk): the library runs vstor's SBC-3 disk
 *    emulation (INQUIRY, READ CAPACITY, MODE SENSE/SELECT, reservations,
 *    UNMAP, WRITE SAME, COMPARE AND WRITE, ...) inside the service, which
 *    implements only read, write, and optionally flush, unmap and
 *    write_zeroes -- as an nbdkit plugin does.
 *  - raw mode (vs_svc_attach_raw): the service gets every SCSI command of
 *    the LUN and answers it itself: any device type.
 * REPORT LUNS, unit attentions, queue depth, timeouts and task management
 * stay with vstord.
 *
 * Command data is in memory shared with vstord: the buffer a command
 * hands you is where the initiator's data arrived, and where you put what
 * it reads.  Nothing is copied between the processes.
 *
 * Errors: functions return NULL or a negative errno; vs_svc_error() is a
 * one-line message (per thread) saying why.
 *
 * Threads: vs_svc_run() serves on the calling thread.  Raw-mode commands
 * are delivered on it and may be finished from any thread.  Disk-mode
 * ops run on the library's worker threads (vs_svc_options.threads), or on
 * the serving thread itself for a disk that says its ops never block
 * (vs_svc_disk.inline_ops, e.g. memory).
 */
#ifndef VSTOR_SERVICE_H
#define VSTOR_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VS_SVC_LIB_VERSION 1

struct vs_svc;
struct vs_svc_cmd;

struct vs_svc_options {
	/* vstord's service socket; NULL: $VSTOR_SERVICE_SOCKET, else
	 * /run/vstor/service.sock */
	const char *socket_path;
	const char *name;           /* required: [A-Za-z0-9._-], at most 63; who attaches again */
	const char *target;         /* required: the target the LUNs go to (IQN) */
	uint32_t ring_entries;      /* commands in flight at most, a power of two; 0: 256 */
	uint64_t data_bytes;        /* shared data area, a multiple of 8 MiB; 0: 64 MiB */
	uint32_t threads;           /* disk mode worker threads; 0: 4 */
	/* Spin this long for new commands before sleeping (0: sleep at once). */
	uint32_t poll_us;
};

/* Connect and say hello.  NULL with vs_svc_error() on failure. */
struct vs_svc *vs_svc_open(const struct vs_svc_options *opts);
/* Serve until vs_svc_stop() (returns 0) or until vstord closes the
 * connection or refuses us (-ECONNRESET / -EPROTO, vs_svc_error() says
 * why).  The LUNs stay present in vstord when we go; a service with the
 * same name attaches them again without a new login of the initiators. */
int  vs_svc_run(struct vs_svc *s);
/* Make vs_svc_run return; from any thread or a signal handler. */
void vs_svc_stop(struct vs_svc *s);
/* Close (without detaching: the LUNs wait for us) and free. */
void vs_svc_close(struct vs_svc *s);
const char *vs_svc_error(void);

/* Remove a LUN of ours from the target (REPORTED LUNS DATA HAS CHANGED).
 * Without force, refused (-EBUSY) while commands are in flight.
 * Blocking; not from a command callback. */
int  vs_svc_detach(struct vs_svc *s, uint64_t lun, bool force);

/* ---------------------------------------------------------------- disk mode */

struct vs_svc_disk {
	uint64_t size_bytes;            /* required, a multiple of block_size */
	uint32_t block_size;            /* 512 or 4096 (0: 512) */
	uint32_t physical_block_size;   /* 0: block_size */
	bool readonly;
	bool removable;
	/* Writes may sit in a volatile cache until flush (the caching mode
	 * page says WCE=1); without it every write is durable when it
	 * completes.  Needs ops.flush. */
	bool write_cache;
	bool unmap_zeroes;              /* unmapped blocks read back as zeroes */
	uint32_t unmap_granularity;     /* bytes an unmap deallocates in; 0: unknown */
	bool inline_ops;                /* the ops never block: call them on the serving thread */
	const char *serial;             /* VPD 80h; NULL: from the target name and LUN */
	const char *pr_state_path;      /* where APTPL reservations persist; NULL: none */
	const char *description;        /* for listings (vstorctl service list) */
	/* Optional: the disk's bytes, all size_bytes of them, are here, in
	 * memory from vs_svc_mem_alloc() that the ops read and write.  Then
	 * vstord sends READ data straight from it (no copy in the service);
	 * ops.read still serves the reads it cannot (iSCSI data digests need
	 * data that stays as it was; a vstord before protocol 1.1). */
	const void *mem;
};

/* Blocking calls; 0 or a negative errno (-EIO: MEDIUM ERROR, -ENOSPC:
 * SPACE ALLOCATION FAILED, ...).  offset and len are bytes, multiples of
 * the block size. */
struct vs_svc_disk_ops {
	int (*read)(void *ctx, void *buf, uint32_t len, uint64_t offset);
	/* fua: durable before returning (SBC-3 FUA) */
	int (*write)(void *ctx, const void *buf, uint32_t len, uint64_t offset, bool fua);
	int (*flush)(void *ctx);                                            /* optional */
	int (*unmap)(void *ctx, uint64_t offset, uint64_t len);             /* optional */
	int (*write_zeroes)(void *ctx, uint64_t offset, uint64_t len);      /* optional */
	/* optional, with unmap: is [offset, offset+len) mapped (SBC-3 GET LBA
	 * STATUS)?  *mapped for the extent from offset, *extent_len its length */
	int (*block_status)(void *ctx, uint64_t offset, uint64_t len, bool *mapped,
	                    uint64_t *extent_len);
};

/* Memory vstord can send READ data from (doc/service-protocol.md,
 * "Lending"): len bytes, zeroed, a page of memory once touched, shared
 * read-only with vstord.  For vs_svc_disk.mem.  At most 16 per service;
 * unmapped by vs_svc_close() (do not munmap it).  Advised for 2 MiB
 * pages, so where the system's policy lets that count the first write
 * into a 2 MiB region takes all of it (doc/services.md "Huge pages").
 * NULL with vs_svc_error() on failure.  Blocking; before vs_svc_run or beside it. */
void *vs_svc_mem_alloc(struct vs_svc *s, uint64_t len);
/* Give [p, p+len) of such memory back to the kernel: it reads as zeroes
 * again (for UNMAP).  0 or -errno. */
int vs_svc_mem_discard(struct vs_svc *s, void *p, uint64_t len);

/* Attach LUN `lun` served by the disk emulation over ops.  0 or -errno
 * (-EEXIST: the number is taken, by a configured LUN or another service).
 * Blocking; call before or while vs_svc_run serves. */
int vs_svc_attach_disk(struct vs_svc *s, uint64_t lun, const struct vs_svc_disk *disk,
                       const struct vs_svc_disk_ops *ops, void *ctx);

/* ---------------------------------------------------------------- raw mode */

/* The initiator a command came from (an I_T nexus, SAM-5). */
struct vs_svc_nexus {
	uint32_t id;                    /* unique among those now open */
	const char *name;               /* initiator port name */
	const char *initiator_name;
	const uint8_t *transport_id;    /* SPC-4 7.6.4 */
	uint16_t transport_id_len;
	uint16_t rel_target_port_id;
};

struct vs_svc_raw_ops {
	/* A command: finish it with vs_svc_cmd_done() (any thread, once). */
	void (*command)(void *ctx, struct vs_svc_cmd *cmd);
	/* Optional: vstord would like cmd finished soon (it was aborted). */
	void (*abort)(void *ctx, struct vs_svc_cmd *cmd);
	/* Optional: a LOGICAL UNIT RESET of this LUN, or a target reset:
	 * drop what a reset clears (SPC-4: reservations, ...). */
	void (*reset)(void *ctx);
	/* Optional: an initiator is gone (SAM-5 I_T nexus loss). */
	void (*nexus_lost)(void *ctx, const struct vs_svc_nexus *nexus);
};

struct vs_svc_raw_lun {
	uint8_t peripheral_type;        /* SPC-4 PERIPHERAL DEVICE TYPE, for listings */
	uint64_t size_bytes;            /* for listings; 0 if it has none */
	uint32_t block_size;
	bool readonly;
	const char *description;
};

int vs_svc_attach_raw(struct vs_svc *s, uint64_t lun, const struct vs_svc_raw_lun *info,
                      const struct vs_svc_raw_ops *ops, void *ctx);

/* What a command is. */
const uint8_t *vs_svc_cmd_cdb(const struct vs_svc_cmd *cmd, uint8_t *cdb_len);
uint64_t vs_svc_cmd_lun(const struct vs_svc_cmd *cmd);
/* Its data buffer (shared with vstord) and its length; NULL when none.
 * Data-out: the initiator's data is in it.  Data-in: fill it. */
void *vs_svc_cmd_data(const struct vs_svc_cmd *cmd, uint32_t *len);
#define VS_SVC_CMD_NONE 0
#define VS_SVC_CMD_READ 1               /* data-in: from the device */
#define VS_SVC_CMD_WRITE 2              /* data-out: to the device */
int vs_svc_cmd_dir(const struct vs_svc_cmd *cmd);
/* NULL when the command came without one. */
const struct vs_svc_nexus *vs_svc_cmd_nexus(const struct vs_svc_cmd *cmd);

/* Finish a command: SAM status (0 GOOD, 2 CHECK CONDITION, 8 BUSY, ...)
 * and how many bytes of data-in are valid (underflow is reported for
 * the rest).  After this, cmd is gone. */
void vs_svc_cmd_done(struct vs_svc_cmd *cmd, uint8_t status, uint32_t xfer_len);
/* Finish with CHECK CONDITION and fixed-format sense (SPC-4 4.5.3). */
void vs_svc_cmd_sense(struct vs_svc_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq);

#ifdef __cplusplus
}
#endif

#endif
