#!/bin/sh
# shellcheck disable=SC2086,SC2116 # $deps is a word list
# debian-modules: every module of tests/vm/modules-<kernel>.list, one at a time: load its
# dependencies (modules.dep order) and the module itself with $INSMOD, check that the
# kernel's "[permanent]" mark agrees with what mkinitramfs.sh read from the file (a defined
# init_module without cleanup_module), then remove it with $RMMOD (refused if permanent)
# and remove the dependencies again. One result line per module.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done

list=/rk/debian-modules.txt
[ -s "$list" ] || { t_skip list "no $list in this image"; t_done; }

uptime() { cut -d' ' -f1 /proc/uptime; }

while read -r name expect class path; do
	ko=$T_MODDIR/$path
	start=$(uptime)
	if t_is_loaded "$name"; then
		# A permanent module loaded by an earlier scenario (or boot) stays: check the mark only.
		line=$(t_proc_line "$name")
		case "$class:$line" in
		permanent:*"[permanent],"* | init+exit:* | exit-only:* | neither:*) t_pass "$name" "already loaded: $line" ;;
		*) t_fail "$name" "already loaded, static class $class, but: $line" ;;
		esac
		continue
	fi

	# $deps: the names t_load_deps loaded, one per line; unquoted on purpose below.
	# shellcheck disable=SC2086
	if ! deps=$(t_load_deps "$name"); then
		t_fail "$name" "a dependency failed to load (loaded so far: $(echo $deps))"
		t_unload_list $deps
		continue
	fi
	t_capture "$INSMOD" "$ko"
	err=$(head -n 1 "$T_DIR/stderr")

	if [ "$expect" = fail ]; then
		if [ "$T_RC" -eq 0 ]; then
			t_fail "$name" "expected init to fail, but it loaded"
			"$RMMOD" "$name"
		elif t_is_loaded "$name"; then
			t_fail "$name" "insmod failed but the module is listed: $(t_proc_line "$name")"
		else
			t_pass "$name" "init failed as expected, nothing left: $err"
		fi
		t_unload_list $deps
		continue
	fi

	if [ "$T_RC" -ne 0 ]; then
		t_fail "$name" "insmod exit $T_RC: $err"
		t_unload_list $deps
		continue
	fi
	line=$(t_proc_line "$name")
	case $line in
	*"[permanent],"*) marked=permanent ;;
	*) marked=removable ;;
	esac
	case $class in
	permanent) predicted=permanent ;;
	*) predicted=removable ;;
	esac
	if [ "$marked" != "$predicted" ]; then
		t_fail "$name" "static class $class but /proc/modules says: $line"
		t_unload_list $deps
		continue
	fi

	t_capture "$RMMOD" "$name"
	if [ "$predicted" = permanent ]; then
		if [ "$T_RC" -ne 0 ] && t_is_loaded "$name"; then
			t_pass "$name" "$class, [permanent], rmmod refused: $(head -n 1 "$T_DIR/stderr")"
		else
			t_fail "$name" "permanent, yet rmmod exit $T_RC and loaded=$(t_is_loaded "$name" && echo yes || echo no)"
		fi
	else
		if [ "$T_RC" -eq 0 ] && ! t_is_loaded "$name"; then
			t_pass "$name" "$class, loaded$([ -n "$deps" ] && echo " after $(echo $deps)") and removed"
		else
			t_fail "$name" "rmmod exit $T_RC: $(head -n 1 "$T_DIR/stderr"); $(t_proc_line "$name")"
		fi
	fi
	t_unload_list $deps
	echo "  $name: $(awk -v a="$start" -v b="$(uptime)" 'BEGIN { printf "%.2f", b - a }') s"
done <"$list"
t_done
