/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * A small header in the style of vfio.h whose whole spec is kept in
 * golden.spec.json beside it: a change to any stage shows up as a diff of
 * that file (re-bless with `pytest tests/test_golden.py --bless`).
 */
#ifndef _UAPI_GOLDEN_H
#define _UAPI_GOLDEN_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define GOLDEN_TYPE	(';')
#define GOLDEN_BASE	100

/**
 * struct golden_info - what GOLDEN_GET_INFO answers
 * @argsz: size of the caller's buffer
 * @flags: GOLDEN_INFO_FLAG_*
 * @count: entries in @data
 */
struct golden_info {
	__u32	argsz;
	__u32	flags;
#define GOLDEN_INFO_FLAG_RESET	(1 << 0)	/* the device can reset */
#define GOLDEN_INFO_FLAG_CAPS	(1 << 1)
	union {
		__u32	index;
		__u32	id;
	};
	__u32	count;
	__aligned_u64	data[];
};

enum golden_state {
	GOLDEN_STATE_OFF = 0,
	GOLDEN_STATE_ON = 1,
	GOLDEN_STATE_ERROR = -1,
};

/**
 * GOLDEN_GET_INFO - _IOR(GOLDEN_TYPE, GOLDEN_BASE + 0, struct golden_info)
 *
 * Fills in struct golden_info.
 * Return: 0 on success, -errno on failure.
 */
#define GOLDEN_GET_INFO		_IO(GOLDEN_TYPE, GOLDEN_BASE + 0)
#define GOLDEN_RESET		_IO(GOLDEN_TYPE, GOLDEN_BASE + 1)

#endif /* _UAPI_GOLDEN_H */
