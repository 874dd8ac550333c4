#!/bin/sh
# permanent: a module with an init function but no exit function cannot be removed
# (delete_module gives EBUSY) unless forced; /proc/modules marks it "[permanent],".
# Then the other init/exit combinations of our fixtures, which are all removable.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done

t_run insmod 0 -- "$INSMOD" "$RK_MODULES/rk_permanent.ko"
t_proc_has rk_permanent '^rk_permanent [0-9]+ 0 \[permanent\], Live '
t_expect_file refcnt /sys/module/rk_permanent/refcnt 0

t_run rmmod-refused 1 -- "$RMMOD" rk_permanent
t_expect_contains rmmod-ebusy stderr "Device or resource busy"
t_proc_has rk_permanent '' still-loaded

# Debian kernels have CONFIG_MODULE_FORCE_UNLOAD=y: delete_module(O_TRUNC) frees it without
# calling any exit function and taints the kernel with R (bit 3).
if [ "$(t_kconfig CONFIG_MODULE_FORCE_UNLOAD)" = y ]; then
	t_run rmmod-force 0 -- "$RMMOD" -f rk_permanent
	t_proc_lacks rk_permanent
	t_check taint-R "kernel.tainted has bit 3 (forced rmmod)" \
		test $(($(cat /proc/sys/kernel/tainted) & 8)) -ne 0
else
	t_skip rmmod-force "CONFIG_MODULE_FORCE_UNLOAD is not set"
fi

# NAME EXPECTED-DEPS-FIELD: what /proc/modules shows and whether plain rmmod works.
for spec in rk_exitonly:- rk_neither:- rk_legacy:- rk_legacy_safe:- rk_legacy_force:'\[permanent\],'; do
	m=${spec%%:*} deps=${spec#*:}
	t_run "$m-insmod" 0 -- "$INSMOD" "$RK_MODULES/$m.ko" || continue
	t_proc_has "$m" "^$m [0-9]+ 0 $deps Live " "$m-proc"
	if [ "$deps" = - ]; then
		t_run "$m-rmmod" 0 -- "$RMMOD" "$m"
		t_proc_lacks "$m" "$m-gone"
	else
		t_run "$m-rmmod-refused" 1 -- "$RMMOD" "$m"
		t_run "$m-rmmod-force" 0 -- "$RMMOD" -f "$m"
		t_proc_lacks "$m" "$m-gone"
	fi
done
t_done
