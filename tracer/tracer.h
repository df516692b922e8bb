/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tracer.h - control interface of the kprobe-based kernel operations tracer
 *
 * Shared by tracer.ko and user space: open /dev/tracer (misc device, major
 * 10, minor TRACER_DEV_MINOR) and call ioctl(fd, request, pid) with the PID
 * passed by value as the third argument.
 */
#ifndef _TRACER_H
#define _TRACER_H

#include <linux/ioctl.h>
#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <sys/types.h>
#endif

#define TRACER_DEV_MINOR	42
#define TRACER_DEV_NAME		"tracer"

#define TRACER_ADD_PROCESS	_IOW(_IOC_WRITE, 42, pid_t)
#define TRACER_REMOVE_PROCESS	_IOW(_IOC_WRITE, 43, pid_t)

#endif /* _TRACER_H */
