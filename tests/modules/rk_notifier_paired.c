// SPDX-License-Identifier: GPL-2.0
/* rk_notifier_paired - the safe twin of rk_notifier_leak: exit unregisters. */
#define RK_SAFE
#include "rk_notifier_leak.c"
