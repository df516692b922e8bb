// SPDX-License-Identifier: GPL-2.0
/*
 * tracerctl - add or remove PIDs monitored by tracer.ko
 *
 *   tracerctl add PID...
 *   tracerctl remove PID...
 *   tracerctl ioctl REQUEST ARG   raw ioctl(2), to test bad requests
 *
 * Several PIDs are handled in order, through one open of the device, and
 * the first that fails ends the run: a test adds a whole set of threads
 * with one process (each process costs a fork and an exec, which in a
 * KASAN guest under TCG take about 0.2 s).
 *
 * Exit status: 0 done, 1 an ioctl failed (the message names the errno and
 * what tracer.ko means by it), 2 bad usage (nothing was done).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tracer.h"

#define DEVICE "/dev/" TRACER_DEV_NAME
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	int err;
	const char *name;
	const char *meaning;
} errors[] = {
	{ ENOTTY, "ENOTTY", "not a tracer request" },
	{ EINVAL, "EINVAL", "PID out of range" },
	{ ESRCH, "ESRCH", "no such process, or it is exiting" },
	{ EEXIST, "EEXIST", "process already monitored" },
	{ ENOENT, "ENOENT", "process not monitored" },
	{ ENOMEM, "ENOMEM", "out of memory" },
	{ EACCES, "EACCES", "no permission to open " DEVICE },
};

static void print_usage(void)
{
	fprintf(stderr,
		"usage: tracerctl add PID... | remove PID... | ioctl REQUEST ARG\n");
	exit(2);
}

static long long parse(const char *what, const char *s, long long min,
		       long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "tracerctl: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void report(const char *request, const char *arg, int err)
{
	const char *name = "", *meaning = strerror(err);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errors); i++) {
		if (errors[i].err == err) {
			name = errors[i].name;
			meaning = errors[i].meaning;
		}
	}
	fprintf(stderr, "tracerctl: %s %s: %s (%s): %s\n", request, arg,
		strerror(err), name, meaning);
}

int main(int argc, char **argv)
{
	unsigned long request;
	const char *name;
	int fd, first = 2, i;

	if (argc < 3)
		print_usage();
	if (!strcmp(argv[1], "add")) {
		name = "TRACER_ADD_PROCESS";
		request = TRACER_ADD_PROCESS;
	} else if (!strcmp(argv[1], "remove")) {
		name = "TRACER_REMOVE_PROCESS";
		request = TRACER_REMOVE_PROCESS;
	} else if (!strcmp(argv[1], "ioctl") && argc == 4) {
		name = argv[2];
		request = parse("request", argv[2], 0, 0xffffffffLL);
		first = 3;
	} else {
		print_usage();
	}
	/* Every argument is checked before the first request is made. */
	for (i = first; i < argc; i++)
		/* Negative values are passed on as they are, to test -EINVAL. */
		parse("PID", argv[i], -0x7fffffffLL - 1, 0xffffffffLL);

	fd = open(DEVICE, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "tracerctl: %s: %s\n", DEVICE, strerror(errno));
		return 1;
	}
	for (i = first; i < argc; i++) {
		unsigned long arg = parse("PID", argv[i], -0x7fffffffLL - 1,
					  0xffffffffLL);

		if (ioctl(fd, request, arg) < 0) {
			report(name, argv[i], errno);
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}
