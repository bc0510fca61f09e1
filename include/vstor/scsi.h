/* SPDX-License-Identifier: MIT */
/*
 * SCSI constants shared by every layer: status codes (SAM-5), sense keys and
 * ASC/ASCQ pairs (SPC-4 Annex D), and the operation codes vstor knows
 * (SPC-4 / SBC-3).  Names follow the standards so a reader can grep them.
 */
#ifndef VSTOR_SCSI_H
#define VSTOR_SCSI_H

#include <stdint.h>

/* SAM-5 5.3.1 status codes */
#define SAM_STAT_GOOD                   0x00
#define SAM_STAT_CHECK_CONDITION        0x02
#define SAM_STAT_CONDITION_MET          0x04
#define SAM_STAT_BUSY                   0x08
#define SAM_STAT_RESERVATION_CONFLICT   0x18
#define SAM_STAT_TASK_SET_FULL          0x28
#define SAM_STAT_ACA_ACTIVE             0x30
#define SAM_STAT_TASK_ABORTED           0x40

/* SPC-4 4.5.6 sense keys */
#define SENSE_NO_SENSE          0x0
#define SENSE_RECOVERED_ERROR   0x1
#define SENSE_NOT_READY         0x2
#define SENSE_MEDIUM_ERROR      0x3
#define SENSE_HARDWARE_ERROR    0x4
#define SENSE_ILLEGAL_REQUEST   0x5
#define SENSE_UNIT_ATTENTION    0x6
#define SENSE_DATA_PROTECT      0x7
#define SENSE_BLANK_CHECK       0x8
#define SENSE_ABORTED_COMMAND   0xb
#define SENSE_MISCOMPARE        0xe

/*
 * ASC/ASCQ pairs (SPC-4 Annex D.2), encoded as (ASC << 8) | ASCQ so one
 * value carries both.
 */
#define ASC_NO_ADDITIONAL_SENSE                 0x0000
#define ASC_LUN_NOT_READY_CAUSE_NOT_REPORTABLE  0x0400
#define ASC_LUN_BECOMING_READY                  0x0401
#define ASC_LUN_NOT_READY_INIT_REQUIRED         0x0402
#define ASC_LUN_NOT_READY_MANUAL_INTERVENTION   0x0403
#define ASC_WRITE_ERROR                         0x0c00
#define ASC_UNRECOVERED_READ_ERROR              0x1100
#define ASC_MISCOMPARE_DURING_VERIFY            0x1d00
#define ASC_PARAMETER_LIST_LENGTH_ERROR         0x1a00
#define ASC_INVALID_COMMAND_OPERATION_CODE      0x2000
#define ASC_LBA_OUT_OF_RANGE                    0x2100
#define ASC_INVALID_FIELD_IN_CDB                0x2400
#define ASC_LOGICAL_UNIT_NOT_SUPPORTED          0x2500
#define ASC_INVALID_FIELD_IN_PARAMETER_LIST     0x2600
#define ASC_WRITE_PROTECTED                     0x2700
#define ASC_POWER_ON_RESET_OR_BUS_RESET         0x2900
#define ASC_POWER_ON_OCCURRED                   0x2901
#define ASC_BUS_RESET_OCCURRED                  0x2902
#define ASC_TARGET_RESET_OCCURRED               0x2903 /* SPC-4: BUS DEVICE RESET FUNCTION OCCURRED */
#define ASC_I_T_NEXUS_LOSS_OCCURRED             0x2907
#define ASC_MODE_PARAMETERS_CHANGED             0x2a01
#define ASC_RESERVATIONS_PREEMPTED              0x2a03
#define ASC_RESERVATIONS_RELEASED               0x2a04
#define ASC_REGISTRATIONS_PREEMPTED             0x2a05
#define ASC_CAPACITY_DATA_HAS_CHANGED           0x2a09
#define ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR 0x2f00
#define ASC_SAVING_PARAMETERS_NOT_SUPPORTED     0x3900
#define ASC_MEDIUM_NOT_PRESENT                  0x3a00
#define ASC_REPORTED_LUNS_DATA_HAS_CHANGED      0x3f0e
#define ASC_INTERNAL_TARGET_FAILURE             0x4400
#define ASC_INVALID_MESSAGE_ERROR               0x4900
#define ASC_OVERLAPPED_COMMANDS_ATTEMPTED       0x4e00
#define ASC_MEDIUM_REMOVAL_PREVENTED            0x5302
#define ASC_INSUFFICIENT_REGISTRATION_RESOURCES 0x5504
#define ASC_SPACE_ALLOCATION_FAILED_WRITE_PROTECT 0x2707

#define VS_ASC(pair)  ((uint8_t)((pair) >> 8))
#define VS_ASCQ(pair) ((uint8_t)((pair) & 0xff))

/* Operation codes (SPC-4 / SBC-3) */
#define TEST_UNIT_READY             0x00
#define REQUEST_SENSE               0x03
#define FORMAT_UNIT                 0x04
#define READ_6                      0x08
#define WRITE_6                     0x0a
#define INQUIRY                     0x12
#define MODE_SELECT_6               0x15
#define RESERVE_6                   0x16
#define RELEASE_6                   0x17
#define MODE_SENSE_6                0x1a
#define START_STOP_UNIT             0x1b
#define SEND_DIAGNOSTIC             0x1d
#define PREVENT_ALLOW_MEDIUM_REMOVAL 0x1e
#define READ_CAPACITY_10            0x25
#define READ_10                     0x28
#define WRITE_10                    0x2a
#define WRITE_AND_VERIFY_10         0x2e
#define VERIFY_10                   0x2f
#define PRE_FETCH_10                0x34
#define SYNCHRONIZE_CACHE_10        0x35
#define WRITE_BUFFER                0x3b
#define READ_BUFFER                 0x3c
#define WRITE_SAME_10               0x41
#define UNMAP                       0x42
#define MODE_SELECT_10              0x55
#define RESERVE_10                  0x56
#define RELEASE_10                  0x57
#define MODE_SENSE_10               0x5a
#define PERSISTENT_RESERVE_IN       0x5e
#define PERSISTENT_RESERVE_OUT      0x5f
#define VARIABLE_LENGTH_CDB         0x7f
#define EXTENDED_COPY               0x83
#define RECEIVE_COPY_RESULTS        0x84
#define READ_16                     0x88
#define COMPARE_AND_WRITE           0x89
#define WRITE_16                    0x8a
#define ORWRITE_16                  0x8b
#define WRITE_AND_VERIFY_16         0x8e
#define VERIFY_16                   0x8f
#define PRE_FETCH_16                0x90
#define SYNCHRONIZE_CACHE_16        0x91
#define WRITE_SAME_16               0x93
#define WRITE_ATOMIC_16             0x9c    /* SBC-4 5.48 */
#define SERVICE_ACTION_IN_16        0x9e
#define REPORT_LUNS                 0xa0
#define MAINTENANCE_IN              0xa3
#define MAINTENANCE_OUT             0xa4
#define READ_12                     0xa8
#define WRITE_12                    0xaa
#define WRITE_AND_VERIFY_12         0xae
#define VERIFY_12                   0xaf

/* SERVICE ACTION IN(16) service actions (SBC-3) */
#define SAI_READ_CAPACITY_16        0x10
#define SAI_GET_LBA_STATUS          0x12
/* MAINTENANCE IN service actions (SPC-4) */
#define MI_REPORT_SUPPORTED_OPCODES 0x0c
#define MI_REPORT_SUPPORTED_TMFS    0x0d

/* Peripheral device type (SPC-4 6.4.2) */
#define TYPE_DISK                   0x00

#endif
