// SPDX-License-Identifier: GPL-2.0
/*
 * rk_basic - rkmod test fixture: init + exit, version, aliases and parameters.
 *
 * Parameters:
 *   int_param    int          (has MODULE_PARM_DESC)
 *   str_param    charp        (has MODULE_PARM_DESC, whose text contains colons)
 *   arr_param    array of int (has MODULE_PARM_DESC)
 *   nodesc_param ushort       (NO MODULE_PARM_DESC: only a parmtype= entry exists)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static int int_param = 42;
module_param(int_param, int, 0444);
MODULE_PARM_DESC(int_param, "An integer parameter");

static char *str_param = "hello";
module_param(str_param, charp, 0444);
MODULE_PARM_DESC(str_param, "A string parameter: printed at load time (default: hello)");

static int arr_param[4] = { 1, 2, 3, 4 };
static int arr_param_count = 4;
module_param_array(arr_param, int, &arr_param_count, 0444);
MODULE_PARM_DESC(arr_param, "An array of up to 4 integers");

static unsigned short nodesc_param = 7;
module_param(nodesc_param, ushort, 0644);

static int __init rk_basic_init(void)
{
	int i;

	pr_info("loaded: int_param=%d str_param=%s nodesc_param=%u arr_param_count=%d\n",
		int_param, str_param ? str_param : "(null)", nodesc_param,
		arr_param_count);
	for (i = 0; i < arr_param_count; i++)
		pr_info("arr_param[%d]=%d\n", i, arr_param[i]);
	return 0;
}

static void __exit rk_basic_exit(void)
{
	pr_info("unloaded\n");
}

module_init(rk_basic_init);
module_exit(rk_basic_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: init+exit, params, aliases");
MODULE_VERSION("1.0");
MODULE_ALIAS("rk-basic-alias");
MODULE_ALIAS("rkbasic:*");
