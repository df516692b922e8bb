// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe_cycle.ko: the smallest possible kprobe user, for telling
 * tracer.ko's bugs from the platform's.
 *
 * Loading registers one plain kprobe, with an empty handler that only
 * counts, on each function named in symbols= (default: kfree, schedule
 * and __kmalloc_cache_noprof, where tracer.ko's unload crashed under
 * multi-threaded TCG); unloading unregisters them.  Nothing else: no
 * state shared with the handler but an atomic counter, no optimization
 * choices, no delays.  If insmod/rmmod cycles of this module crash the
 * same way, the crash is not tracer.ko's (see Documentation/tracer.rst
 * and tests/guest/kprobe-cycle.bats).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/module.h>

#define KPROBE_CYCLE_MAX	4

static char *symbols[KPROBE_CYCLE_MAX] = {
	"kfree", "schedule", "__kmalloc_cache_noprof",
};

static int nr_symbols = 3;
module_param_array(symbols, charp, &nr_symbols, 0444);
MODULE_PARM_DESC(symbols, "functions to probe (at most 4)");

static struct kprobe probes[KPROBE_CYCLE_MAX];
static atomic_long_t hits;

static int kprobe_cycle_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_long_inc(&hits);
	return 0;
}

static int __init kprobe_cycle_init(void)
{
	int i, ret;

	for (i = 0; i < nr_symbols; i++) {
		probes[i].symbol_name = symbols[i];
		probes[i].pre_handler = kprobe_cycle_pre;
		ret = register_kprobe(&probes[i]);
		if (ret) {
			pr_err("cannot probe %s: %d\n", symbols[i], ret);
			while (--i >= 0)
				unregister_kprobe(&probes[i]);
			return ret;
		}
	}
	return 0;
}

static void __exit kprobe_cycle_exit(void)
{
	int i;

	for (i = 0; i < nr_symbols; i++)
		unregister_kprobe(&probes[i]);
	pr_debug("%ld hits\n", atomic_long_read(&hits));
}

module_init(kprobe_cycle_init);
module_exit(kprobe_cycle_exit);
MODULE_DESCRIPTION("Minimal kprobe load/unload cycle, a control for tracer.ko");
MODULE_LICENSE("GPL");
