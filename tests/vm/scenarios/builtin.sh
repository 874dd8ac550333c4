#!/bin/sh
# builtin: a module compiled into the kernel is listed in modules.builtin and may have a
# /sys/module/<name> directory (for its parameters), but it is not in /proc/modules and has
# no initstate. rmmod must say "builtin", not "not loaded", and never call delete_module.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$RMMOD" "$MODINFO" || t_done

# The first builtin module that has a /sys/module directory.
name=
while read -r path; do
	m=$(t_modname "$path")
	if [ -d "/sys/module/$m" ]; then
		name=$m
		break
	fi
done <"$T_MODDIR/modules.builtin"
if [ -z "$name" ]; then
	t_skip builtin "no builtin module with a /sys/module directory"
	t_done
fi
t_log "builtin module: $name ($(ls "/sys/module/$name" | tr '\n' ' '))"

t_proc_lacks "$name"
t_check no-initstate "/sys/module/$name/initstate does not exist" test ! -e "/sys/module/$name/initstate"
t_run rmmod-builtin 1 -- "$RMMOD" "$name"
t_expect_contains rmmod-says-builtin stderr "builtin"
t_run modinfo-builtin 0 -- "$MODINFO" "$name"
t_expect_contains modinfo-filename stdout "(builtin)"
t_done
