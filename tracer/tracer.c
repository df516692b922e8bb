// SPDX-License-Identifier: GPL-2.0
/*
 * tracer.ko - per-process counts of kmalloc, kfree, schedule, up,
 * down_interruptible, mutex_lock and mutex_unlock, taken with kprobes.
 *
 * /dev/tracer (misc, minor 42) adds and removes monitored PIDs by ioctl;
 * /proc/tracer shows one row of counters per monitored process.
 *
 * Concurrency design.  Every probe handler runs in atomic context and, for
 * breakpoint-based probes on x86 and arm64, under nmi_enter(): lockdep
 * forbids taking any spinlock there and nothing may sleep or allocate.  So
 * the handlers take no lock at all:
 *
 * - Monitored processes live in an RCU hash table keyed by task_struct.
 *   Handlers only look entries up; entries are added and removed in process
 *   context under tracer_mutex and freed after synchronize_rcu().
 * - Counters are atomic64_t.
 * - The address -> requested size records that let kfree() credit
 *   kfree_mem are preallocated per process when it is added, and only the
 *   process itself (in its own probe handlers) ever changes them; a task
 *   runs on one CPU at a time and handlers run with interrupts off, so
 *   these records need no synchronisation.  Other code touches them only
 *   after the entry has been unlinked and an RCU grace period has passed.
 * - A task that reaches do_task_dead() marks its entry exited (which hides
 *   its row at once) and queues an irq_work, NMI-safe, which schedules the
 *   work that unlinks and frees exited entries in process context.
 *
 * Calls made in interrupt context are not counted: they borrow whatever task
 * they interrupted and are not that process's work.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/hash.h>
#include <linux/hashtable.h>
#include <linux/irq_work.h>
#include <linux/kprobes.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/threads.h>
#include <linux/workqueue.h>

#include "tracer.h"

#define TRACER_MAXACTIVE_LIMIT	4096
#define TRACER_RECORDS_LIMIT	(1024U * 1024U)
/* From disarming the probes to unregistering them, see there. */
#define TRACER_DISARM_GRACE_MS	100

static unsigned int maxactive = 128;
module_param(maxactive, uint, 0444);
MODULE_PARM_DESC(maxactive,
		 "kmalloc calls of monitored tasks in flight at once per kmalloc entry point, plus one per CPU (1-4096, default 128)");

static unsigned int max_records = 4096;
module_param(max_records, uint, 0444);
MODULE_PARM_DESC(max_records,
		 "outstanding kmalloc blocks remembered per monitored process (1-1048576, default 4096)");

/* The order of the columns of /proc/tracer. */
enum tracer_counter {
	TRACER_KMALLOC,
	TRACER_KFREE,
	TRACER_KMALLOC_MEM,
	TRACER_KFREE_MEM,
	TRACER_SCHED,
	TRACER_UP,
	TRACER_DOWN,
	TRACER_LOCK,
	TRACER_UNLOCK,
	TRACER_NR_COUNTERS,
};

/* One block a process got from kmalloc and has not freed yet. */
struct tracer_record {
	struct hlist_node node;	/* in a bucket, or in the free list */
	unsigned long addr;
	size_t size;
};

struct tracer_proc {
	struct hlist_node hnode;	/* tracer_procs, keyed by task */
	struct list_head lnode;		/* tracer_proc_list, in order added */
	struct list_head dead_node;	/* private list while being freed */
	struct task_struct *task;	/* reference held */
	pid_t pid;			/* as given to TRACER_ADD_PROCESS */
	bool exited;			/* set once at do_task_dead() */
	atomic64_t counters[TRACER_NR_COUNTERS];
	atomic_long_t records_dropped;	/* records lost to a full table */
	/* Changed only by the task itself; see the comment at the top. */
	unsigned int bucket_bits;
	struct hlist_head *buckets;
	struct hlist_head free_records;
	struct tracer_record *records;
};

static DEFINE_MUTEX(tracer_mutex);	/* serialises table changes */
static DEFINE_HASHTABLE(tracer_procs, 7);
static LIST_HEAD(tracer_proc_list);
/* Records dropped by processes that are no longer monitored. */
static atomic_long_t tracer_records_dropped_gone;

static void tracer_reap(struct work_struct *work);
static DECLARE_WORK(tracer_reap_work, tracer_reap);

static void tracer_reap_kick(struct irq_work *work)
{
	schedule_work(&tracer_reap_work);
}

static DEFINE_IRQ_WORK(tracer_reap_irq_work, tracer_reap_kick);

/*
 * Whether the probed call was made in task context.  Breakpoint-based probe
 * handlers run under nmi_enter() on x86 and arm64, which adds one NMI and
 * one hardirq level on top of the probed code's count; jump-optimized probes
 * and return handlers add nothing.  None of the probed functions may be
 * called from a real NMI, so an NMI level always comes from the breakpoint.
 */
static bool tracer_probed_in_task(void)
{
	unsigned long count = preempt_count();

	if (count & NMI_MASK)
		count -= NMI_OFFSET + HARDIRQ_OFFSET;
	return !(count & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET));
}

/* Caller holds rcu_read_lock() or tracer_mutex. */
static struct tracer_proc *tracer_find(const struct task_struct *task)
{
	struct tracer_proc *proc;

	hash_for_each_possible_rcu(tracer_procs, proc, hnode,
				   (unsigned long)task,
				   lockdep_is_held(&tracer_mutex))
		if (proc->task == task)
			return proc;
	return NULL;
}

/*
 * The entry of the current task if it is monitored and the probed call was
 * made in task context.  Caller holds rcu_read_lock().
 */
static struct tracer_proc *tracer_current_proc(void)
{
	struct tracer_proc *proc;

	if (!tracer_probed_in_task())
		return NULL;
	proc = tracer_find(current);
	if (proc && READ_ONCE(proc->exited))
		return NULL;
	return proc;
}

static void tracer_count(struct tracer_proc *proc, enum tracer_counter counter,
			 s64 amount)
{
	atomic64_add(amount, &proc->counters[counter]);
}

static struct hlist_head *tracer_bucket(struct tracer_proc *proc,
					unsigned long addr)
{
	return &proc->buckets[hash_long(addr, proc->bucket_bits)];
}

static struct tracer_record *tracer_record_find(struct tracer_proc *proc,
						unsigned long addr)
{
	struct tracer_record *rec;

	hlist_for_each_entry(rec, tracer_bucket(proc, addr), node)
		if (rec->addr == addr)
			return rec;
	return NULL;
}

/* Called only by the task of @proc, with interrupts off. */
static void tracer_record_alloc(struct tracer_proc *proc, unsigned long addr,
				size_t size)
{
	struct tracer_record *rec = tracer_record_find(proc, addr);

	/*
	 * An existing record for this address is stale: the block was freed
	 * where we do not look (by another task or an interrupt) and the
	 * allocator handed it out again.
	 */
	if (!rec) {
		rec = hlist_entry_safe(proc->free_records.first,
				       struct tracer_record, node);
		if (!rec) {
			atomic_long_inc(&proc->records_dropped);
			return;
		}
		hlist_del(&rec->node);
		rec->addr = addr;
		hlist_add_head(&rec->node, tracer_bucket(proc, addr));
	}
	rec->size = size;
}

/*
 * Forget the block at @addr; return the size recorded for it, or 0 if the
 * process did not allocate it.  Called only by the task of @proc, with
 * interrupts off.
 */
static size_t tracer_record_free(struct tracer_proc *proc, unsigned long addr)
{
	struct tracer_record *rec = tracer_record_find(proc, addr);

	if (!rec)
		return 0;
	hlist_del(&rec->node);
	hlist_add_head(&rec->node, &proc->free_records);
	return rec->size;
}

/*
 * A kprobe with a post handler is never jump-optimized, so its handler
 * always runs from the breakpoint with interrupts off, and registering and
 * unregistering only ever patch one breakpoint byte.  Optimized probes run
 * with interrupts on around the handler, and unregistering one while it is
 * hit hundreds of times a second (schedule) has been seen to leave a
 * breakpoint with no kprobe behind it ("Oops: int3") in the guest.
 * kretprobes cannot have a post handler, so each gets a "pin": a kprobe at
 * the same address with one, which turns the pair into an aggregate probe
 * that has a post handler and so is not optimized either.
 */
static void tracer_no_post(struct kprobe *kp, struct pt_regs *regs,
			   unsigned long flags)
{
}

/* kmalloc: kretprobes, to pair the returned address with the size. */

struct tracer_kmalloc_probe {
	struct kretprobe rp;
	struct kprobe pin;	/* keeps rp a breakpoint, see tracer_no_post() */
	/* Names this entry point had over time, newest first, NULL-ended. */
	const char *const *symbols;
	unsigned int size_arg;	/* which argument is the size, from 0 */
};

struct tracer_kmalloc_call {
	size_t size;
};

static int tracer_kmalloc_entry(struct kretprobe_instance *ri,
				struct pt_regs *regs)
{
	struct tracer_kmalloc_probe *probe =
		container_of(get_kretprobe(ri), struct tracer_kmalloc_probe, rp);
	struct tracer_kmalloc_call *call = (void *)ri->data;
	unsigned long flags;
	bool monitored;

	local_irq_save(flags);
	rcu_read_lock();
	monitored = tracer_current_proc();
	rcu_read_unlock();
	local_irq_restore(flags);

	/* Non-zero: do not hold an instance until this call returns. */
	if (!monitored)
		return 1;
	call->size = regs_get_kernel_argument(regs, probe->size_arg);
	return 0;
}

static int tracer_kmalloc_return(struct kretprobe_instance *ri,
				 struct pt_regs *regs)
{
	const struct tracer_kmalloc_call *call = (void *)ri->data;
	void *addr = (void *)regs_return_value(regs);
	struct tracer_proc *proc;
	unsigned long flags;

	local_irq_save(flags);
	rcu_read_lock();
	proc = tracer_current_proc();
	if (proc) {
		tracer_count(proc, TRACER_KMALLOC, 1);
		/* A failed call allocated nothing; kmalloc(0) allocates 0. */
		if (addr)
			tracer_count(proc, TRACER_KMALLOC_MEM, call->size);
		if (!ZERO_OR_NULL_PTR(addr))
			tracer_record_alloc(proc, (unsigned long)addr,
					    call->size);
	}
	rcu_read_unlock();
	local_irq_restore(flags);
	return 0;
}

/*
 * What kmalloc() inlines to: a size not known at compile time, a constant
 * size served by a kmalloc cache, and a constant size above the largest
 * cache.  kmalloc_node(), kmalloc_track_caller() (kstrdup, kmemdup) and
 * kvmalloc() are other interfaces and are not counted.
 *
 * These names cover Linux 6.1 on, where none of the three calls another.
 * Older kernels have none of the cache names, so loading fails there
 * rather than count wrongly (6.0's __kmalloc() also reaches its large
 * entry point and would count large blocks twice).
 */
static const char *const tracer_kmalloc_var_symbols[] = {
	"__kmalloc_noprof",		/* 6.10 on */
	"__kmalloc",			/* 6.1 - 6.9 */
	NULL
};

static const char *const tracer_kmalloc_cache_symbols[] = {
	"__kmalloc_cache_noprof",	/* 6.11 on */
	"kmalloc_trace_noprof",		/* 6.10 */
	"kmalloc_trace",		/* 6.1 - 6.9 */
	NULL
};

static const char *const tracer_kmalloc_large_symbols[] = {
	"__kmalloc_large_noprof",	/* 6.11 on */
	"kmalloc_large_noprof",		/* 6.10 */
	"kmalloc_large",		/* 6.1 - 6.9 */
	NULL
};

static struct tracer_kmalloc_probe tracer_kmalloc_probes[] = {
	/* void *__kmalloc_noprof(size_t size, gfp_t flags) */
	{ .symbols = tracer_kmalloc_var_symbols, .size_arg = 0 },
	/* void *__kmalloc_cache_noprof(struct kmem_cache *, gfp_t, size_t) */
	{ .symbols = tracer_kmalloc_cache_symbols, .size_arg = 2 },
	/* void *__kmalloc_large_noprof(size_t size, gfp_t flags) */
	{ .symbols = tracer_kmalloc_large_symbols, .size_arg = 0 },
};

/* Everything else: plain kprobes, which hold nothing across the call. */

struct tracer_count_probe {
	struct kprobe kp;
	enum tracer_counter counter;
};

static int tracer_count_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct tracer_count_probe *probe =
		container_of(kp, struct tracer_count_probe, kp);
	struct tracer_proc *proc;
	unsigned long flags;

	local_irq_save(flags);
	rcu_read_lock();
	proc = tracer_current_proc();
	if (proc)
		tracer_count(proc, probe->counter, 1);
	rcu_read_unlock();
	local_irq_restore(flags);
	return 0;
}

/* void kfree(const void *objp) */
static int tracer_kfree_pre(struct kprobe *kp, struct pt_regs *regs)
{
	unsigned long addr = regs_get_kernel_argument(regs, 0);
	struct tracer_proc *proc;
	unsigned long flags;

	local_irq_save(flags);
	rcu_read_lock();
	proc = tracer_current_proc();
	if (proc) {
		tracer_count(proc, TRACER_KFREE, 1);
		if (!ZERO_OR_NULL_PTR((void *)addr))
			tracer_count(proc, TRACER_KFREE_MEM,
				     tracer_record_free(proc, addr));
	}
	rcu_read_unlock();
	local_irq_restore(flags);
	return 0;
}

/*
 * do_task_dead(): the task will never run again.  Hide its row now; the
 * entry is unlinked and freed from a work item.
 */
static int tracer_exit_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct tracer_proc *proc;

	/*
	 * Pairs with smp_mb() in tracer_add(): either this lookup sees the
	 * new entry, or tracer_add() sees our exit_state, set earlier in
	 * exit_notify().
	 */
	smp_mb();
	rcu_read_lock();
	proc = tracer_find(current);
	if (proc && !READ_ONCE(proc->exited)) {
		WRITE_ONCE(proc->exited, true);
		irq_work_queue(&tracer_reap_irq_work);
	}
	rcu_read_unlock();
	return 0;
}

#ifdef CONFIG_DEBUG_LOCK_ALLOC
#define TRACER_MUTEX_LOCK_SYMBOL "mutex_lock_nested"
#else
#define TRACER_MUTEX_LOCK_SYMBOL "mutex_lock"
#endif

#define TRACER_COUNT_PROBE(sym, cnt, pre)				\
	{ .kp = { .symbol_name = (sym), .pre_handler = (pre),		\
		  .post_handler = tracer_no_post },			\
	  .counter = (cnt) }

static struct tracer_count_probe tracer_count_probes[] = {
	TRACER_COUNT_PROBE("kfree", TRACER_KFREE, tracer_kfree_pre),
	TRACER_COUNT_PROBE("schedule", TRACER_SCHED, tracer_count_pre),
	TRACER_COUNT_PROBE("up", TRACER_UP, tracer_count_pre),
	TRACER_COUNT_PROBE("down_interruptible", TRACER_DOWN, tracer_count_pre),
	TRACER_COUNT_PROBE(TRACER_MUTEX_LOCK_SYMBOL, TRACER_LOCK,
			   tracer_count_pre),
	TRACER_COUNT_PROBE("mutex_unlock", TRACER_UNLOCK, tracer_count_pre),
};

static struct kprobe tracer_exit_probe = {
	.symbol_name = "do_task_dead",
	.pre_handler = tracer_exit_pre,
	.post_handler = tracer_no_post,
};

/* Monitored process table. */

static struct tracer_proc *tracer_proc_alloc(struct task_struct *task,
					     pid_t pid)
{
	struct tracer_proc *proc;
	unsigned int i;

	proc = kzalloc(sizeof(*proc), GFP_KERNEL);
	if (!proc)
		return NULL;
	/* About two records per bucket when the table is full. */
	proc->bucket_bits = max(1, ilog2(roundup_pow_of_two(max_records)) - 1);
	proc->buckets = kvcalloc(1U << proc->bucket_bits,
				 sizeof(*proc->buckets), GFP_KERNEL);
	proc->records = kvcalloc(max_records, sizeof(*proc->records),
				 GFP_KERNEL);
	if (!proc->buckets || !proc->records) {
		kvfree(proc->buckets);
		kvfree(proc->records);
		kfree(proc);
		return NULL;
	}
	for (i = 0; i < max_records; i++)
		hlist_add_head(&proc->records[i].node, &proc->free_records);
	proc->task = task;
	proc->pid = pid;
	return proc;
}

/* Takes over the task reference given to tracer_proc_alloc(). */
static void tracer_proc_free(struct tracer_proc *proc)
{
	atomic_long_add(atomic_long_read(&proc->records_dropped),
			&tracer_records_dropped_gone);
	put_task_struct(proc->task);
	kvfree(proc->buckets);
	kvfree(proc->records);
	kfree(proc);
}

static void tracer_unlink(struct tracer_proc *proc, struct list_head *dead)
{
	lockdep_assert_held(&tracer_mutex);
	hash_del_rcu(&proc->hnode);
	list_del_rcu(&proc->lnode);
	list_add_tail(&proc->dead_node, dead);
}

/* Free entries unlinked by tracer_unlink(), once no handler can see them. */
static void tracer_free_unlinked(struct list_head *dead)
{
	struct tracer_proc *proc, *next;

	if (list_empty(dead))
		return;
	synchronize_rcu();
	list_for_each_entry_safe(proc, next, dead, dead_node)
		tracer_proc_free(proc);
}

static void tracer_reap(struct work_struct *work)
{
	struct tracer_proc *proc, *next;
	LIST_HEAD(dead);

	mutex_lock(&tracer_mutex);
	list_for_each_entry_safe(proc, next, &tracer_proc_list, lnode)
		if (READ_ONCE(proc->exited))
			tracer_unlink(proc, &dead);
	mutex_unlock(&tracer_mutex);
	tracer_free_unlinked(&dead);
}

/* The task with PID @nr in the caller's namespace, with a reference. */
static struct task_struct *tracer_get_task(pid_t nr)
{
	struct task_struct *task;
	struct pid *pid;

	pid = find_get_pid(nr);
	if (!pid)
		return NULL;
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	return task;
}

static int tracer_add(pid_t nr)
{
	struct task_struct *task;
	struct tracer_proc *proc;
	LIST_HEAD(dead);
	int err = 0;

	task = tracer_get_task(nr);
	if (!task)
		return -ESRCH;
	proc = tracer_proc_alloc(task, nr);
	if (!proc) {
		put_task_struct(task);
		return -ENOMEM;
	}

	mutex_lock(&tracer_mutex);
	if (tracer_find(task)) {
		err = -EEXIST;
		goto unlock;
	}
	hash_add_rcu(tracer_procs, &proc->hnode, (unsigned long)task);
	list_add_tail_rcu(&proc->lnode, &tracer_proc_list);
	/*
	 * Pairs with smp_mb() in tracer_exit_pre(): a task that got past
	 * exit_notify() may have looked for its entry before it was there,
	 * so it would never be removed.  Such a task is a zombie or dead:
	 * there is nothing left to monitor.
	 */
	smp_mb();
	if (READ_ONCE(task->exit_state)) {
		tracer_unlink(proc, &dead);
		err = -ESRCH;
	}
unlock:
	mutex_unlock(&tracer_mutex);
	if (err == -EEXIST)
		tracer_proc_free(proc);
	tracer_free_unlinked(&dead);
	return err;
}

static int tracer_remove(pid_t nr)
{
	struct task_struct *task;
	struct tracer_proc *proc;
	LIST_HEAD(dead);
	int err = 0;

	task = tracer_get_task(nr);
	if (!task)
		return -ESRCH;

	mutex_lock(&tracer_mutex);
	proc = tracer_find(task);
	if (proc && !READ_ONCE(proc->exited))
		tracer_unlink(proc, &dead);
	else
		err = -ENOENT;
	mutex_unlock(&tracer_mutex);

	put_task_struct(task);
	tracer_free_unlinked(&dead);
	return err;
}

/*
 * Errors: -ENOTTY for an unknown request, -EINVAL for a PID outside
 * 1..PID_MAX_LIMIT, -ESRCH if no such process exists (or it is exiting),
 * -EEXIST when adding a process that is already monitored (its row is kept
 * as it is), -ENOENT when removing one that is not monitored.
 */
static long tracer_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	if (cmd != TRACER_ADD_PROCESS && cmd != TRACER_REMOVE_PROCESS)
		return -ENOTTY;
	if (arg == 0 || arg > PID_MAX_LIMIT)
		return -EINVAL;
	if (cmd == TRACER_ADD_PROCESS)
		return tracer_add(arg);
	return tracer_remove(arg);
}

static const struct file_operations tracer_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= tracer_ioctl,
	/* The argument is a PID by value, not a pointer. */
	.compat_ioctl	= tracer_ioctl,
};

static struct miscdevice tracer_dev = {
	.minor	= TRACER_DEV_MINOR,
	.name	= TRACER_DEV_NAME,
	.fops	= &tracer_dev_fops,
	.mode	= 0600,
};

static int tracer_proc_show(struct seq_file *m, void *v)
{
	struct tracer_proc *proc;
	s64 c[TRACER_NR_COUNTERS];
	int i;

	seq_puts(m, "PID   kmalloc kfree kmalloc_mem kfree_mem  sched   up     down  lock   unlock\n");
	rcu_read_lock();
	list_for_each_entry_rcu(proc, &tracer_proc_list, lnode) {
		if (READ_ONCE(proc->exited))
			continue;
		for (i = 0; i < TRACER_NR_COUNTERS; i++)
			c[i] = atomic64_read(&proc->counters[i]);
		seq_printf(m, "%-5d %-7lld %-5lld %-11lld %-10lld %-7lld %-6lld %-5lld %-6lld %lld\n",
			   proc->pid, c[TRACER_KMALLOC], c[TRACER_KFREE],
			   c[TRACER_KMALLOC_MEM], c[TRACER_KFREE_MEM],
			   c[TRACER_SCHED], c[TRACER_UP], c[TRACER_DOWN],
			   c[TRACER_LOCK], c[TRACER_UNLOCK]);
	}
	rcu_read_unlock();
	return 0;
}

/*
 * debugfs tracer/stats, "key value" lines:
 *
 * missed SYMBOL N   hits of a kmalloc entry point that found no free
 *                   kretprobe instance (maxactive too small): a monitored
 *                   process may have lost a count.  Always 0 for plain
 *                   kprobes, which need no instance.
 * nested SYMBOL N   hits the kprobes core dropped because another kprobe
 *                   handler was running on that CPU.  Handlers run with
 *                   preemption off and call no probed function, so these
 *                   are interrupts that arrived around a handler: never
 *                   task context, never counted by the tracer anyway.
 * records_dropped N kmalloc blocks not remembered because a process's
 *                   record table was full (their kfree adds nothing to
 *                   kfree_mem)
 * monitored N       processes with a row in /proc/tracer
 */
static int tracer_stats_show(struct seq_file *m, void *v)
{
	long dropped = atomic_long_read(&tracer_records_dropped_gone);
	struct tracer_proc *proc;
	unsigned int monitored = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(tracer_kmalloc_probes); i++) {
		struct kretprobe *rp = &tracer_kmalloc_probes[i].rp;

		seq_printf(m, "missed %s %d\n", rp->kp.symbol_name,
			   rp->nmissed);
		seq_printf(m, "nested %s %lu\n", rp->kp.symbol_name,
			   rp->kp.nmissed);
	}
	for (i = 0; i < ARRAY_SIZE(tracer_count_probes); i++) {
		struct kprobe *kp = &tracer_count_probes[i].kp;

		seq_printf(m, "missed %s 0\n", kp->symbol_name);
		seq_printf(m, "nested %s %lu\n", kp->symbol_name, kp->nmissed);
	}
	seq_printf(m, "missed %s 0\n", tracer_exit_probe.symbol_name);
	seq_printf(m, "nested %s %lu\n", tracer_exit_probe.symbol_name,
		   tracer_exit_probe.nmissed);

	rcu_read_lock();
	list_for_each_entry_rcu(proc, &tracer_proc_list, lnode) {
		dropped += atomic_long_read(&proc->records_dropped);
		if (!READ_ONCE(proc->exited))
			monitored++;
	}
	rcu_read_unlock();
	seq_printf(m, "records_dropped %ld\n", dropped);
	seq_printf(m, "monitored %u\n", monitored);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(tracer_stats);

static struct proc_dir_entry *tracer_proc_entry;
static struct dentry *tracer_debugfs;

static int tracer_register_kmalloc(struct tracer_kmalloc_probe *probe)
{
	const char *const *sym;
	int err = -ENOENT;

	for (sym = probe->symbols; *sym; sym++) {
		probe->pin = (struct kprobe) {
			.symbol_name	= *sym,
			.post_handler	= tracer_no_post,
		};
		err = register_kprobe(&probe->pin);
		if (err == -ENOENT)
			continue;
		if (err)
			break;
		probe->rp = (struct kretprobe) {
			.kp.symbol_name	= *sym,
			.entry_handler	= tracer_kmalloc_entry,
			.handler	= tracer_kmalloc_return,
			.data_size	= sizeof(struct tracer_kmalloc_call),
			.maxactive	= maxactive,
		};
		err = register_kretprobe(&probe->rp);
		if (err)
			unregister_kprobe(&probe->pin);
		break;
	}
	if (err)
		pr_err("cannot probe %s (or its older names): %d\n",
		       probe->symbols[0], err);
	return err;
}

static void tracer_unregister_kmalloc(struct tracer_kmalloc_probe *probe)
{
	unregister_kretprobe(&probe->rp);
	unregister_kprobe(&probe->pin);
}

static void tracer_unregister_probes(void)
{
	struct kprobe *kps[ARRAY_SIZE(tracer_count_probes) +
			   ARRAY_SIZE(tracer_kmalloc_probes) + 1];
	struct kretprobe *rps[ARRAY_SIZE(tracer_kmalloc_probes)];
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(tracer_count_probes); i++)
		kps[n++] = &tracer_count_probes[i].kp;
	kps[n++] = &tracer_exit_probe;
	for (i = 0; i < ARRAY_SIZE(rps); i++) {
		rps[i] = &tracer_kmalloc_probes[i].rp;
		kps[n++] = &tracer_kmalloc_probes[i].pin;
	}
	/*
	 * Disarm everything first and unregister only later: a CPU that
	 * still executes a just-removed breakpoint then finds its (disabled)
	 * kprobe and goes on, where after unregistering it would be an
	 * unknown int3 and an oops.  Seen in the guest under QEMU TCG, on
	 * the very CPU that had just removed the breakpoint.
	 */
	for (i = 0; i < n; i++)
		disable_kprobe(kps[i]);
	for (i = 0; i < ARRAY_SIZE(rps); i++)
		disable_kretprobe(rps[i]);
	synchronize_rcu();
	msleep(TRACER_DISARM_GRACE_MS);

	/* Both wait until no handler runs any more; pins go last. */
	unregister_kretprobes(rps, ARRAY_SIZE(rps));
	unregister_kprobes(kps, n);
}

static int tracer_register_probes(void)
{
	struct kprobe *kps[ARRAY_SIZE(tracer_count_probes) + 1];
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(tracer_kmalloc_probes); i++) {
		err = tracer_register_kmalloc(&tracer_kmalloc_probes[i]);
		if (err)
			goto unregister_kmalloc;
	}
	for (i = 0; i < ARRAY_SIZE(tracer_count_probes); i++)
		kps[i] = &tracer_count_probes[i].kp;
	kps[i] = &tracer_exit_probe;
	err = register_kprobes(kps, ARRAY_SIZE(kps));
	if (err) {
		pr_err("cannot register kprobes: %d\n", err);
		i = ARRAY_SIZE(tracer_kmalloc_probes);
		goto unregister_kmalloc;
	}
	return 0;

unregister_kmalloc:
	while (i--)
		tracer_unregister_kmalloc(&tracer_kmalloc_probes[i]);
	return err;
}

/* Module unload: no handler, ioctl, reader or reap work is left. */
static void tracer_free_all(void)
{
	struct tracer_proc *proc, *next;

	mutex_lock(&tracer_mutex);
	list_for_each_entry_safe(proc, next, &tracer_proc_list, lnode) {
		hash_del(&proc->hnode);
		list_del(&proc->lnode);
		tracer_proc_free(proc);
	}
	mutex_unlock(&tracer_mutex);
}

static int __init tracer_init(void)
{
	int err;

	if (!maxactive || maxactive > TRACER_MAXACTIVE_LIMIT) {
		pr_err("maxactive=%u: must be 1-%u\n", maxactive,
		       TRACER_MAXACTIVE_LIMIT);
		return -EINVAL;
	}
	if (!max_records || max_records > TRACER_RECORDS_LIMIT) {
		pr_err("max_records=%u: must be 1-%u\n", max_records,
		       TRACER_RECORDS_LIMIT);
		return -EINVAL;
	}

	err = tracer_register_probes();
	if (err)
		return err;

	tracer_proc_entry = proc_create_single("tracer", 0444, NULL,
					       tracer_proc_show);
	if (!tracer_proc_entry) {
		err = -ENOMEM;
		goto unregister_probes;
	}
	err = misc_register(&tracer_dev);
	if (err) {
		pr_err("cannot register /dev/%s (minor %d): %d\n",
		       TRACER_DEV_NAME, TRACER_DEV_MINOR, err);
		goto remove_proc;
	}
	tracer_debugfs = debugfs_create_dir("tracer", NULL);
	debugfs_create_file("stats", 0444, tracer_debugfs, NULL,
			    &tracer_stats_fops);

	pr_info("probing %s, %s, %s, maxactive=%u, max_records=%u\n",
		tracer_kmalloc_probes[0].rp.kp.symbol_name,
		tracer_kmalloc_probes[1].rp.kp.symbol_name,
		tracer_kmalloc_probes[2].rp.kp.symbol_name,
		maxactive, max_records);
	return 0;

remove_proc:
	proc_remove(tracer_proc_entry);
unregister_probes:
	tracer_unregister_probes();
	return err;
}

static void __exit tracer_exit(void)
{
	debugfs_remove(tracer_debugfs);
	misc_deregister(&tracer_dev);
	proc_remove(tracer_proc_entry);
	tracer_unregister_probes();
	/* A task may have exited just before the probes went away. */
	irq_work_sync(&tracer_reap_irq_work);
	flush_work(&tracer_reap_work);
	tracer_free_all();
}

module_init(tracer_init);
module_exit(tracer_exit);

MODULE_DESCRIPTION("kprobe-based per-process kernel operations tracer");
MODULE_AUTHOR("Memorizer project");
MODULE_LICENSE("GPL");
