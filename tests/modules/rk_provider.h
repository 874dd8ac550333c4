/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RK_PROVIDER_H
#define RK_PROVIDER_H

int rk_provider_value(void);

#endif
