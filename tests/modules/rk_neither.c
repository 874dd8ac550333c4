// SPDX-License-Identifier: GPL-2.0
/*
 * rk_neither - rkmod test fixture: neither module_init nor module_exit.
 * It only carries a constant table. modpost emits no .init/.exit in
 * __this_module, so there is no .rela.gnu.linkonce.this_module at all.
 * Such a module loads and unloads fine.
 */
#include <linux/kernel.h>
#include <linux/module.h>

static const unsigned int rk_neither_table[8] __used = {
	0x726b6d6f, 0x64000001, 2, 3, 5, 8, 13, 21,
};

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: neither init nor exit");
