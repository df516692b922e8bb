// SPDX-License-Identifier: GPL-2.0
/*
 * memorizer_workload.ko - objects with known accesses, so that the stream
 * tests can check Memorizer's records exactly.
 *
 * debugfs memorizer_workload/:
 *   small (w)  "N": allocate N objects from the cache memorizer_workload,
 *              give object i (from 0) i % 7 + 1 writes from one
 *              instruction and i % 5 + 2 reads from another, free them
 *   large (w)  "N": allocate N objects from memorizer_workload_large, write
 *              each once from each of 300 instructions, free them: more
 *              access entries than one stream record carries, and more
 *              than the free path writes itself
 *   last  (r)  what the last run did: "objects N entries E writes W
 *              reads R" (entries: (instruction, task) pairs, as in a kmap)
 *
 * The module is built with KASAN instrumentation (the kernel's default
 * for modules), so its loads and stores reach Memorizer.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/kstrtox.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#define MW_MAX_OBJECTS	1000000
#define MW_LARGE_SITES	300

struct mw_object {
	u64 word[8];
};

/* A word per store: KASAN checks a repeated address only once. */
struct mw_large_object {
	u64 word[MW_LARGE_SITES];
};

static struct kmem_cache *mw_small_cache, *mw_large_cache;
static struct dentry *mw_dir;
static DEFINE_MUTEX(mw_mutex);
static u64 mw_objects, mw_entries, mw_writes, mw_reads;

/* Not inlined: the loops' instructions are this function's, once each. */
static noinline u64 mw_touch_small(struct mw_object *obj, unsigned int i)
{
	unsigned int n, writes = i % 7 + 1, reads = i % 5 + 2;
	u64 sum = 0;

	for (n = 0; n < writes; n++)
		WRITE_ONCE(obj->word[0], n);
	for (n = 0; n < reads; n++)
		sum += READ_ONCE(obj->word[1]);
	return sum;
}

/* 300 stores, each its own instruction once unrolled: 300 entries. */
static noinline void mw_touch_large(struct mw_large_object *obj)
{
	unsigned int n;

#pragma GCC unroll 300
	for (n = 0; n < MW_LARGE_SITES; n++)
		WRITE_ONCE(obj->word[n], n);
}

static int mw_run(struct kmem_cache *cache, unsigned long n, bool large)
{
	void *obj;
	unsigned long i;
	u64 sum = 0;

	mw_objects = 0;
	mw_entries = 0;
	mw_writes = 0;
	mw_reads = 0;
	for (i = 0; i < n; i++) {
		obj = kmem_cache_alloc(cache, GFP_KERNEL);
		if (!obj)
			return -ENOMEM;
		if (large) {
			mw_touch_large(obj);
			mw_entries += MW_LARGE_SITES;
			mw_writes += MW_LARGE_SITES;
		} else {
			sum += mw_touch_small(obj, i);
			mw_entries += 2;
			mw_writes += i % 7 + 1;
			mw_reads += i % 5 + 2;
		}
		kmem_cache_free(cache, obj);
		mw_objects++;
		cond_resched();
	}
	/* Keep the reads from being optimized out. */
	return sum == U64_MAX ? -EINVAL : 0;
}

static ssize_t mw_write(struct file *file, const char __user *ubuf,
			size_t count, loff_t *ppos)
{
	bool large = file->private_data == &mw_large_cache;
	unsigned long n;
	int err;

	err = kstrtoul_from_user(ubuf, count, 10, &n);
	if (err)
		return err;
	if (n == 0 || n > MW_MAX_OBJECTS)
		return -EINVAL;
	mutex_lock(&mw_mutex);
	err = mw_run(large ? mw_large_cache : mw_small_cache, n, large);
	mutex_unlock(&mw_mutex);
	return err ?: count;
}

static const struct file_operations mw_run_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = mw_write,
	.llseek = noop_llseek,
};

static int mw_last_show(struct seq_file *m, void *v)
{
	mutex_lock(&mw_mutex);
	seq_printf(m, "objects %llu entries %llu writes %llu reads %llu\n",
		   mw_objects, mw_entries, mw_writes, mw_reads);
	mutex_unlock(&mw_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mw_last);

static int __init mw_init(void)
{
	mw_small_cache = kmem_cache_create("memorizer_workload",
					   sizeof(struct mw_object), 0, 0, NULL);
	mw_large_cache = kmem_cache_create("memorizer_workload_large",
					   sizeof(struct mw_large_object), 0, 0,
					   NULL);
	if (!mw_small_cache || !mw_large_cache) {
		kmem_cache_destroy(mw_small_cache);
		kmem_cache_destroy(mw_large_cache);
		return -ENOMEM;
	}
	mw_dir = debugfs_create_dir("memorizer_workload", NULL);
	debugfs_create_file("small", 0200, mw_dir, &mw_small_cache,
			    &mw_run_fops);
	debugfs_create_file("large", 0200, mw_dir, &mw_large_cache,
			    &mw_run_fops);
	debugfs_create_file("last", 0400, mw_dir, NULL, &mw_last_fops);
	return 0;
}

static void __exit mw_exit(void)
{
	debugfs_remove(mw_dir);
	kmem_cache_destroy(mw_small_cache);
	kmem_cache_destroy(mw_large_cache);
}

module_init(mw_init);
module_exit(mw_exit);
MODULE_DESCRIPTION("Objects with known accesses for Memorizer's tests");
MODULE_LICENSE("GPL");
