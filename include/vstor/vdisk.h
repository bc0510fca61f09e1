/* SPDX-License-Identifier: MIT */
/*
 * vdisk: a virtual miniport that emulates an SBC-3 direct-access disk over
 * any block backend.  Register it with vs_port_create(&vs_vdisk_miniport,
 * ...) and add LUNs with vs_port_lun_add(port, n, &struct vs_vdisk_lun_config).
 */
#ifndef VSTOR_VDISK_H
#define VSTOR_VDISK_H

#include <stdbool.h>
#include <stdint.h>

#include "vstor/bdev.h"
#include "vstor/miniport.h"

extern const struct vs_miniport vs_vdisk_miniport;

struct vs_vdisk_adapter_config {
	const char *target_name;    /* SCSI target name, e.g. the iSCSI IQN (VPD 0x83) */
	uint16_t rel_target_port_id;
	/*
	 * How long a LUN's removal (and a flush asked for by lun_control or
	 * adapter stop) waits for the backend: for the final flush and for
	 * the requests it still holds.  After that the removal reports the
	 * failure; a LUN whose backend still holds requests is kept in memory
	 * (not freed) until they return.  0: 10000 ms.
	 */
	uint32_t detach_timeout_ms;
	/*
	 * The SPC-4 version descriptor (Table 144) of the transport the LUNs
	 * are exported over, listed in the standard INQUIRY data next to
	 * SAM-5, SPC-4 and SBC-3, e.g. VS_ISCSI_VERSION_DESCRIPTOR; 0: none
	 * (vdisk itself is transport-neutral).
	 */
	uint16_t transport_version;
};

/* Told of every block-stack event of a LUN after vdisk acted on it (e.g. to
 * log it); any thread, must not block. */
typedef void (*vs_vdisk_event_fn)(void *ctx, uint64_t lun, const struct vs_bdev_event *ev);

struct vs_vdisk_lun_config {
	struct vs_bdev *bdev;       /* the LUN takes ownership; closed at detach */
	uint32_t block_size;        /* 512 or 4096 (required), and at least the
	                             * backend's logical_block_size */
	bool     readonly;
	const char *serial;         /* VPD 0x80; NULL: derived from target+LUN */
	const char *vendor;         /* INQUIRY T10 vendor id (8); NULL: "VSTOR" */
	const char *product;        /* 16; NULL: "VDISK" */
	/*
	 * NAA-6 identifier seed: the VPD 0x83 designator is a hash of this
	 * string, so it is stable across restarts as long as the string is.
	 * NULL: target_name + LUN number + serial.
	 */
	const char *device_id;
	/* Where APTPL persistent reservations are kept; NULL: not supported
	 * (PERSISTENT RESERVE OUT with APTPL=1 → INVALID FIELD IN PARAMETER LIST). */
	const char *pr_state_path;
	/* Removable medium (INQUIRY RMB=1): START STOP UNIT LOEJ ejects and
	 * loads, PREVENT ALLOW MEDIUM REMOVAL is honoured (SBC-3 4.x, SPC-4). */
	bool     removable;
	/* Physical block size in bytes, a power-of-two multiple of block_size
	 * (READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT);
	 * 0: the same as block_size. */
	uint32_t physical_block_size;
	vs_vdisk_event_fn on_event;     /* may be NULL */
	void *event_ctx;
};

#endif
