// SPDX-License-Identifier: GPL-2.0
/*
 * tracer_test.ko - kernel threads that make known numbers of the calls that
 * tracer.ko counts, so that the in-guest tests can check its counters
 * exactly.
 *
 * debugfs tracer_test/:
 *   spawn (w)  one worker per write, described by "key=value" words:
 *              kmalloc=N  size=BYTES  path=var|cache|large  free=N
 *              foreign=N  fail=N  sched=N  sem=N  mutex=N  shared=0|1
 *              rounds=N   (see struct tt_spec)
 *   pids  (r)  the PIDs of the workers, one a line, in spawn order
 *   go    (w)  every worker runs its next round; returns when all are done,
 *              -EIO if a worker hit an unexpected result
 *   stop  (w)  stops every worker and waits for its thread function to end
 *
 * A worker sleeps until "go" and makes no counted call of its own between
 * rounds apart from schedule(), so a test that adds its PID to the tracer
 * before "go" knows every counter but sched exactly.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/semaphore.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#define TT_MAX_CALLS	100000
#define TT_MAX_ROUNDS	100
#define TT_MAX_WORKERS	256

/* Which function kmalloc() inlines to, see include/linux/slab.h. */
enum tt_path {
	TT_PATH_VAR,	/* size unknown at compile time: __kmalloc_noprof */
	TT_PATH_CACHE,	/* constant, kmalloc cache: __kmalloc_cache_noprof */
	TT_PATH_LARGE,	/* constant, above the caches: __kmalloc_large_noprof */
};

/* What a worker does in one round, in this order. */
struct tt_spec {
	unsigned int kmalloc;	/* kmalloc(size) calls */
	unsigned int size;	/* requested bytes; cache and large: see tt_kmalloc_const() */
	enum tt_path path;
	unsigned int free;	/* kfree() of the first @free blocks of this round */
	unsigned int foreign;	/* kfree() of blocks the controller allocated */
	unsigned int fail;	/* kmalloc calls that must fail (too big) */
	unsigned int sched;	/* schedule() calls */
	unsigned int sem;	/* down_interruptible() + up() pairs */
	unsigned int mutex;	/* mutex_lock() + mutex_unlock() pairs */
	unsigned int shared;	/* 1: contend for one semaphore and mutex */
	unsigned int rounds;	/* rounds this worker takes part in */
};

struct tt_worker {
	struct list_head node;
	struct task_struct *task;	/* reference held */
	struct tt_spec spec;
	void **blocks;			/* kmalloc * rounds */
	void **foreign;			/* foreign * rounds */
	struct semaphore sem;		/* private: never contended */
	struct mutex mutex;		/* private: never contended */
	unsigned long seen;		/* last generation served */
	unsigned int rounds_done;
	int error;
};

static DEFINE_MUTEX(tt_lock);		/* serialises spawn, go and stop */
static LIST_HEAD(tt_workers);
static unsigned int tt_nr_workers;
static unsigned long tt_generation;	/* bumped by each "go" */
static atomic_t tt_pending;		/* workers yet to finish this round */
static DECLARE_WAIT_QUEUE_HEAD(tt_go_wq);
static DECLARE_WAIT_QUEUE_HEAD(tt_done_wq);
/* Set up in tt_init(): DEFINE_SEMAPHORE() gained its count argument in 6.4. */
static struct semaphore tt_shared_sem;
static DEFINE_MUTEX(tt_shared_mutex);
static struct dentry *tt_dir;

/* Constant sizes, so that kmalloc() inlines to its constant-size paths. */
static void *tt_kmalloc_const(size_t size)
{
	BUILD_BUG_ON(1000 > KMALLOC_MAX_CACHE_SIZE);
	BUILD_BUG_ON(9000 <= KMALLOC_MAX_CACHE_SIZE);

	switch (size) {
	case 32:
		return kmalloc(32, GFP_KERNEL);
	case 100:
		return kmalloc(100, GFP_KERNEL);
	case 1000:
		return kmalloc(1000, GFP_KERNEL);
	case 9000:
		return kmalloc(9000, GFP_KERNEL);
	case 20000:
		return kmalloc(20000, GFP_KERNEL);
	}
	return NULL;
}

static bool tt_size_valid(enum tt_path path, unsigned int size)
{
	switch (path) {
	case TT_PATH_VAR:
		return size <= KMALLOC_MAX_CACHE_SIZE * 4;
	case TT_PATH_CACHE:
		return size == 32 || size == 100 || size == 1000;
	case TT_PATH_LARGE:
		return size == 9000 || size == 20000;
	}
	return false;
}

static void *tt_kmalloc(enum tt_path path, size_t size)
{
	if (path != TT_PATH_VAR)
		return tt_kmalloc_const(size);
	/* Keep the compiler from seeing a constant. */
	OPTIMIZER_HIDE_VAR(size);
	return kmalloc(size, GFP_KERNEL);
}

/* A kmalloc() call that cannot succeed: more than the page allocator has. */
static void *tt_kmalloc_too_big(void)
{
	size_t size = KMALLOC_MAX_SIZE + 1;

	OPTIMIZER_HIDE_VAR(size);
	return kmalloc(size, GFP_KERNEL | __GFP_NOWARN);
}

static void tt_round(struct tt_worker *w)
{
	const struct tt_spec *s = &w->spec;
	void **blocks = w->blocks + w->rounds_done * s->kmalloc;
	void **foreign = w->foreign + w->rounds_done * s->foreign;
	struct semaphore *sem = s->shared ? &tt_shared_sem : &w->sem;
	struct mutex *mutex = s->shared ? &tt_shared_mutex : &w->mutex;
	unsigned int i;

	for (i = 0; i < s->kmalloc; i++) {
		blocks[i] = tt_kmalloc(s->path, s->size);
		if (!blocks[i])
			w->error = -ENOMEM;
	}
	for (i = 0; i < s->free; i++) {
		kfree(blocks[i]);
		blocks[i] = NULL;
	}
	for (i = 0; i < s->foreign; i++) {
		kfree(foreign[i]);
		foreign[i] = NULL;
	}
	for (i = 0; i < s->fail; i++) {
		void *p = tt_kmalloc_too_big();

		if (p) {
			w->error = -EEXIST;
			kfree(p);
		}
	}
	for (i = 0; i < s->sched; i++)
		schedule();
	for (i = 0; i < s->sem; i++) {
		if (down_interruptible(sem)) {
			w->error = -EINTR;
			continue;
		}
		/* Shared: let the others block in down_interruptible(). */
		if (s->shared)
			schedule();
		up(sem);
	}
	for (i = 0; i < s->mutex; i++) {
		mutex_lock(mutex);
		if (s->shared)
			schedule();
		mutex_unlock(mutex);
	}
}

static int tt_worker_fn(void *data)
{
	struct tt_worker *w = data;

	for (;;) {
		wait_event_interruptible(tt_go_wq, kthread_should_stop() ||
					 READ_ONCE(tt_generation) != w->seen);
		if (kthread_should_stop())
			break;
		w->seen = READ_ONCE(tt_generation);
		if (w->rounds_done < w->spec.rounds) {
			tt_round(w);
			w->rounds_done++;
		}
		if (atomic_dec_and_test(&tt_pending))
			wake_up(&tt_done_wq);
	}
	return 0;
}

struct tt_key {
	const char *name;
	size_t offset;
	unsigned int max;
};

#define TT_KEY(field, limit) { #field, offsetof(struct tt_spec, field), limit }

static const struct tt_key tt_keys[] = {
	TT_KEY(kmalloc, TT_MAX_CALLS),
	TT_KEY(size, KMALLOC_MAX_CACHE_SIZE * 4),
	TT_KEY(free, TT_MAX_CALLS),
	TT_KEY(foreign, TT_MAX_CALLS),
	TT_KEY(fail, TT_MAX_CALLS),
	TT_KEY(sched, TT_MAX_CALLS),
	TT_KEY(sem, TT_MAX_CALLS),
	TT_KEY(mutex, TT_MAX_CALLS),
	TT_KEY(shared, 1),
	TT_KEY(rounds, TT_MAX_ROUNDS),
};

static int tt_parse_word(char *word, struct tt_spec *s)
{
	char *value = strchr(word, '=');
	unsigned int i, n;

	if (!value) {
		pr_warn("spawn: '%s' is not key=value\n", word);
		return -EINVAL;
	}
	*value++ = '\0';
	if (!strcmp(word, "path")) {
		if (!strcmp(value, "var"))
			s->path = TT_PATH_VAR;
		else if (!strcmp(value, "cache"))
			s->path = TT_PATH_CACHE;
		else if (!strcmp(value, "large"))
			s->path = TT_PATH_LARGE;
		else
			goto bad_value;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(tt_keys); i++) {
		if (strcmp(word, tt_keys[i].name))
			continue;
		if (kstrtouint(value, 0, &n) || n > tt_keys[i].max)
			goto bad_value;
		*(unsigned int *)((char *)s + tt_keys[i].offset) = n;
		return 0;
	}
	pr_warn("spawn: unknown key '%s'\n", word);
	return -EINVAL;

bad_value:
	pr_warn("spawn: bad value '%s' for %s\n", value, word);
	return -EINVAL;
}

static int tt_parse(char *line, struct tt_spec *s)
{
	char *word;
	int err;

	*s = (struct tt_spec) { .rounds = 1 };
	while ((word = strsep(&line, " \t\n"))) {
		if (!*word)
			continue;
		err = tt_parse_word(word, s);
		if (err)
			return err;
	}
	if (s->free > s->kmalloc || !s->rounds ||
	    !tt_size_valid(s->path, s->size)) {
		pr_warn("spawn: need free <= kmalloc, rounds >= 1 and a size the path supports\n");
		return -EINVAL;
	}
	return 0;
}

static void tt_worker_free(struct tt_worker *w)
{
	unsigned int i;

	for (i = 0; w->blocks && i < w->spec.kmalloc * w->spec.rounds; i++)
		kfree(w->blocks[i]);
	for (i = 0; w->foreign && i < w->spec.foreign * w->spec.rounds; i++)
		kfree(w->foreign[i]);
	kvfree(w->blocks);
	kvfree(w->foreign);
	kfree(w);
}

static int tt_spawn(const struct tt_spec *spec)
{
	unsigned int nr_foreign = spec->foreign * spec->rounds;
	struct task_struct *task;
	struct tt_worker *w;
	unsigned int i;

	if (tt_nr_workers >= TT_MAX_WORKERS)
		return -ENOSPC;
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	w->spec = *spec;
	sema_init(&w->sem, 1);
	mutex_init(&w->mutex);
	w->blocks = kvcalloc(spec->kmalloc * spec->rounds, sizeof(void *),
			     GFP_KERNEL);
	w->foreign = kvcalloc(nr_foreign, sizeof(void *), GFP_KERNEL);
	if (!w->blocks || !w->foreign)
		goto nomem;
	for (i = 0; i < nr_foreign; i++) {
		w->foreign[i] = kmalloc(spec->size ? spec->size : 1,
					GFP_KERNEL);
		if (!w->foreign[i])
			goto nomem;
	}

	task = kthread_create(tt_worker_fn, w, "tracer_test/%u",
			      tt_nr_workers);
	if (IS_ERR(task)) {
		tt_worker_free(w);
		return PTR_ERR(task);
	}
	w->task = get_task_struct(task);
	w->seen = tt_generation;
	list_add_tail(&w->node, &tt_workers);
	tt_nr_workers++;
	wake_up_process(task);
	return 0;

nomem:
	tt_worker_free(w);
	return -ENOMEM;
}

static void tt_stop_all(void)
{
	struct tt_worker *w, *next;

	list_for_each_entry_safe(w, next, &tt_workers, node) {
		kthread_stop(w->task);
		put_task_struct(w->task);
		list_del(&w->node);
		tt_worker_free(w);
	}
	tt_nr_workers = 0;
}

static int tt_go(void)
{
	struct tt_worker *w;
	int err;

	if (!tt_nr_workers)
		return -ENODEV;
	/* A previous "go" that was killed may still be running. */
	err = wait_event_killable(tt_done_wq, !atomic_read(&tt_pending));
	if (err)
		return err;
	atomic_set(&tt_pending, tt_nr_workers);
	WRITE_ONCE(tt_generation, tt_generation + 1);
	wake_up_all(&tt_go_wq);
	err = wait_event_killable(tt_done_wq, !atomic_read(&tt_pending));
	if (err)
		return err;
	list_for_each_entry(w, &tt_workers, node)
		if (w->error)
			return -EIO;
	return 0;
}

static ssize_t tt_spawn_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	struct tt_spec spec;
	char *line;
	int err;

	line = memdup_user_nul(ubuf, min_t(size_t, len, PAGE_SIZE));
	if (IS_ERR(line))
		return PTR_ERR(line);
	err = tt_parse(line, &spec);
	kfree(line);
	if (err)
		return err;

	mutex_lock(&tt_lock);
	err = tt_spawn(&spec);
	mutex_unlock(&tt_lock);
	return err ? err : len;
}

static ssize_t tt_go_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	int err;

	mutex_lock(&tt_lock);
	err = tt_go();
	mutex_unlock(&tt_lock);
	return err ? err : len;
}

static ssize_t tt_stop_write(struct file *file, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	mutex_lock(&tt_lock);
	tt_stop_all();
	mutex_unlock(&tt_lock);
	return len;
}

static int tt_pids_show(struct seq_file *m, void *v)
{
	struct tt_worker *w;

	mutex_lock(&tt_lock);
	list_for_each_entry(w, &tt_workers, node)
		seq_printf(m, "%d\n", task_pid_vnr(w->task));
	mutex_unlock(&tt_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(tt_pids);

static const struct file_operations tt_spawn_fops = {
	.owner	= THIS_MODULE,
	.write	= tt_spawn_write,
};

static const struct file_operations tt_go_fops = {
	.owner	= THIS_MODULE,
	.write	= tt_go_write,
};

static const struct file_operations tt_stop_fops = {
	.owner	= THIS_MODULE,
	.write	= tt_stop_write,
};

static int __init tt_init(void)
{
	sema_init(&tt_shared_sem, 1);
	tt_dir = debugfs_create_dir("tracer_test", NULL);
	if (IS_ERR(tt_dir))
		return PTR_ERR(tt_dir);
	debugfs_create_file("spawn", 0200, tt_dir, NULL, &tt_spawn_fops);
	debugfs_create_file("go", 0200, tt_dir, NULL, &tt_go_fops);
	debugfs_create_file("stop", 0200, tt_dir, NULL, &tt_stop_fops);
	debugfs_create_file("pids", 0444, tt_dir, NULL, &tt_pids_fops);
	return 0;
}

static void __exit tt_exit(void)
{
	debugfs_remove(tt_dir);
	mutex_lock(&tt_lock);
	tt_stop_all();
	mutex_unlock(&tt_lock);
}

module_init(tt_init);
module_exit(tt_exit);

MODULE_DESCRIPTION("Workers with known call counts for testing tracer.ko");
MODULE_AUTHOR("Memorizer project");
MODULE_LICENSE("GPL");
