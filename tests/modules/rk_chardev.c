// SPDX-License-Identifier: GPL-2.0
/*
 * rk_chardev - rkmod test fixture: registers the misc device /dev/rk_chardev.
 * Its file_operations has .owner = THIS_MODULE, so every open file descriptor
 * holds a module reference (refcnt > 0) and rmmod fails with EBUSY until it
 * is closed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static const char rk_chardev_msg[] = "rk_chardev\n";

static ssize_t rk_chardev_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, rk_chardev_msg,
				       sizeof(rk_chardev_msg) - 1);
}

static const struct file_operations rk_chardev_fops = {
	.owner	= THIS_MODULE,
	.read	= rk_chardev_read,
	.llseek	= default_llseek,
};

static struct miscdevice rk_chardev_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "rk_chardev",
	.fops	= &rk_chardev_fops,
	.mode	= 0444,
};

static int __init rk_chardev_init(void)
{
	int ret = misc_register(&rk_chardev_dev);

	if (ret)
		pr_err("misc_register failed: %d\n", ret);
	else
		pr_info("loaded: /dev/%s\n", rk_chardev_dev.name);
	return ret;
}

static void __exit rk_chardev_exit(void)
{
	misc_deregister(&rk_chardev_dev);
	pr_info("unloaded\n");
}

module_init(rk_chardev_init);
module_exit(rk_chardev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: misc device /dev/rk_chardev holding a module reference while open");
