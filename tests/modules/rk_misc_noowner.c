// SPDX-License-Identifier: GPL-2.0
/*
 * rk_misc_noowner - rkmod test fixture for modaudit's ownerless-fops: the misc
 * device /dev/rk_misc_noowner whose file_operations has NO .owner. Opening it
 * takes no module reference (refcnt stays 0), so rmmod succeeds while it is
 * open, and the next read runs freed code. Its safe twin is rk_chardev.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static const char rk_misc_msg[] = "rk_misc_noowner\n";

static ssize_t rk_misc_read(struct file *file, char __user *buf, size_t count,
			    loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, rk_misc_msg,
				       sizeof(rk_misc_msg) - 1);
}

static const struct file_operations rk_misc_fops = {
	/* no .owner = THIS_MODULE: the hazard */
	.read	= rk_misc_read,
	.llseek	= default_llseek,
};

static struct miscdevice rk_misc_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "rk_misc_noowner",
	.fops	= &rk_misc_fops,
	.mode	= 0444,
};

static int __init rk_misc_init(void)
{
	return misc_register(&rk_misc_dev);
}

static void __exit rk_misc_exit(void)
{
	misc_deregister(&rk_misc_dev);
}

module_init(rk_misc_init);
module_exit(rk_misc_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: misc device whose file_operations has no owner");
