#!/bin/sh
# demo: a short session with rkmod's tools on a real kernel, printed as a transcript
# (scripts/demo.sh). Any tool of ours not built yet falls back to kmod's.
# (Installed next to lib.sh in the image's /scenarios.)
# shellcheck disable=SC1091
. "$(dirname "$0")/lib.sh"
t_require_fixtures || t_done

for t in insmod rmmod lsmod modinfo modaudit; do
	if [ -x "/rk/bin/$t" ]; then
		eval "$t() { /rk/bin/$t \"\$@\"; }"
	else
		eval "$t() { /kmod/bin/$t \"\$@\"; }"
	fi
done
say() { printf '\n# %s\n' "$*"; }
show() { # print the command as typed (quoting what needs it), run it, show a failure's status
	local a line='$'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./=,:+-]*) line="$line '$a'" ;;
		*) line="$line $a" ;;
		esac
	done
	echo "$line"
	"$@" 2>&1
	rc=$?
	[ $rc -eq 0 ] || printf '[exit %s]\n' "$rc"
	return 0
}

cd "$RK_MODULES" || exit 1
echo "kernel $(uname -r); our tools: $(cd /rk/bin && echo *)"

say "What is in a module file, and is it safe to unload once loaded?"
show modinfo -F description -F parm rk_basic.ko
[ -x /rk/bin/modaudit ] && show modaudit rk_permanent.ko

say "Load modules (-v: how); a value with a space is quoted for the kernel."
show insmod -v rk_basic.ko.xz int_param=7 'str_param=hello world'
show cat /sys/module/rk_basic/parameters/str_param
show insmod rk_provider.ko
show insmod rk_consumer.ko
show insmod rk_permanent.ko
show insmod rk_chardev.ko
show lsmod

say "rmmod says why it cannot remove a module."
show rmmod rk_provider
show rmmod rk_permanent

say "A process keeps /dev/rk_chardev open for 2 s; rmmod --wait waits for it."
t_hold_open /dev/rk_chardev rk_chardev 2 >/dev/null
show lsmod -v
show rmmod -v --wait=10000 rk_chardev
t_release

say "Clean up: several at once, and --force for the permanent one (taints the kernel)."
show rmmod rk_consumer rk_provider rk_basic
show rmmod -f rk_permanent
show lsmod
t_check demo-clean "no rk_ module left loaded" sh -c '! grep -q "^rk_" /proc/modules'
t_done
