/* SPDX-License-Identifier: MIT */
/*
 * struct vs_srb — vstor's SCSI Request Block, the unit of work that travels
 * fabric → port → miniport and back (Storport's SCSI_REQUEST_BLOCK).
 *
 * Ownership: the fabric takes an SRB from a pool created by the port
 * (vs_srb_pool_*), fills the "submitter" fields and calls vs_port_submit().
 * The port calls srb->done exactly once.  The fabric then calls vs_srb_put();
 * the SRB (and the data buffers it points at) returns to its pool only when
 * the miniport has also let go of it, so a late completion from a backend
 * after an abort or reset can never touch a reused SRB.
 */
#ifndef VSTOR_SRB_H
#define VSTOR_SRB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VS_CDB_MAX      32
#define VS_SENSE_MAX    252     /* SPC-4 4.5.1: sense data is at most 252 bytes */

enum vs_data_dir {
	VS_DIR_NONE  = 0,
	VS_DIR_FROM_DEVICE = 1,  /* data-in: READ, INQUIRY, ... */
	VS_DIR_TO_DEVICE   = 2,  /* data-out: WRITE, MODE SELECT, ... */
};

/* SAM-5 8.6 task attributes */
enum vs_task_attr {
	VS_TASK_SIMPLE = 0,
	VS_TASK_ORDERED = 1,
	VS_TASK_HEAD_OF_QUEUE = 2,
	VS_TASK_ACA = 3,
};

/* Storport's SrbStatus, reduced to what vstor needs. */
enum vs_srb_status {
	VS_SRB_PENDING = 0,
	VS_SRB_SUCCESS,        /* command ran; scsi_status says how (GOOD, CHECK CONDITION...) */
	VS_SRB_ABORTED,        /* aborted by task management; the fabric sends no response */
	VS_SRB_TIMEOUT,        /* timed out and was aborted by the port */
	VS_SRB_BUS_RESET,      /* cleared by a LUN / target / adapter reset */
	VS_SRB_NO_DEVICE,      /* LUN went away; scsi_status/sense also set */
	VS_SRB_ERROR,          /* internal error; scsi_status/sense also set */
};

/* Residual flags (SAM-5 5.1: underflow/overflow of the expected length). */
#define VS_RESID_UNDERFLOW 0x1
#define VS_RESID_OVERFLOW  0x2

/*
 * One I_T nexus (initiator port ↔ this target port), created by the fabric
 * with vs_port_nexus_open().  Unit attentions and reservations are kept per
 * nexus.  `name` is the SCSI initiator port name, e.g. for iSCSI
 * "iqn.1993-08.org.debian:01:abc,i,0x00023d000001" (RFC 7143 §13.1); `id`
 * is a small number unique among this port's open nexuses.
 */
struct vs_nexus {
	char     name[256 + 24];
	char     initiator_name[224];     /* the iSCSI/transport name without ISID */
	uint8_t  transport_id[256];       /* SPC-4 7.6.4 TransportID, for PR */
	uint16_t transport_id_len;
	uint32_t id;
	uint16_t rel_target_port_id;      /* relative target port identifier */
	void    *port_private;
};

struct vs_srb;
typedef void (*vs_srb_done_fn)(struct vs_srb *srb);

#define VS_DATA_REF_OK     0x1
#define VS_DATA_REF_STABLE 0x2

struct vs_srb {
	/* ---- filled by the submitter (fabric / class driver) ---- */
	uint8_t  cdb[VS_CDB_MAX];
	uint8_t  cdb_len;
	uint8_t  task_attr;         /* enum vs_task_attr */
	uint8_t  data_dir;          /* enum vs_data_dir */
	uint64_t lun;               /* flat LUN number (SAM-5 4.7, single level) */
	uint64_t tag;               /* task tag (iSCSI ITT) */
	struct iovec *iov;          /* data buffers: data-out already filled */
	int      iovcnt;
	uint32_t data_length;       /* expected data transfer length (bytes) */
	uint32_t timeout_ms;        /* 0 = the port's default */
	struct vs_nexus *nexus;
	vs_srb_done_fn done;        /* called exactly once, from any thread */
	void    *done_ctx;
	void    *submitter_ctx;     /* free for the fabric (e.g. its task) */
	/* The submitter takes data-in by reference (data_ref below), 0: never.
	 * VS_DATA_REF_OK: it only hands it to the kernel or reads it, and does
	 * not need it to stay as it was when the command completed.  With
	 * VS_DATA_REF_STABLE too it does (it takes a checksum of the data, then
	 * sends it later: iSCSI data digests): only memory that nothing changes
	 * until the reference is released may be lent, else the data is copied.
	 * (A byte, as the bool it was: true is VS_DATA_REF_OK.) */
	uint8_t  accept_data_ref;

	/* ---- filled by the port / miniport ---- */
	uint8_t  srb_status;        /* enum vs_srb_status */
	uint8_t  scsi_status;       /* SAM_STAT_* */
	uint8_t  sense_len;
	uint8_t  resid_flags;       /* VS_RESID_* */
	uint32_t residual;          /* bytes, meaning given by resid_flags */
	uint32_t xfer_len;          /* bytes actually moved (data-in: valid bytes in iov) */
	uint8_t  sense[VS_SENSE_MAX];
	/*
	 * Data-in by reference (only with accept_data_ref): the miniport may
	 * leave iov untouched and point data_ref at the xfer_len bytes in
	 * memory it lends (e.g. a RAM disk's own, bdev.h vs_bio.lent); the
	 * submitter sends from there and never writes to it.  It stays valid
	 * until the SRB goes back to its pool -- once both the submitter
	 * (vs_srb_put) and the miniport have let go -- when the port calls
	 * data_ref_release(srb), exactly once.  NULL: data-in is in iov.
	 */
	const void *data_ref;
	void    (*data_ref_release)(struct vs_srb *srb);

	/* ---- the miniport's per-SRB extension (Storport SrbExtension) ---- */
	void    *ext;               /* srb_extension_size bytes, aligned to 16 */

	/* ---- port private: do not touch ---- */
	struct {
		struct vs_srb *next, *prev;
		void     *queue;     /* the port queue (task set) it is in */
		void     *pool;
		uint64_t  start_ns;
		uint64_t  deadline_ns;
		uint32_t  seq;
		uint32_t  refs;
		uint8_t   state;
		uint8_t   escalation;
		uint8_t   flags;
		uint8_t   sense_desc;   /* the LUN's sense format, fixed at submit */
		/* a data buffer from the LUN's buffer provider
		 * (vs_port_srb_buffer), released when the SRB returns to its
		 * pool */
		void    (*buf_release)(void *cookie, void *buf);
		void     *buf_cookie;
		void     *buf;
	} priv;

	/* ---- grown at the end, so the offsets above stay ---- */
	/*
	 * With data_ref (set and cleared with it, by the miniport): the
	 * CRC32C (RFC 3720 B.4) of data_ref[off, off+len), from checksums the
	 * lender keeps, so a submitter that sends the data with a digest
	 * (iSCSI data digests) need not read it.  True and *crc, or false:
	 * take it from the bytes.  Only for a loan made with
	 * VS_DATA_REF_STABLE, until data_ref_release.  NULL: none kept.
	 */
	bool    (*data_ref_crc32c)(struct vs_srb *srb, uint32_t off, uint32_t len, uint32_t *crc);
};

/*
 * Sense data (SPC-4 4.5).  What a piece of sense data says goes into a
 * struct vs_sense; vs_sense_build lays it out, in fixed format (SPC-4
 * 4.5.3) or descriptor format (SPC-4 4.5.2, with an information, a
 * command-specific information and a sense key specific descriptor as
 * needed).  It is the only code in vstor that writes sense bytes.
 */
struct vs_sense {
	uint8_t  key;                   /* SENSE_* */
	uint16_t asc_ascq;              /* ASC_* */
	bool     info_valid;            /* INFORMATION, e.g. the MISCOMPARE offset */
	bool     cmd_specific_valid;    /* COMMAND-SPECIFIC INFORMATION */
	bool     sks_valid;             /* SENSE KEY SPECIFIC: sks, set with the helpers below */
	uint8_t  sks[3];
	uint64_t info;
	uint64_t cmd_specific;
};

/* Lay out `s` into buf; returns the bytes written (at most len). */
size_t vs_sense_build(uint8_t *buf, size_t len, bool descriptor, const struct vs_sense *s);
/* Sense key specific field pointer (SPC-4 4.5.2.4.2): byte `byte` of the
 * CDB (in_cdb) or parameter list, bit `bit` (bit < 0: no bit pointer).
 * With in_cdb false it is also the segment pointer of COPY ABORTED with
 * SD=0 (SPC-4 4.5.2.4.5). */
void vs_sense_field_pointer(struct vs_sense *s, bool in_cdb, uint16_t byte, int bit);
/* Progress indication (SPC-4 4.5.2.4.4): progress / 65536 done. */
void vs_sense_progress(struct vs_sense *s, uint16_t progress);
/* Read sense data of either format back; false if it is neither. */
bool vs_sense_parse(const uint8_t *buf, size_t len, struct vs_sense *out);
bool vs_sense_is_descriptor(const uint8_t *buf, size_t len);
/* Key and ASC/ASCQ only, in one format. */
size_t vs_sense_fixed(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq);
size_t vs_sense_descriptor(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq);

/*
 * Helpers for a miniport to finish an SRB.  They set scsi_status, srb_status
 * and build sense data; the miniport then calls vs_port_complete().
 *
 * Sense goes out in the format the SRB's logical unit selected (the D_SENSE
 * bit of its control mode page, SPC-4 7.5.8, which the miniport reports to
 * the port with vs_port_lun_set_sense_format); an SRB that never reached a
 * LUN gets fixed format.
 */
void vs_srb_set_good(struct vs_srb *srb);
/* CHECK CONDITION with this sense key and ASC/ASCQ (ASC_*). */
void vs_srb_set_sense(struct vs_srb *srb, uint8_t key, uint16_t asc_ascq);
/* CHECK CONDITION with everything `s` says. */
void vs_srb_set_sense_data(struct vs_srb *srb, const struct vs_sense *s);
/*
 * CHECK CONDITION / ILLEGAL REQUEST / INVALID FIELD IN CDB (or PARAMETER
 * LIST when in_cdb is false) with the sense-key specific field pointer
 * (SPC-4 4.5.2.4.2): byte `byte`, bit `bit` (bit < 0: no bit pointer).
 */
void vs_srb_set_invalid_field(struct vs_srb *srb, bool in_cdb, uint16_t byte, int bit);
/* Add the INFORMATION field to the sense already set (fixed format: only
 * if it fits in 4 bytes, SPC-4 4.5.3). */
void vs_srb_set_sense_info(struct vs_srb *srb, uint64_t info);
void vs_srb_set_status(struct vs_srb *srb, uint8_t scsi_status);
/* True if sense for this SRB goes out in descriptor format. */
bool vs_srb_sense_descriptor(const struct vs_srb *srb);

/* Copy `len` bytes from a flat buffer into the SRB's data-in iovec at
 * `offset`; returns bytes copied (clamped to data_length). */
size_t vs_srb_copy_to_iov(struct vs_srb *srb, size_t offset, const void *buf, size_t len);
/* Copy data-out bytes from the SRB's iovec into a flat buffer. */
size_t vs_srb_copy_from_iov(const struct vs_srb *srb, size_t offset, void *buf, size_t len);

#endif
