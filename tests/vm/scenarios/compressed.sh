#!/bin/sh
# compressed: our fixture rk_basic as .ko.xz, .ko.zst and .ko.gz. The file is decompressed in
# user space (or by the kernel, when /sys/module/compression names the format) and the
# module must come out the same. kmod itself is built without zlib on Debian, so kmod's insmod
# cannot load .ko.gz; that case is reported as a skip for kmod.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done
t_require_fixtures || t_done

for ext in xz zst gz; do
	f=$RK_MODULES/rk_basic.ko.$ext
	if [ "$ext" = gz ] && [ "$T_TOOLS" = kmod ] && ! "$KMOD_BIN/kmod" -V | grep -q '+ZLIB'; then
		t_skip "$ext-insmod" "$("$KMOD_BIN/kmod" -V | tail -n 1): no gzip support"
		continue
	fi
	t_run "$ext-insmod" 0 -- "$INSMOD" "$f" int_param=3 || continue
	t_expect_file "$ext-param" /sys/module/rk_basic/parameters/int_param 3
	t_run "$ext-rmmod" 0 -- "$RMMOD" rk_basic
done
t_proc_lacks rk_basic
t_done
