// SPDX-License-Identifier: GPL-2.0
/*
 * memorizer-bench: a fixed kernel-heavy workload, timed.
 *
 *   memorizer-bench [ROUNDS]
 *
 * Runs three workloads ROUNDS times each (default 200) and prints one line
 * per workload, "NAME SECONDS":
 *   fork_exec   fork, exec /bin/true, wait
 *   file        create, write 4 KiB, close, reopen, read, unlink
 *   pipe        ping-pong of one byte between two processes over two pipes
 *               (ROUNDS * 10 round trips)
 * memorizer-bench.sh runs it with Memorizer's tracking off, on, and on with
 * access logging, and prints the slowdowns.
 *
 * Build (static, for the busybox guest):
 *   gcc -static -O2 -Wall -o memorizer-bench memorizer-bench.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "memorizer-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fork_exec(int rounds)
{
	int i, status;

	for (i = 0; i < rounds; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			die("/bin/true failed");
	}
}

static void file_ops(int rounds)
{
	static char buf[4096];
	char name[64];
	int i, fd;

	memset(buf, 'm', sizeof(buf));
	for (i = 0; i < rounds; i++) {
		snprintf(name, sizeof(name), "/tmp/memorizer-bench.%d", i);
		fd = open(name, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
			die(name);
		close(fd);
		fd = open(name, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof(buf)) != sizeof(buf))
			die(name);
		close(fd);
		if (unlink(name))
			die(name);
	}
}

static void pipe_ping_pong(int trips)
{
	int to_child[2], to_parent[2], i, status;
	char byte = 'p';
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		for (i = 0; i < trips; i++) {
			if (read(to_child[0], &byte, 1) != 1 ||
			    write(to_parent[1], &byte, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < trips; i++) {
		if (write(to_child[1], &byte, 1) != 1 ||
		    read(to_parent[0], &byte, 1) != 1)
			die("ping-pong");
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		die("ping-pong child");
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	double t;

	if (rounds <= 0) {
		fprintf(stderr, "usage: memorizer-bench [ROUNDS > 0]\n");
		return 2;
	}
	t = now();
	fork_exec(rounds);
	printf("fork_exec %.3f\n", now() - t);
	t = now();
	file_ops(rounds);
	printf("file %.3f\n", now() - t);
	t = now();
	pipe_ping_pong(rounds * 10);
	printf("pipe %.3f\n", now() - t);
	return 0;
}
