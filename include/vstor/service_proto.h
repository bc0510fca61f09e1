/* SPDX-License-Identifier: MIT */
/*
 * The service protocol: what vstord and a service process (a miniport in
 * another process) exchange.  doc/service-protocol.md is the
 * specification; this header is the same layout in C, checked by static
 * asserts.  Every integer is little-endian; every structure has the size
 * and field offsets given here, with no implicit padding.
 *
 * Three channels:
 *  - a Unix SOCK_SEQPACKET socket for control messages (one message per
 *    packet: struct vs_svc_msg_hdr and its body), authenticated by the
 *    peer's credentials (SO_PEERCRED);
 *  - one shared memory area (a memfd vstord creates, seals against
 *    shrinking and growing, and passes with the WELCOME message) holding
 *    the area header, the submission ring (vstord -> service), the
 *    completion ring (service -> vstord), the nexus table and the data
 *    buffers;
 *  - two eventfd doorbells, passed with WELCOME: vstord writes the
 *    submission doorbell, the service the completion doorbell.
 */
#ifndef VSTOR_SERVICE_PROTO_H
#define VSTOR_SERVICE_PROTO_H

#include <stdint.h>

#define VS_SVC_PROTO_MAJOR      1
#define VS_SVC_PROTO_MINOR      1
#define VS_SVC_HELLO_MAGIC      0x31435653524f5453ULL     /* "STORSVC1" */
#define VS_SVC_AREA_MAGIC       0x31414552415356ULL       /* "VSAREA1" */
#define VS_SVC_DEFAULT_SOCKET   "/run/vstor/service.sock"

/* Feature bits (HELLO offers, WELCOME accepts a subset). */
#define VS_SVC_F_ABORT          0x1u    /* ABORT entries in the submission ring */
#define VS_SVC_F_RESET          0x2u    /* LUN_RESET / TARGET_RESET entries */
#define VS_SVC_F_NEXUS          0x4u    /* the nexus table and NEXUS_LOST entries */
#define VS_SVC_F_LEND           0x8u    /* 1.1: REGION messages; reads answered from them */
#define VS_SVC_F_ALL            0xfu

/* Limits (doc/service-protocol.md, "Sizes"). */
#define VS_SVC_RING_MIN         16u
#define VS_SVC_RING_MAX         4096u
#define VS_SVC_DATA_MIN         (16ULL << 20)
#define VS_SVC_DATA_MAX         (4ULL << 30)
#define VS_SVC_DATA_UNIT        4096u           /* data buffers start at multiples of it */
#define VS_SVC_NEXUS_MIN        64u
#define VS_SVC_NEXUS_MAX        65536u
#define VS_SVC_MAX_TRANSFER     (8u << 20)      /* bytes of one command */
#define VS_SVC_NAME_MAX         64              /* with its NUL */
#define VS_SVC_TARGET_MAX       224             /* with its NUL */
#define VS_SVC_TEXT_MAX         200             /* REPLY / ERROR message, with its NUL */
#define VS_SVC_SENSE_MAX        252
#define VS_SVC_MSG_MAX          1024            /* the largest control message */
#define VS_SVC_REGIONS          16              /* REGION numbers 1..16 */
#define VS_SVC_REGION_MAX       (1ULL << 40)    /* bytes of one region */

/* ---------------------------------------------------------------- control messages */

enum vs_svc_msg_type {
	VS_SVC_MSG_HELLO = 1,       /* service -> vstord: first message */
	VS_SVC_MSG_WELCOME = 2,     /* vstord -> service: with 3 fds */
	VS_SVC_MSG_ATTACH = 3,      /* service -> vstord: serve a LUN */
	VS_SVC_MSG_DETACH = 4,      /* service -> vstord: stop serving a LUN */
	VS_SVC_MSG_REPLY = 5,       /* vstord -> service: the result of ATTACH / DETACH */
	VS_SVC_MSG_LUN_GONE = 6,    /* vstord -> service: a LUN was removed by vstord's owner */
	VS_SVC_MSG_ERROR = 7,       /* vstord -> service: protocol violation; vstord closes */
	VS_SVC_MSG_REGION = 8,      /* service -> vstord, with 1 fd (1.1, LEND): memory to send from */
};

struct vs_svc_msg_hdr {
	uint32_t type;              /* enum vs_svc_msg_type */
	uint32_t length;            /* of the whole message, this header included */
	uint64_t request_id;        /* the service's; echoed by REPLY */
};

struct vs_svc_hello {
	struct vs_svc_msg_hdr hdr;
	uint64_t magic;             /* VS_SVC_HELLO_MAGIC */
	uint16_t version_major;     /* VS_SVC_PROTO_MAJOR */
	uint16_t version_minor;
	uint32_t features;          /* offered: VS_SVC_F_* */
	uint32_t ring_entries;      /* power of two, RING_MIN..RING_MAX; 0: 256 */
	uint32_t nexus_entries;     /* NEXUS_MIN..NEXUS_MAX; 0: 4096 */
	uint64_t data_bytes;        /* data area, multiple of 1 MiB, DATA_MIN..DATA_MAX; 0: 64 MiB */
	char     name[VS_SVC_NAME_MAX];     /* [A-Za-z0-9._-]+, NUL-terminated */
	char     target[VS_SVC_TARGET_MAX]; /* the target's name (IQN), NUL-terminated */
};

struct vs_svc_welcome {
	struct vs_svc_msg_hdr hdr;
	uint16_t version_major;
	uint16_t version_minor;
	uint32_t features;          /* accepted: the offered ones vstord knows */
	uint32_t ring_entries;      /* both rings; also the most commands outstanding */
	uint32_t nexus_entries;
	uint64_t area_bytes;        /* size of the memfd */
	uint64_t sq_offset;         /* submission ring entries */
	uint64_t cq_offset;         /* completion ring entries */
	uint64_t nexus_offset;      /* nexus table */
	uint64_t data_offset;       /* data area */
	uint64_t data_bytes;
	uint32_t max_transfer;      /* bytes of one command's data, at most */
	uint16_t rel_target_port_id;    /* SPC-4 relative target port identifier */
	uint16_t transport_version;     /* SPC-4 version descriptor of the fabric (INQUIRY) */
};

#define VS_SVC_ATTACH_READONLY  0x1u    /* informational, for listings */

struct vs_svc_attach {
	struct vs_svc_msg_hdr hdr;
	uint64_t lun;               /* LUN number in the target */
	uint64_t size_bytes;        /* informational (listings); 0: not a block device */
	uint32_t block_size;        /* informational */
	uint8_t  peripheral_type;   /* informational: SPC-4 PERIPHERAL DEVICE TYPE */
	uint8_t  flags;             /* VS_SVC_ATTACH_* */
	uint16_t reserved;
	char     description[64];   /* informational, NUL-terminated, e.g. "ram disk" */
};

#define VS_SVC_DETACH_FORCE     0x1u

struct vs_svc_detach {
	struct vs_svc_msg_hdr hdr;
	uint64_t lun;
	uint32_t flags;             /* VS_SVC_DETACH_* */
	uint32_t reserved;
};

#define VS_SVC_REPLY_REATTACHED 0x1u    /* ATTACH: the LUN was present, kept for us */

struct vs_svc_reply {
	struct vs_svc_msg_hdr hdr;  /* request_id of the request */
	int32_t  status;            /* 0 or a negative errno (Linux numbers) */
	uint32_t flags;             /* VS_SVC_REPLY_* */
	uint64_t lun;
	char     message[VS_SVC_TEXT_MAX];  /* one line, NUL-terminated; "" on success */
};

struct vs_svc_lun_gone {
	struct vs_svc_msg_hdr hdr;
	uint64_t lun;
};

struct vs_svc_error {
	struct vs_svc_msg_hdr hdr;
	char     message[VS_SVC_TEXT_MAX];
};

/* REGION (1.1, feature LEND): memory of the service vstord may send READ
 * data from (a memfd sealed against shrinking, passed with the message).
 * vstord answers with REPLY. */
struct vs_svc_region {
	struct vs_svc_msg_hdr hdr;
	uint32_t region;            /* 1..VS_SVC_REGIONS, not registered yet */
	uint32_t flags;             /* 0 */
	uint64_t size_bytes;        /* from the memfd's start; 1..VS_SVC_REGION_MAX */
};

/* ---------------------------------------------------------------- the shared area */

#define VS_SVC_WAKE             0x1u    /* sq_flags / cq_flags: ring the doorbell */

/*
 * At offset 0 of the area.  The layout fields repeat WELCOME's (written
 * once by vstord).  The ring indexes are free-running 32-bit counters
 * (entry = index % ring_entries); each is written by one side only, on a
 * cache line of its own.
 */
struct vs_svc_area_hdr {
	uint64_t magic;             /* VS_SVC_AREA_MAGIC */
	uint16_t version_major;
	uint16_t version_minor;
	uint32_t ring_entries;
	uint32_t nexus_entries;
	uint32_t reserved0;
	uint64_t area_bytes, sq_offset, cq_offset, nexus_offset, data_offset, data_bytes;
	uint8_t  pad0[56];
	uint32_t sq_tail;           /* @128: vstord: next submission entry to fill */
	uint8_t  pad1[60];
	uint32_t sq_head;           /* @192: service: next submission entry to take */
	uint32_t sq_flags;          /* @196: service: VS_SVC_WAKE = ring the submission doorbell */
	uint8_t  pad2[56];
	uint32_t cq_tail;           /* @256: service: next completion entry to fill */
	uint8_t  pad3[60];
	uint32_t cq_head;           /* @320: vstord: next completion entry to take */
	uint32_t cq_flags;          /* @324: vstord: VS_SVC_WAKE = ring the completion doorbell */
	uint8_t  pad4[56];
};

enum vs_svc_opcode {
	VS_SVC_OP_SCSI = 1,         /* a SCSI command: complete it exactly once */
	VS_SVC_OP_ABORT = 2,        /* please end command `tag` soon (no completion of its own) */
	VS_SVC_OP_LUN_RESET = 3,    /* LOGICAL UNIT RESET of `lun` (no completion) */
	VS_SVC_OP_TARGET_RESET = 4, /* reset of every LUN (no completion) */
	VS_SVC_OP_NEXUS_LOST = 5,   /* I_T nexus nexus_id/nexus_gen is gone (no completion) */
};

/* Data direction of a SCSI entry. */
#define VS_SVC_DIR_NONE         0
#define VS_SVC_DIR_FROM_DEVICE  1       /* data-in: the service fills the buffer */
#define VS_SVC_DIR_TO_DEVICE    2       /* data-out: the buffer holds the data */

/* A submission ring entry: 128 bytes. */
struct vs_svc_sqe {
	uint64_t tag;               /* SCSI: echo it in the completion; ABORT: the command's */
	uint8_t  opcode;            /* enum vs_svc_opcode */
	uint8_t  data_dir;          /* VS_SVC_DIR_* */
	uint8_t  task_attr;         /* SAM-5 8.6: 0 SIMPLE, 1 ORDERED, 2 HEAD OF QUEUE, 3 ACA */
	uint8_t  cdb_len;           /* 1..32 */
	uint32_t nexus_id;          /* index in the nexus table */
	uint64_t lun;
	uint64_t data_offset;       /* from the start of the data area */
	uint32_t data_length;       /* bytes of buffer */
	uint32_t nexus_gen;         /* the nexus's generation (nexus table) */
	uint8_t  cdb[32];
	uint8_t  flags;             /* VS_SVC_SQE_* (1.1) */
	uint8_t  reserved[55];
};

/* sqe.flags: this READ may be answered from a region (LEND) */
#define VS_SVC_SQE_MAY_LEND     0x1u

/* cqe.sense_format: the LUN's D_SENSE bit (SPC-4 7.5.8) after this
 * command, so the sense vstord makes itself for the LUN (unit attentions,
 * NOT READY) has the format the device server's has. */
#define VS_SVC_SENSE_KEEP       0       /* unchanged */
#define VS_SVC_SENSE_FIXED      1
#define VS_SVC_SENSE_DESC       2

/* A completion ring entry: 288 bytes. */
struct vs_svc_cqe {
	uint64_t tag;               /* the command's */
	uint8_t  scsi_status;       /* SAM-5 status */
	uint8_t  sense_len;         /* 0..252; only with CHECK CONDITION */
	uint8_t  resid_flags;       /* 1 underflow, 2 overflow, 0 none */
	uint8_t  sense_format;      /* the LUN's sense from now on: VS_SVC_SENSE_* */
	uint32_t residual;          /* bytes, with resid_flags */
	uint32_t xfer_len;          /* data-in bytes valid in the buffer */
	uint32_t lend_region;       /* 1.1 LEND: the data-in is in this region; 0: in the buffer */
	uint8_t  sense[VS_SVC_SENSE_MAX];
	uint32_t reserved2;
	uint64_t lend_offset;       /* with lend_region: where its xfer_len bytes start */
};

/* One nexus table entry: 768 bytes (see "Nexus table"). */
struct vs_svc_nexus_rec {
	uint32_t gen;               /* written last; 0: never used */
	uint16_t transport_id_len;
	uint16_t rel_target_port_id;
	char     name[280];         /* initiator port name, e.g. "iqn...,i,0x23d000001" */
	char     initiator_name[224];
	uint8_t  transport_id[256]; /* SPC-4 7.6.4 TransportID */
};

_Static_assert(sizeof(struct vs_svc_msg_hdr) == 16, "msg hdr");
_Static_assert(sizeof(struct vs_svc_hello) == 336, "hello");
_Static_assert(sizeof(struct vs_svc_welcome) == 88, "welcome");
_Static_assert(sizeof(struct vs_svc_attach) == 104, "attach");
_Static_assert(sizeof(struct vs_svc_detach) == 32, "detach");
_Static_assert(sizeof(struct vs_svc_reply) == 232, "reply");
_Static_assert(sizeof(struct vs_svc_lun_gone) == 24, "lun gone");
_Static_assert(sizeof(struct vs_svc_error) == 216, "error");
_Static_assert(sizeof(struct vs_svc_region) == 32, "region");
_Static_assert(__builtin_offsetof(struct vs_svc_sqe, flags) == 72, "sqe flags");
_Static_assert(__builtin_offsetof(struct vs_svc_cqe, lend_region) == 20, "cqe lend_region");
_Static_assert(__builtin_offsetof(struct vs_svc_cqe, lend_offset) == 280, "cqe lend_offset");
_Static_assert(sizeof(struct vs_svc_area_hdr) == 384, "area hdr");
_Static_assert(__builtin_offsetof(struct vs_svc_area_hdr, sq_tail) == 128, "sq_tail");
_Static_assert(__builtin_offsetof(struct vs_svc_area_hdr, sq_head) == 192, "sq_head");
_Static_assert(__builtin_offsetof(struct vs_svc_area_hdr, cq_tail) == 256, "cq_tail");
_Static_assert(__builtin_offsetof(struct vs_svc_area_hdr, cq_head) == 320, "cq_head");
_Static_assert(sizeof(struct vs_svc_sqe) == 128, "sqe");
_Static_assert(sizeof(struct vs_svc_cqe) == 288, "cqe");
_Static_assert(sizeof(struct vs_svc_nexus_rec) == 768, "nexus rec");

#endif
