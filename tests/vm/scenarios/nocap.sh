#!/bin/sh
# nocap: loading and removing modules needs CAP_SYS_MODULE in the initial user namespace.
# Without it insmod and rmmod fail with EPERM, whoever the caller is (here: root).
#   capsh --drop=cap_sys_module   removes it from the bounding set, so the next exec lacks it
#   unshare -r                    a new user namespace: "root" there, nobody to the kernel
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_require_tools tools "$INSMOD" "$RMMOD" || t_done

if t_have_fixtures; then
	ko=$RK_MODULES/rk_basic.ko mod=rk_basic
else
	ko=$(t_modpath dummy) mod=dummy
fi
t_log "module under test: $ko"

# without_cap METHOD CMD...: run CMD without CAP_SYS_MODULE.
without_cap() {
	local how="$1"
	shift
	# shellcheck disable=SC2016 # $0 and $@ are for the inner shell
	case $how in
	capsh) capsh --drop=cap_sys_module --shell=/bin/sh -- -c 'exec "$0" "$@"' "$@" ;;
	userns) unshare -r "$@" ;;
	esac
}

for how in capsh userns; do
	case $how in
	capsh) command -v capsh >/dev/null || { t_skip capsh "capsh is not in this image (libcap2-bin)"; continue; } ;;
	esac
	# Prove the method really drops the capability (bit 16 of CapEff).
	eff=$(without_cap "$how" sh -c 'sed -n "s/^CapEff:\t*//p" /proc/self/status')
	t_log "$how: CapEff=$eff"
	if [ -z "$eff" ]; then
		t_fail "$how-works" "could not run a command under $how"
		continue
	fi
	if [ "$how" = capsh ]; then
		t_expect_eq capsh-drops-cap "CAP_SYS_MODULE=$(((0x$eff >> 16) & 1))" CAP_SYS_MODULE=0
	fi
	# (userns: CapEff is full, but over the new namespace only; capable() asks about the
	# initial one, so the loads below are the check.)

	t_run "$how-insmod-eperm" 1 -- without_cap "$how" "$INSMOD" "$ko"
	t_expect_contains "$how-insmod-message" stderr "Operation not permitted"
	t_proc_lacks "$mod" "$how-not-loaded"

	t_run "$how-setup-insmod" 0 -- "$INSMOD" "$ko"
	t_run "$how-rmmod-eperm" 1 -- without_cap "$how" "$RMMOD" "$mod"
	t_expect_contains "$how-rmmod-message" stderr "Operation not permitted"
	t_proc_has "$mod" '' "$how-still-loaded"
	t_run "$how-cleanup-rmmod" 0 -- "$RMMOD" "$mod"
done
t_done
