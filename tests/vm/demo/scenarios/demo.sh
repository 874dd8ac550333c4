#!/bin/sh
# demo: a short session with rkmod's tools inside the VM, printed as a transcript.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"

tool() { # NAME: ours if built, else kmod's
	if [ -x "/rk/bin/$1" ]; then echo "/rk/bin/$1"; else echo "/kmod/bin/$1"; fi
}
show() { # print the command, then run it
	printf '\n$ %s\n' "$*"
	"$@" 2>&1
	printf '[exit %s]\n' "$?"
}

echo "kernel $(uname -r); tools: $(for t in modinfo insmod lsmod rmmod modaudit; do printf '%s=%s ' "$t" "$(tool $t)"; done)"
show "$(tool modinfo)" -F name -F description -F vermagic -F sig_id vrf
show "$(tool modinfo)" -F parm "$RK_MODULES/rk_basic.ko"
[ -x /rk/bin/modaudit ] && show /rk/bin/modaudit "$RK_MODULES/rk_permanent.ko" "$RK_MODULES/rk_basic.ko"
show "$(tool insmod)" "$RK_MODULES/rk_basic.ko" int_param=7 'str_param=hello world'
show cat /sys/module/rk_basic/parameters/int_param
show "$(tool insmod)" "$RK_MODULES/rk_permanent.ko"
show "$(tool insmod)" "$RK_MODULES/rk_provider.ko"
show "$(tool insmod)" "$RK_MODULES/rk_consumer.ko"
show "$(tool lsmod)"
show "$(tool rmmod)" rk_provider
show "$(tool rmmod)" rk_permanent
show "$(tool rmmod)" rk_consumer rk_provider rk_basic
show "$(tool rmmod)" -f rk_permanent
show "$(tool lsmod)"
t_check demo-clean "no rk_ module left loaded" sh -c '! grep -q "^rk_" /proc/modules'
t_done
