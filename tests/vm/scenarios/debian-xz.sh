#!/bin/sh
# debian-xz: Debian ships 6.12's modules as .ko.xz. Load some (with their dependencies, in
# modules.dep order) straight from the compressed files and remove them again.
# kmod 30 decompresses in user space and calls init_module(2); a kernel built with
# CONFIG_MODULE_DECOMPRESS could do it itself (finit_module + MODULE_INIT_COMPRESSED_FILE)
# and says which format it takes in /sys/module/compression.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done

case $(t_kconfig CONFIG_MODULE_DECOMPRESS) in
y)
	want=
	[ "$(t_kconfig CONFIG_MODULE_COMPRESS_XZ)" = y ] && want=xz
	[ "$(t_kconfig CONFIG_MODULE_COMPRESS_GZIP)" = y ] && want=gzip
	[ "$(t_kconfig CONFIG_MODULE_COMPRESS_ZSTD)" = y ] && want=zstd
	t_expect_file sys-module-compression /sys/module/compression "$want"
	;;
*)
	t_check no-sys-module-compression "CONFIG_MODULE_DECOMPRESS unset: no /sys/module/compression" \
		test ! -e /sys/module/compression
	;;
esac

dummy=$(t_modpath dummy)
case $dummy in
*.ko.xz) ;;
*)
	t_skip xz-modules "this kernel's modules are not .ko.xz ($dummy)"
	t_done
	;;
esac

t_run dummy-insmod 0 -- "$INSMOD" "$dummy" numdummies=2
t_proc_has dummy '^dummy [0-9]+ 0 - Live '
t_expect_file dummy-initstate /sys/module/dummy/initstate live
t_check dummy-netdevs "numdummies=2 made dummy0 and dummy1" test -e /sys/class/net/dummy1
t_run dummy-rmmod 0 -- "$RMMOD" dummy
t_proc_lacks dummy

# bridge needs stp and llc: load them first, as modprobe would.
for m in llc stp bridge; do
	t_run "$m-insmod" 0 -- "$INSMOD" "$(t_modpath "$m")"
done
t_proc_has llc '^llc [0-9]+ 2 (bridge,stp|stp,bridge), Live ' llc-used-by-stp-and-bridge
t_proc_has stp '^stp [0-9]+ 1 bridge, Live ' stp-used-by-bridge
t_check bridge-holder "/sys/module/stp/holders/bridge exists" test -e /sys/module/stp/holders/bridge
t_run llc-rmmod-refused 1 -- "$RMMOD" llc
for m in bridge stp llc; do
	t_run "$m-rmmod" 0 -- "$RMMOD" "$m"
done
t_proc_lacks llc

# The permanent one, compressed: vrf. debian-modules.sh may have loaded it already (it cannot
# be removed); loading it again must then fail with EEXIST.
if t_is_loaded vrf; then
	t_run vrf-insmod-again 1 -- "$INSMOD" "$(t_modpath vrf)"
	t_expect_contains vrf-eexist stderr "File exists"
else
	t_run vrf-insmod 0 -- "$INSMOD" "$(t_modpath vrf)"
fi
t_proc_has vrf '^vrf [0-9]+ 0 \[permanent\], Live ' vrf-permanent
t_run vrf-rmmod-refused 1 -- "$RMMOD" vrf
t_expect_contains vrf-ebusy stderr "Device or resource busy"
t_done
