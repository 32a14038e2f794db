/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * A synthetic UAPI header in the style of vfio.h: every construct the
 * compiler handles, each checked against gcc on every ABI.
 */
#ifndef _UAPI_SYNTH_H
#define _UAPI_SYNTH_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SYNTH_TYPE	('S')
#define SYNTH_BASE	0x40
#define SYNTH_CHAR_NL	'\n'
#define SYNTH_HEX_CHAR	'\x7f'
#define SYNTH_NAME	"synth-dev"
#define SYNTH_SHIFTED	(1ULL << 40)
#define SYNTH_ALL_ONES	(~0ULL)
#define SYNTH_NEG	(-1)
#define SYNTH_UNSIGNED_WRAP	((__u32)-2)
#define SYNTH_TERNARY	(SYNTH_BASE > 10 ? 3 : 4)
#define SYNTH_OCTAL	0755
#define SYNTH_LONG_BITS	(sizeof(long) * 8)
#define SYNTH_MIX	((SYNTH_BASE << 4) | 0x3 ^ (SYNTH_OCTAL & 0x7))
#define SYNTH_DIV	(-7 / 2)
#define SYNTH_MOD	(-7 % 2)
#define SYNTH_CMP_UNSIGNED	(-1 < 0U)
#define SYNTH_FN(x)	((x) * 2)
#define SYNTH_USES_FN	SYNTH_FN(21)

/* -------- IOCTLs for the synth file descriptor -------- */

enum synth_kind {
	SYNTH_KIND_A,
	SYNTH_KIND_B = 5,
	SYNTH_KIND_C,
	SYNTH_KIND_D = SYNTH_KIND_C + SYNTH_BASE,
};

enum {
	SYNTH_IDX_0,
	SYNTH_IDX_1,
	SYNTH_NUM_IDX
};

#define SYNTH_FROM_ENUM	(SYNTH_KIND_D * 2)

struct synth_pair {
	__u32 a;
	__u64 b;
};

/**
 * struct synth_info - ioctl(SYNTH_GET_INFO)
 * @argsz: size of the whole struct
 * @flags: what the device can do
 *
 * A struct with flags defined between its fields.
 */
struct synth_info {
	__u32	argsz;
	__u32	flags;
#define SYNTH_INFO_FLAG_A	(1 << 0)	/* first flag */
#define SYNTH_INFO_FLAG_B	(1 << 1)
#define SYNTH_INFO_MASK		(0xff << 8)
	__u32	index;
#define SYNTH_INFO_NOT_OWNED	-1
	__u32	cap_offset;
	__aligned_u64	size;
	__u64	plain;		/* 4-aligned on i386 */
	__u8	uuid[16];
	__u16	grid[3][5];
	struct synth_pair pairs[2];
	enum synth_kind kind;
	void	*ptr;
	__u64	__user_like;
};

/**
 * SYNTH_GET_INFO - _IOWR(SYNTH_TYPE, SYNTH_BASE + 0, struct synth_info)
 *
 * Fill in the info.
 * Return: 0 on success, -errno on failure.
 */
#define SYNTH_GET_INFO		_IO(SYNTH_TYPE, SYNTH_BASE + 0)

struct synth_irq_set {
	__u32	argsz;
	__u32	flags;
	__u32	count;
	__u8	data[];
};
#define SYNTH_SET_IRQS		_IOW(SYNTH_TYPE, SYNTH_BASE + 1, struct synth_irq_set)

struct synth_anon {
	__u32 argsz;
	union {
		__u32 as_u32;
		__u64 as_u64;
		struct {
			__u16 lo;
			__u16 hi;
		};
	};
	struct {
		__u8 tag;
		__aligned_u64 stamp;
	} named;
	__u32 tail_count;
	struct synth_pair tail[] __counted_by(tail_count);
};
#define SYNTH_ANON		_IOR(SYNTH_TYPE, SYNTH_BASE + 2, struct synth_anon)
#define SYNTH_RW		_IOWR(SYNTH_TYPE, SYNTH_BASE + 3, struct synth_pair)
#define SYNTH_RAW		_IOC(_IOC_READ | _IOC_WRITE, SYNTH_TYPE, 0x7f, 8)
#define SYNTH_BY_INT		_IOW(SYNTH_TYPE, 0x50, int)
#define SYNTH_ALIAS		SYNTH_RW

union synth_union {
	__u8 bytes[7];
	__u32 word;
	__aligned_u64 big;
};

struct synth_empty_tail {
	__u32 n;
	__DECLARE_FLEX_ARRAY(__u32, vals);
};

struct synth_ptrs {
	__u8 c;
	__u64 *p;
	char name[3];
	long l;
	unsigned long long ull;
	signed char sc;
	short s;
};

#endif /* _UAPI_SYNTH_H */
