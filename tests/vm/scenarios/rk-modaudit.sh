#!/bin/sh
# shellcheck disable=SC2086 # $deps is a word list
# rk-modaudit: modaudit reads each module file before it is loaded and gives a verdict; then the
# kernel is asked. For our test modules and every Debian module of the image's list:
#   - load it (and its dependencies), and compare /proc/modules' "[permanent]," mark with the
#     verdict (permanent and force-only must be marked, removable must not);
#   - rmmod it: must succeed exactly when the verdict is removable;
#   - for our permanent test modules, rmmod --force must then remove it (Debian kernels have
#     CONFIG_MODULE_FORCE_UNLOAD). Debian's permanent modules are not forced out: their
#     registrations would be left pointing at freed memory.
# One result line per module; 100% agreement is the bar.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_tools tools "$RK_MODAUDIT" "$INSMOD" "$RMMOD" || t_done

verdict() { "$RK_MODAUDIT" --json "$1" 2>/dev/null | sed -n 's/.*"verdict":"\([a-z-]*\)".*/\1/p'; }

# agree NAME FILE MAY_FORCE: one module, loaded and judged.
agree() {
	name=$1 file=$2 may_force=$3 deps=
	v=$(verdict "$file")
	case $v in
	permanent | force-only) want=permanent ;;
	removable) want=removable ;;
	*) t_fail "$name" "modaudit gave no usable verdict for $file: '$v'"; return ;;
	esac
	if ! t_is_loaded "$name"; then
		if ! deps=$(t_load_deps "$name" 2>/dev/null); then
			t_fail "$name" "a dependency failed to load"
			t_unload_list $deps
			return
		fi
		if ! "$INSMOD" "$file" >/dev/null 2>"$T_DIR/err"; then
			t_fail "$name" "insmod failed: $(head -n 1 "$T_DIR/err")"
			t_unload_list $deps
			return
		fi
	fi
	case $(t_proc_line "$name") in
	*"[permanent],"*) marked=permanent ;;
	*) marked=removable ;;
	esac
	if [ "$marked" != "$want" ]; then
		t_fail "$name" "modaudit says $v, /proc/modules says $marked"
		return
	fi
	"$RMMOD" "$name" >/dev/null 2>"$T_DIR/err"
	rc=$?
	if [ "$want" = removable ]; then
		if [ $rc -eq 0 ] && ! t_is_loaded "$name"; then
			t_pass "$name" "$v: not marked permanent, rmmod removed it"
		else
			t_fail "$name" "$v, but rmmod exit $rc: $(head -n 1 "$T_DIR/err")"
		fi
		t_unload_list $deps
		return
	fi
	if [ $rc -eq 0 ] || ! t_is_loaded "$name"; then
		t_fail "$name" "$v, yet rmmod removed it"
		return
	fi
	if [ "$may_force" = force ]; then
		if "$RMMOD" -f "$name" >/dev/null 2>"$T_DIR/err" && ! t_is_loaded "$name"; then
			t_pass "$name" "$v: [permanent], rmmod refused, rmmod --force removed it"
		else
			t_fail "$name" "$v: rmmod --force failed: $(head -n 1 "$T_DIR/err")"
		fi
	else
		t_pass "$name" "$v: [permanent], rmmod refused"
	fi
}

# Our test modules (built for 6.1): every init/exit combination, legacy symbols included.
if t_require_fixtures; then
	for m in rk_basic rk_permanent rk_neither rk_exitonly rk_legacy rk_legacy_safe rk_legacy_force \
		rk_chardev rk_provider; do
		agree "$m" "$RK_MODULES/$m.ko" force
	done
	# Compressed files get the same verdict as the plain one.
	for f in "$RK_MODULES"/rk_basic.ko.xz "$RK_MODULES"/rk_basic.ko.zst "$RK_MODULES"/rk_basic.ko.gz; do
		[ -f "$f" ] && t_check "verdict-${f##*.}" "modaudit on ${f##*/} says removable" \
			test "$(verdict "$f")" = removable
	done
fi

# Debian's modules of this image (tests/vm/modules-<kernel>.list), those expected to load.
list=/rk/debian-modules.txt
if [ -s "$list" ]; then
	while read -r name expect _class path; do
		[ "$expect" = fail ] && continue
		agree "$name" "$T_MODDIR/$path" no-force
	done <"$list"
else
	t_skip debian "no $list in this image"
fi
t_done
