// SPDX-License-Identifier: GPL-2.0
/*
 * rk_notifier_leak - rkmod test fixture for modaudit's unpaired-register:
 * init registers a netdevice notifier and exit never unregisters it. After
 * rmmod the chain still points into the freed module, and the next netdevice
 * event (a link coming up) calls freed code. Built with RK_SAFE
 * (rk_notifier_paired.c) exit unregisters it: the safe twin.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/notifier.h>

static int rk_notifier_events;

static int rk_notifier_call(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	rk_notifier_events++;
	return NOTIFY_DONE;
}

static struct notifier_block rk_notifier_nb = {
	.notifier_call = rk_notifier_call,
};

static int __init rk_notifier_init(void)
{
	return register_netdevice_notifier(&rk_notifier_nb);
}

static void __exit rk_notifier_exit(void)
{
#ifdef RK_SAFE
	unregister_netdevice_notifier(&rk_notifier_nb);
#endif
	pr_info("unloaded after %d events\n", rk_notifier_events);
}

module_init(rk_notifier_init);
module_exit(rk_notifier_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: a netdevice notifier registered and (not) unregistered");
