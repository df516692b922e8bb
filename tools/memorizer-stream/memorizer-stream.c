// SPDX-License-Identifier: GPL-2.0
/*
 * memorizer-stream: copy Memorizer's relay stream to a file.
 *
 *   memorizer-stream -o FILE [-d DIR] [-n] [-t SECONDS] [-q]
 *
 * Switches streaming on (DIR/enabled, DIR defaulting to
 * /sys/kernel/debug/memorizer/stream), maps every CPU's relay buffer
 * (DIR/cpuN) and copies its complete sub-buffers to FILE until SIGINT or
 * SIGTERM, until -t SECONDS have passed, or until streaming is switched
 * off by someone else; then switches streaming off, copies what is left
 * and prints a summary to stderr.  With -n it attaches to streaming that
 * is already on and leaves it on: at the end it only completes the
 * current sub-buffers (DIR/flush) and copies them.  The files, the record
 * format and the protocol are in Documentation/stream.rst; the records
 * are those of <linux/memorizer_stream.h>.
 *
 * FILE receives the records of each complete sub-buffer, after its
 * 16-byte header and up to its PAD record, unchanged: a sequence of
 * records, each CPU's in order, CPUs interleaved a sub-buffer at a time.
 * Every sub-buffer is checked before it is written (header magic and
 * sequence number, the previous sub-buffer's padding, and every record's
 * size against its type); corruption ends the run with the CPU, the
 * sub-buffer and the offset.  FILE holds whole records only, even when a
 * write fails (it is cut back to the last whole write).
 *
 * Design: one poll loop.  The main thread waits in ppoll() on all the
 * cpuN files at once with a 200 ms timeout (relay wakes a reader when a
 * sub-buffer of its file completes), reads subbufs_state once for all
 * CPUs, copies each CPU's complete sub-buffers and reports them consumed,
 * one write per CPU.  It reads enabled only when poll() times out (once
 * streaming is off nothing completes any more), so that a busy stream
 * costs a few system calls per sub-buffer.  Copying is a memcpy() of a
 * sub-buffer into a 4 MiB output buffer (or one write() straight from the
 * mapping for large sub-buffers), far faster than a kernel that traces
 * every access produces records, and the output is one file: a thread
 * per CPU would need a lock around it and would gain nothing.  SIGINT and
 * SIGTERM are blocked except inside ppoll(), so a signal can only arrive
 * there (and a second one, while draining, changes nothing).
 *
 * Stopping: writing 0 to enabled blocks until the kernel has written
 * every live object (waiting for the reader to make room when a buffer
 * is full) and completed the last sub-buffers; only then does enabled
 * read 0.  So the write is made by a second thread while the main thread
 * goes on copying; when enabled reads 0, the main thread copies what is
 * complete and ends.
 *
 * Exit status: 0 when the stream was copied (objects the kernel dropped
 * for want of buffer space are reported, not an error), 1 on an error,
 * 2 on bad usage.
 *
 * Build (static, for the busybox guest): see the Makefile next to this
 * file.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/memorizer_stream.h>

#define PROG		"memorizer-stream"
#define DEFAULT_DIR	"/sys/kernel/debug/memorizer/stream"
#define POLL_MS		200
#define OUTBUF_SIZE	(4U << 20)
/* Sub-buffers this large are written straight from the mapping. */
#define DIRECT_WRITE	(OUTBUF_SIZE / 2)

/*
 * Version 1 limits: the kernel writes no record larger than 4096 bytes,
 * which holds 124 entries in an OBJECT record and 127 in an ACCESSES
 * record (Documentation/stream.rst).
 */
#define OBJECT_ENTRIES_MAX	124U
#define ACCESSES_ENTRIES_MAX	127U
#define SUBBUF_SIZE_MIN		8192ULL
#define SUBBUF_SIZE_MAX		(64ULL << 20)
#define SUBBUFS_MIN		2ULL
#define SUBBUFS_MAX		1024ULL

_Static_assert(sizeof(struct memorizer_stream_subbuf) == 16, "subbuf header");
_Static_assert(sizeof(struct memorizer_rec) == 8, "record header");
_Static_assert(sizeof(struct memorizer_rec_stream) == 136, "STREAM record");
_Static_assert(sizeof(struct memorizer_rec_cache) == 48, "CACHE record");
_Static_assert(sizeof(struct memorizer_rec_object) == 104, "OBJECT record");
_Static_assert(sizeof(struct memorizer_rec_accesses) == 24, "ACCESSES record");
_Static_assert(sizeof(struct memorizer_rec_lost) == 24, "LOST record");
_Static_assert(sizeof(struct memorizer_access_entry) == 32, "access entry");

struct cpu_stream {
	int cpu;
	char path[PATH_MAX];
	int fd;
	const unsigned char *map;
	size_t map_size;
	/* The next sub-buffer to copy: CONSUMED as this reader left it. */
	uint64_t next;
	bool seen;		/* next is known */
	/* Unused bytes at the end of sub-buffer next - 1, as copied. */
	uint32_t last_pad;
	bool have_last_pad;
	/* What was copied. */
	uint64_t subbufs, bytes, records;
	uint64_t objects, live, lost_recs, lost_objects, lost_entries;
	uint64_t streams, caches, accesses_recs, entries, other;
	/* The dropped file at the start, and the difference at the end. */
	uint64_t dropped_objects, dropped_live, dropped_entries;
	uint64_t session;
	char release[72];
};

static const char *dir = DEFAULT_DIR;
static const char *out_path;
static bool no_start, quiet;
static double time_limit;	/* seconds; 0: none */

static unsigned long long subbuf_size, n_subbufs;
static struct cpu_stream **cpus;
static size_t nr_cpus, cpus_cap;
static struct pollfd *pfds;
static bool pfds_stale = true;

static int out_fd = -1;
static unsigned char *outbuf;
static size_t outlen;
static off_t out_good;		/* bytes of FILE known to be whole records */
static bool out_regular;

static int state_fd = -1;	/* DIR/subbufs_state, read and written */
static bool we_started;		/* this reader switched streaming on */
static bool stopped;		/* ... and off again */
static bool warned_version;

static volatile sig_atomic_t got_signal;
static atomic_bool stopper_done;
static atomic_int stopper_err;
static pthread_t stopper;
static bool stopper_running;

static void finish_on_error(void);

static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

/*
 * An error: says what, writes the whole records copied so far, switches
 * streaming off if this reader switched it on, and exits 1.
 */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	finish_on_error();
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -o FILE [-d DIR] [-n] [-t SECONDS] [-q]\n"
		"\n"
		"Copy Memorizer's relay stream (Documentation/stream.rst) to FILE.\n"
		"\n"
		"  -o, --output FILE   the records go to FILE (required)\n"
		"  -d, --dir DIR       the stream's directory (default " DEFAULT_DIR ")\n"
		"  -n, --no-start      attach to streaming that is already on, and leave\n"
		"                      it on at the end\n"
		"  -t, --time SECONDS  stop after SECONDS\n"
		"  -q, --quiet         no summary at the end\n"
		"  -h, --help          this text\n"
		"\n"
		"Stops on SIGINT or SIGTERM, after -t, or when streaming is switched off;\n"
		"then switches streaming off (unless -n), copies what is left and prints\n"
		"a summary to stderr.  Exit status 0 (dropped objects are reported, not an\n"
		"error), 1 on errors, 2 on bad usage.\n");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void path_of(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
		fail("%s/%s: path too long", dir, name);
}

/* ---- control files ----------------------------------------------- */

/* Reads all of a small file (a seq_file may come in several reads). */
static char *read_all_fd(int fd, const char *path, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		fail("%s: out of memory", path);
	for (;;) {
		if (len + 1 >= cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				fail("%s: out of memory", path);
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: read: %s", path, strerror(errno));
		len += n;
		/*
		 * A control file or a seq_file returns all it has that
		 * fits: a short read is the end, without one more read().
		 */
		if (n == 0 || len + 1 < cap)
			break;
	}
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

static char *read_all(const char *name)
{
	char path[PATH_MAX];
	char *text;
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("%s: open: %s", path, strerror(errno));
	text = read_all_fd(fd, path, NULL);
	close(fd);
	return text;
}

/* A control file holding one decimal number. */
static unsigned long long read_number(const char *name)
{
	char path[PATH_MAX];
	char *text = read_all(name), *end;
	unsigned long long value;

	path_of(path, sizeof(path), name);
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || (*end && strcmp(end, "\n")))
		fail("%s: not a number: '%.40s'", path, text);
	free(text);
	return value;
}

/* Writes text to a control file; 0 or an errno. */
static int write_control(const char *name, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	ssize_t n;
	int fd, err = 0;

	path_of(path, sizeof(path), name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = errno;
	else if ((size_t)n != len)
		err = EIO;
	close(fd);
	return err;
}

static int read_enabled(void)
{
	char path[PATH_MAX];
	unsigned long long v = read_number("enabled");

	if (v > 1) {
		path_of(path, sizeof(path), "enabled");
		fail("%s: neither 0 nor 1: %llu", path, v);
	}
	return (int)v;
}

/* ---- CPUs --------------------------------------------------------- */

static struct cpu_stream *find_cpu(int cpu)
{
	size_t i;

	for (i = 0; i < nr_cpus; i++)
		if (cpus[i]->cpu == cpu)
			return cpus[i];
	return NULL;
}

/*
 * Opens and maps DIR/cpuN.  The mapping is PROT_READ and MAP_SHARED: the
 * relay file's pages are the kernel's buffer itself (relay_buf_fault()
 * hands out the vmalloc()ed pages), and a shared mapping is the one that
 * POSIX defines to show later writes to the underlying object; a private
 * mapping would show them too as long as it is never written (nothing is
 * copied on read), but only by the way Linux happens to implement it.
 * PROT_READ on a read-only descriptor keeps the reader from ever writing
 * the kernel's buffer.  relay accepts only a mapping of exactly
 * n_subbufs * subbuf_size bytes.
 */
static struct cpu_stream *add_cpu(int cpu, bool must)
{
	struct cpu_stream *c = calloc(1, sizeof(*c));
	char name[32];
	void *map;

	if (!c)
		fail("out of memory");
	c->cpu = cpu;
	snprintf(name, sizeof(name), "cpu%d", cpu);
	path_of(c->path, sizeof(c->path), name);
	c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		if (!must) {
			free(c);
			return NULL;
		}
		fail("%s: open: %s", c->path, strerror(errno));
	}
	c->map_size = (size_t)(subbuf_size * n_subbufs);
	map = mmap(NULL, c->map_size, PROT_READ, MAP_SHARED, c->fd, 0);
	if (map == MAP_FAILED) {
		if (errno == EINVAL)
			fail("%s: mmap of %zu bytes (%llu x %llu): %s (do subbuf_size and subbufs still describe this buffer?)",
			     c->path, c->map_size, n_subbufs, subbuf_size,
			     strerror(errno));
		fail("%s: mmap of %zu bytes: %s", c->path, c->map_size,
		     strerror(errno));
	}
	c->map = map;
	if (nr_cpus == cpus_cap) {
		size_t cap = cpus_cap ? cpus_cap * 2 : 8;
		struct cpu_stream **more = realloc(cpus, cap * sizeof(*cpus));

		if (!more)
			fail("out of memory");
		cpus = more;
		cpus_cap = cap;
	}
	cpus[nr_cpus++] = c;
	pfds_stale = true;
	return c;
}

static int cmp_cpu(const void *a, const void *b)
{
	const struct cpu_stream *x = *(struct cpu_stream *const *)a;
	const struct cpu_stream *y = *(struct cpu_stream *const *)b;

	return (x->cpu > y->cpu) - (x->cpu < y->cpu);
}

/* Every cpuN file of DIR. */
static void open_cpus(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char *end;
	long cpu;

	if (!d)
		fail("%s: opendir: %s", dir, strerror(errno));
	while ((errno = 0, de = readdir(d))) {
		if (strncmp(de->d_name, "cpu", 3) || !de->d_name[3])
			continue;
		cpu = strtol(de->d_name + 3, &end, 10);
		if (*end || cpu < 0 || cpu > INT_MAX ||
		    (de->d_name[3] == '0' && de->d_name[4]))
			continue;
		add_cpu((int)cpu, true);
	}
	if (errno)
		fail("%s: readdir: %s", dir, strerror(errno));
	closedir(d);
	if (!nr_cpus)
		fail("%s: no cpuN files: is streaming on?", dir);
	qsort(cpus, nr_cpus, sizeof(*cpus), cmp_cpu);
	pfds_stale = true;
}

/* ---- the dropped file --------------------------------------------- */

/*
 * DIR/dropped counts since boot, a line "cpuN objects N live N entries N"
 * per possible CPU (freed objects, live objects of a dump, access entries
 * of large objects), then a "total" line: a run's figures are the
 * differences from a copy taken before streaming was switched on.
 */
struct dropped {
	int cpu;
	uint64_t objects, live, entries;
};

static struct dropped *dropped0;
static size_t nr_dropped0;

static struct dropped *read_dropped(size_t *nr)
{
	char path[PATH_MAX];
	char *text = read_all("dropped"), *line, *save = NULL;
	unsigned long long objects, live, entries;
	struct dropped *d = NULL, *more;
	size_t n = 0;
	int cpu, end;

	path_of(path, sizeof(path), "dropped");
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		end = 0;
		if (!strncmp(line, "total ", 6))
			continue;
		if (sscanf(line, "cpu%d objects %llu live %llu entries %llu%n",
			   &cpu, &objects, &live, &entries, &end) != 4 ||
		    line[end])
			fail("%s: unexpected line '%.60s'", path, line);
		more = realloc(d, (n + 1) * sizeof(*d));
		if (!more)
			fail("out of memory");
		d = more;
		d[n].cpu = cpu;
		d[n].objects = objects;
		d[n].live = live;
		d[n].entries = entries;
		n++;
	}
	free(text);
	*nr = n;
	return d;
}

/* The differences from dropped0, into each CPU's figures. */
static void count_dropped(void)
{
	struct dropped *now;
	struct cpu_stream *c;
	size_t n, i, j;

	now = read_dropped(&n);
	for (i = 0; i < n; i++) {
		c = find_cpu(now[i].cpu);
		if (!c)
			continue;	/* a possible CPU without a buffer */
		c->dropped_objects = now[i].objects;
		c->dropped_live = now[i].live;
		c->dropped_entries = now[i].entries;
		for (j = 0; j < nr_dropped0; j++) {
			if (dropped0[j].cpu == now[i].cpu) {
				c->dropped_objects -= dropped0[j].objects;
				c->dropped_live -= dropped0[j].live;
				c->dropped_entries -= dropped0[j].entries;
				break;
			}
		}
	}
	free(now);
}

/* ---- the output file ---------------------------------------------- */

/*
 * Writes whole records to FILE.  On an error FILE is cut back to the end
 * of the last whole write, so that it never ends in part of a record;
 * then the run fails, unless it is already failing (fatal false).
 */
static bool write_out(const void *data, size_t len, bool fatal)
{
	const unsigned char *p = data;
	ssize_t n;
	int err;

	while (len) {
		n = write(out_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto error;
		p += n;
		len -= n;
	}
	out_good = lseek(out_fd, 0, SEEK_CUR);
	return true;

error:
	err = n < 0 ? errno : EIO;
	if (out_regular && ftruncate(out_fd, out_good) == 0)
		msg("%s: write: %s; cut back to its first %jd bytes, whole records",
		    out_path, strerror(err), (intmax_t)out_good);
	else
		msg("%s: write: %s", out_path, strerror(err));
	if (fatal)
		fail("%s: giving up", out_path);
	return false;
}

static void flush_out(void)
{
	size_t len = outlen;

	outlen = 0;
	if (len)
		write_out(outbuf, len, true);
}

/* Records of one sub-buffer, whole. */
static void emit(const unsigned char *data, size_t len)
{
	if (!len)
		return;
	if (len >= DIRECT_WRITE) {
		flush_out();
		write_out(data, len, true);
		return;
	}
	if (outlen + len > OUTBUF_SIZE)
		flush_out();
	memcpy(outbuf + outlen, data, len);
	outlen += len;
}

/* ---- copying sub-buffers ------------------------------------------ */

static void corrupt(const struct cpu_stream *c, uint64_t seq, size_t offset,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5), noreturn));
static void corrupt(const struct cpu_stream *c, uint64_t seq, size_t offset,
		    const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s: corrupt stream: CPU %d, sub-buffer %" PRIu64
		" (slot %" PRIu64 "), offset %zu: ", c->path, c->cpu, seq,
		(uint64_t)(seq % n_subbufs), offset);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	finish_on_error();
	exit(1);
}

/* Checks one record (its size is sane, within the sub-buffer) and counts it. */
static void check_record(struct cpu_stream *c, uint64_t seq, size_t off,
			 const unsigned char *p, const struct memorizer_rec *rec)
{
	switch (rec->type) {
	case MEMORIZER_REC_STREAM: {
		struct memorizer_rec_stream s;

		if (rec->size != sizeof(s))
			corrupt(c, seq, off, "STREAM record of %u bytes, not %zu",
				rec->size, sizeof(s));
		memcpy(&s, p, sizeof(s));
		if (s.magic != MEMORIZER_STREAM_MAGIC)
			corrupt(c, seq, off, "STREAM record magic 0x%08x, not 0x%08x",
				s.magic, MEMORIZER_STREAM_MAGIC);
		if (s.cpu != c->cpu)
			corrupt(c, seq, off, "STREAM record of CPU %u", s.cpu);
		if (s.subbuf_size != subbuf_size || s.n_subbufs != n_subbufs)
			corrupt(c, seq, off, "STREAM record says %u x %u bytes, the buffer is %llu x %llu",
				s.n_subbufs, s.subbuf_size, n_subbufs, subbuf_size);
		if (s.version != MEMORIZER_STREAM_VERSION && !warned_version) {
			msg("%s: stream version %u, this reader knows %u: copying it anyway",
			    c->path, s.version, MEMORIZER_STREAM_VERSION);
			warned_version = true;
		}
		if (s.version == MEMORIZER_STREAM_VERSION &&
		    (s.object_size != sizeof(struct memorizer_rec_object) ||
		     s.access_size != sizeof(struct memorizer_access_entry)))
			corrupt(c, seq, off, "STREAM record: object_size %u, access_size %u",
				s.object_size, s.access_size);
		c->streams++;
		c->session = s.session;
		memcpy(c->release, s.release, sizeof(c->release));
		c->release[sizeof(c->release) - 1] = '\0';
		break;
	}
	case MEMORIZER_REC_CACHE:
		if (rec->size != sizeof(struct memorizer_rec_cache))
			corrupt(c, seq, off, "CACHE record of %u bytes, not %zu",
				rec->size, sizeof(struct memorizer_rec_cache));
		c->caches++;
		break;
	case MEMORIZER_REC_OBJECT: {
		struct memorizer_rec_object o;

		if (rec->size < sizeof(o))
			corrupt(c, seq, off, "OBJECT record of %u bytes, less than %zu",
				rec->size, sizeof(o));
		memcpy(&o, p, sizeof(o));
		if (o.nr_entries > OBJECT_ENTRIES_MAX ||
		    rec->size != sizeof(o) + (size_t)o.nr_entries *
						 sizeof(struct memorizer_access_entry))
			corrupt(c, seq, off, "OBJECT record of %u bytes with %u entries",
				rec->size, o.nr_entries);
		if (o.nr_entries > o.nr_accesses)
			corrupt(c, seq, off, "OBJECT record with %u entries of %u",
				o.nr_entries, o.nr_accesses);
		if (rec->flags & MEMORIZER_OBJ_LIVE)
			c->live++;
		else
			c->objects++;
		c->entries += o.nr_entries;
		break;
	}
	case MEMORIZER_REC_ACCESSES: {
		struct memorizer_rec_accesses a;

		if (rec->size < sizeof(a))
			corrupt(c, seq, off, "ACCESSES record of %u bytes, less than %zu",
				rec->size, sizeof(a));
		memcpy(&a, p, sizeof(a));
		if (a.nr_entries == 0 || a.nr_entries > ACCESSES_ENTRIES_MAX ||
		    rec->size != sizeof(a) + (size_t)a.nr_entries *
						 sizeof(struct memorizer_access_entry))
			corrupt(c, seq, off, "ACCESSES record of %u bytes with %u entries",
				rec->size, a.nr_entries);
		c->accesses_recs++;
		c->entries += a.nr_entries;
		break;
	}
	case MEMORIZER_REC_LOST: {
		struct memorizer_rec_lost l;

		if (rec->size != sizeof(l))
			corrupt(c, seq, off, "LOST record of %u bytes, not %zu",
				rec->size, sizeof(l));
		memcpy(&l, p, sizeof(l));
		c->lost_recs++;
		c->lost_objects += l.objects;
		c->lost_entries += l.entries;
		break;
	}
	case 0:
		/* Not a type the kernel writes: more likely garbage. */
		corrupt(c, seq, off, "record of type 0 (%u bytes)", rec->size);
	default:
		/* A later version's record: skipped by its size. */
		c->other++;
		break;
	}
	c->records++;
}

/* Checks complete sub-buffer seq of c and queues its records. */
static void copy_subbuf(struct cpu_stream *c, uint64_t seq)
{
	const unsigned char *base = c->map + (seq % n_subbufs) * subbuf_size;
	struct memorizer_stream_subbuf hdr;
	struct memorizer_rec rec;
	size_t off, end = subbuf_size;

	memcpy(&hdr, base, sizeof(hdr));
	if (hdr.magic != MEMORIZER_SUBBUF_MAGIC)
		corrupt(c, seq, 0, "sub-buffer magic 0x%08x, not 0x%08x",
			hdr.magic, MEMORIZER_SUBBUF_MAGIC);
	if (hdr.seq != seq)
		corrupt(c, seq, offsetof(struct memorizer_stream_subbuf, seq),
			"header says sub-buffer %llu", (unsigned long long)hdr.seq);
	if (c->have_last_pad && hdr.prev_padding != c->last_pad)
		corrupt(c, seq, offsetof(struct memorizer_stream_subbuf, prev_padding),
			"prev_padding %u, but sub-buffer %" PRIu64 " ended %u bytes early",
			hdr.prev_padding, seq - 1, c->last_pad);

	for (off = sizeof(hdr); off < subbuf_size; off += rec.size) {
		if (subbuf_size - off < sizeof(rec))
			corrupt(c, seq, off, "record header across the sub-buffer's end");
		memcpy(&rec, base + off, sizeof(rec));
		if (rec.size < sizeof(rec) || rec.size % 8)
			corrupt(c, seq, off, "record of type %u with size %u",
				rec.type, rec.size);
		if (rec.size > subbuf_size - off)
			corrupt(c, seq, off, "record of type %u and %u bytes, %zu left in the sub-buffer",
				rec.type, rec.size, (size_t)(subbuf_size - off));
		if (rec.type == MEMORIZER_REC_PAD) {
			if (off + rec.size != subbuf_size)
				corrupt(c, seq, off, "PAD record of %u bytes ends %zu bytes before the sub-buffer",
					rec.size, (size_t)(subbuf_size - off - rec.size));
			end = off;
			break;
		}
		check_record(c, seq, off, base + off, &rec);
	}
	c->last_pad = (uint32_t)(subbuf_size - end);
	c->have_last_pad = true;
	emit(base + sizeof(hdr), end - sizeof(hdr));
	c->subbufs++;
	c->bytes += end - sizeof(hdr);
}

/*
 * One pass of the protocol: reads subbufs_state, copies each CPU's
 * complete sub-buffers (CONSUMED to COMPLETED - 1) and reports them
 * consumed.  Returns the number of sub-buffers copied.
 */
static uint64_t copy_pass(void)
{
	char path[PATH_MAX], *text, *line, *save = NULL, report[48];
	unsigned long long cpu, completed, consumed;
	struct cpu_stream *c;
	uint64_t total = 0, n, i;
	ssize_t w;

	path_of(path, sizeof(path), "subbufs_state");
	if (lseek(state_fd, 0, SEEK_SET) < 0)
		fail("%s: lseek: %s", path, strerror(errno));
	text = read_all_fd(state_fd, path, NULL);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%llu %llu %llu", &cpu, &completed, &consumed) != 3 ||
		    cpu > INT_MAX)
			fail("%s: unexpected line '%.60s'", path, line);
		c = find_cpu((int)cpu);
		if (!c) {
			/* A CPU that came online while streaming. */
			c = add_cpu((int)cpu, false);
			if (!c) {
				msg("%s: CPU %llu has no file %s/cpu%llu; its records stay in the buffer",
				    path, cpu, dir, cpu);
				continue;
			}
			qsort(cpus, nr_cpus, sizeof(*cpus), cmp_cpu);
		}
		if (!c->seen) {
			c->next = consumed;
			c->seen = true;
		} else if (consumed != c->next) {
			fail("%s: CPU %llu: CONSUMED is %llu, this reader consumed up to %" PRIu64 ": is another reader consuming this stream?",
			     path, cpu, consumed, c->next);
		}
		if (completed < consumed || completed - consumed > n_subbufs)
			fail("%s: CPU %llu: COMPLETED %llu, CONSUMED %llu, with %llu sub-buffers",
			     path, cpu, completed, consumed, n_subbufs);
		n = completed - consumed;
		if (!n)
			continue;
		for (i = 0; i < n; i++)
			copy_subbuf(c, consumed + i);
		/* Copied to outbuf or to FILE: the kernel may reuse them. */
		snprintf(report, sizeof(report), "%d %" PRIu64 "\n", c->cpu, n);
		do
			w = write(state_fd, report, strlen(report));
		while (w < 0 && errno == EINTR);
		if (w < 0)
			fail("%s: writing '%d %" PRIu64 "': %s", path, c->cpu, n,
			     strerror(errno));
		c->next += n;
		total += n;
	}
	free(text);
	return total;
}

/* ---- stopping ----------------------------------------------------- */

/* User and system time of the calling thread. */
static double thread_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU time of the stopper: the kernel writing the live objects. */
static double stopper_cpu;

static void *stopper_fn(void *arg)
{
	(void)arg;
	atomic_store(&stopper_err, write_control("enabled", "0\n"));
	stopper_cpu = thread_cpu_seconds();
	atomic_store(&stopper_done, true);
	return NULL;
}

static void start_stopper(void)
{
	int err;

	if (stopper_running || stopped)
		return;
	err = pthread_create(&stopper, NULL, stopper_fn, NULL);
	if (err)
		fail("pthread_create: %s", strerror(err));
	stopper_running = true;
}

/* Whether the stopper has finished: joins it and checks its write. */
static bool stopper_finished(void)
{
	char path[PATH_MAX];
	int err;

	if (!stopper_running)
		return stopped;
	if (!atomic_load(&stopper_done))
		return false;
	pthread_join(stopper, NULL);
	stopper_running = false;
	err = atomic_load(&stopper_err);
	if (err) {
		path_of(path, sizeof(path), "enabled");
		fail("%s: writing 0: %s", path, strerror(err));
	}
	stopped = true;
	return true;
}

/* After an error: the whole records so far, and streaming off again. */
static void finish_on_error(void)
{
	static bool once;
	char path[PATH_MAX];
	int err;

	if (once)
		return;
	once = true;
	if (out_fd >= 0 && outlen) {
		size_t len = outlen;

		outlen = 0;
		write_out(outbuf, len, false);
	}
	if (we_started && !stopped) {
		if (stopper_running) {
			pthread_join(stopper, NULL);
			return;
		}
		snprintf(path, sizeof(path), "%s/enabled", dir);
		msg("switching streaming off (%s), without copying what is left",
		    path);
		err = write_control("enabled", "0\n");
		if (err)
			msg("%s: writing 0: %s", path, strerror(err));
	}
}

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- the summary -------------------------------------------------- */

static void summary_line(const char *label, const struct cpu_stream *c)
{
	fprintf(stderr,
		"%8s: %9" PRIu64 " records, %9" PRIu64 " objects, %7" PRIu64
		" live, %5" PRIu64 " LOST, %11" PRIu64 " bytes, %6" PRIu64
		" sub-buffers; dropped %" PRIu64 " objects, %" PRIu64 " live, %"
		PRIu64 " entries\n",
		label, c->records, c->objects, c->live, c->lost_recs, c->bytes,
		c->subbufs, c->dropped_objects, c->dropped_live,
		c->dropped_entries);
}

/*
 * Like blktrace's: a line per CPU and the totals; then the other record
 * types, the session, the time and the rate.  What was dropped, and
 * what to enlarge, is said even with -q.
 */
static void summary(double elapsed)
{
	struct cpu_stream t = { .cpu = -1 };
	unsigned long long more;
	char label[16];
	size_t i;

	for (i = 0; i < nr_cpus; i++) {
		struct cpu_stream *c = cpus[i];

		t.records += c->records;
		t.bytes += c->bytes;
		t.subbufs += c->subbufs;
		t.objects += c->objects;
		t.live += c->live;
		t.lost_recs += c->lost_recs;
		t.lost_objects += c->lost_objects;
		t.lost_entries += c->lost_entries;
		t.streams += c->streams;
		t.caches += c->caches;
		t.accesses_recs += c->accesses_recs;
		t.entries += c->entries;
		t.other += c->other;
		t.dropped_objects += c->dropped_objects;
		t.dropped_live += c->dropped_live;
		t.dropped_entries += c->dropped_entries;
		if (c->session)
			t.session = c->session;
		if (c->release[0])
			memcpy(t.release, c->release, sizeof(t.release));
	}
	if (!quiet) {
		for (i = 0; i < nr_cpus; i++) {
			snprintf(label, sizeof(label), "CPU %3d", cpus[i]->cpu);
			summary_line(label, cpus[i]);
		}
		summary_line("Total", &t);
		fprintf(stderr,
			"Also %" PRIu64 " STREAM, %" PRIu64 " CACHE, %" PRIu64
			" ACCESSES and %" PRIu64 " unknown records; %" PRIu64
			" access entries; the LOST records count %" PRIu64
			" objects, %" PRIu64 " entries.\n",
			t.streams, t.caches, t.accesses_recs, t.other, t.entries,
			t.lost_objects, t.lost_entries);
		if (t.session)
			fprintf(stderr, "Session %" PRIu64 " of %s, ",
				t.session, t.release);
		fprintf(stderr,
			"%llu sub-buffers of %llu bytes per CPU: %" PRIu64
			" bytes to %s in %.3f s, %.3f MB/s.\n",
			n_subbufs, subbuf_size, t.bytes, out_path, elapsed,
			elapsed > 0 ? t.bytes / elapsed / 1e6 : 0.0);
		fprintf(stderr,
			"CPU time: %.3f s copying%s",
			thread_cpu_seconds(), stopper_cpu > 0 ? "" : ".\n");
		if (stopper_cpu > 0)
			fprintf(stderr, ", %.3f s in the kernel writing the live objects at the stop.\n",
				stopper_cpu);
	}
	if (!t.dropped_objects && !t.dropped_live && !t.dropped_entries)
		return;
	msg("dropped for want of buffer space%s: %" PRIu64 " freed objects, %"
	    PRIu64 " live objects, %" PRIu64 " access entries",
	    no_start ? " since this reader attached" : "",
	    t.dropped_objects, t.dropped_live, t.dropped_entries);
	msg("give the stream more room: while it is off, a larger subbuf_size (now %llu) or more subbufs (now %llu), e.g.",
	    subbuf_size, n_subbufs);
	if (n_subbufs < SUBBUFS_MAX) {
		more = n_subbufs * 4 < SUBBUFS_MAX ? n_subbufs * 4 : SUBBUFS_MAX;
		msg("    echo %llu > %s/subbufs", more, dir);
	} else if (subbuf_size < SUBBUF_SIZE_MAX) {
		more = subbuf_size * 4 < SUBBUF_SIZE_MAX ? subbuf_size * 4 :
							   SUBBUF_SIZE_MAX;
		msg("    echo %llu > %s/subbuf_size", more, dir);
	}
}

/* ---- main --------------------------------------------------------- */

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ "no-start", no_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "o:d:nt:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out_path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'n':
			no_start = true;
			break;
		case 't':
			errno = 0;
			time_limit = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(time_limit > 0) ||
			    time_limit > 1e9) {
				msg("-t: not a positive number of seconds: '%s'", optarg);
				exit(2);
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		msg("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		exit(2);
	}
	if (!out_path) {
		msg("no output file: -o FILE is required");
		usage(stderr);
		exit(2);
	}
}

static void check_geometry(void)
{
	char path[PATH_MAX];

	if (subbuf_size < SUBBUF_SIZE_MIN || subbuf_size > SUBBUF_SIZE_MAX ||
	    (subbuf_size & (subbuf_size - 1))) {
		path_of(path, sizeof(path), "subbuf_size");
		fail("%s: not a power of two from %llu to %llu: %llu", path,
		     SUBBUF_SIZE_MIN, SUBBUF_SIZE_MAX, subbuf_size);
	}
	if (n_subbufs < SUBBUFS_MIN || n_subbufs > SUBBUFS_MAX) {
		path_of(path, sizeof(path), "subbufs");
		fail("%s: not from %llu to %llu: %llu", path, SUBBUFS_MIN,
		     SUBBUFS_MAX, n_subbufs);
	}
	if (subbuf_size * n_subbufs > SIZE_MAX / 2)
		fail("%llu sub-buffers of %llu bytes do not fit this reader's address space",
		     n_subbufs, subbuf_size);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, orig;
	double start, deadline = 0, remaining;
	struct timespec timeout;
	struct stat st;
	bool stopping = false;
	uint64_t copied;
	int enabled, err, n;
	size_t i;

	parse_args(argc, argv);

	/* SIGINT and SIGTERM only inside ppoll(), in the main thread. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, &orig))
		fail("sigprocmask: %s", strerror(errno));
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGTERM);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		fail("sigaction: %s", strerror(errno));

	outbuf = malloc(OUTBUF_SIZE);
	if (!outbuf)
		fail("out of memory");
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0)
		fail("%s: open: %s", out_path, strerror(errno));
	if (fstat(out_fd, &st))
		fail("%s: fstat: %s", out_path, strerror(errno));
	out_regular = S_ISREG(st.st_mode);

	path_of(path, sizeof(path), "enabled");
	enabled = read_enabled();
	if (no_start && !enabled)
		fail("%s reads 0: streaming is off, and -n does not switch it on", path);
	if (!no_start && enabled)
		fail("%s reads 1: streaming is already on (another reader, or one that was killed?): attach to it with -n, or switch it off with 'echo 0 > %s'",
		     path, path);
	/* Geometry files may change only while streaming is off. */
	subbuf_size = read_number("subbuf_size");
	n_subbufs = read_number("subbufs");
	check_geometry();

	dropped0 = read_dropped(&nr_dropped0);
	if (!no_start) {
		err = write_control("enabled", "1\n");
		if (err)
			fail("%s: writing 1: %s", path, strerror(err));
		we_started = true;
		/* Now EBUSY to change: these are the buffers' own. */
		subbuf_size = read_number("subbuf_size");
		n_subbufs = read_number("subbufs");
		check_geometry();
	}
	start = now();
	if (time_limit)
		deadline = start + time_limit;

	open_cpus();
	path_of(path, sizeof(path), "subbufs_state");
	state_fd = open(path, O_RDWR | O_CLOEXEC);
	if (state_fd < 0)
		fail("%s: open: %s", path, strerror(errno));

	for (;;) {
		if (pfds_stale) {
			free(pfds);
			pfds = calloc(nr_cpus, sizeof(*pfds));
			if (!pfds)
				fail("out of memory");
			for (i = 0; i < nr_cpus; i++) {
				pfds[i].fd = cpus[i]->fd;
				pfds[i].events = POLLIN;
			}
			pfds_stale = false;
		}
		remaining = POLL_MS / 1e3;
		if (deadline && !stopping) {
			double left = deadline - now();

			if (left < remaining)
				remaining = left > 0 ? left : 0;
		}
		timeout.tv_sec = (time_t)remaining;
		timeout.tv_nsec = (long)((remaining - timeout.tv_sec) * 1e9);
		n = ppoll(pfds, nr_cpus, &timeout, &orig);
		if (n < 0 && errno != EINTR)
			fail("ppoll: %s", strerror(errno));
		for (i = 0; n > 0 && i < nr_cpus; i++)
			if (pfds[i].revents & (POLLERR | POLLNVAL))
				fail("%s: poll: %s: streaming was switched on again (a new session), these files are gone",
				     cpus[i]->path,
				     pfds[i].revents & POLLNVAL ? "POLLNVAL" : "POLLERR");

		if (!stopping && (got_signal || (deadline && now() >= deadline))) {
			stopping = true;
			if (got_signal && !quiet)
				msg("%s: stopping", got_signal == SIGINT ? "SIGINT" : "SIGTERM");
			if (we_started)
				start_stopper();
		}
		if (!stopping && n > 0) {
			/*
			 * A sub-buffer is complete (relay's POLLIN: produced
			 * but not consumed): copy, and look at enabled only
			 * when the buffers are quiet.  Once streaming is off
			 * nothing more completes, so poll() soon times out.
			 */
			copy_pass();
			continue;
		}
		/* Read before the pass: when it is 0, the pass copies all. */
		enabled = stopper_finished() ? 0 : read_enabled();
		if (stopping && !we_started && enabled) {
			/* Attached: complete the current sub-buffers, leave it on. */
			err = write_control("flush", "1\n");
			if (err && err != EINVAL) {
				path_of(path, sizeof(path), "flush");
				fail("%s: writing 1: %s", path, strerror(err));
			}
			/* One more pass copies them; later records are not ours. */
			copy_pass();
			break;
		}
		copied = copy_pass();
		if (!enabled)
			break;
		if (!copied)
			flush_out();	/* a quiet moment: write what is buffered */
	}
	/* Streaming is off: nothing new comes, copy what is left. */
	while (!enabled && copy_pass())
		;
	flush_out();
	if (stopper_running) {
		/* Someone else switched it off while ours was blocked. */
		while (!stopper_finished())
			usleep(10000);
	}
	if (out_regular && fsync(out_fd))
		fail("%s: fsync: %s", out_path, strerror(errno));
	if (close(out_fd))
		fail("%s: close: %s", out_path, strerror(errno));
	out_fd = -1;
	count_dropped();
	summary(now() - start);
	return 0;
}
