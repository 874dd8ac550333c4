#!/bin/sh
# rk-insmod: our insmod's failures and load paths, step by step against kmod's where both apply.
#
#   already loaded (EEXIST), failing init, a bad parameter value (EINVAL), an unknown parameter
#   (the kernel warns, the load succeeds), a directory, a missing file, hostile files
#   (tests/fixtures/bad: each is one clear error line and nothing loaded), -v naming the path
#   taken (finit_module, in-kernel or userspace decompression), --force-vermagic / -f (taint F),
#   no CAP_SYS_MODULE (EPERM).
#
# On 6.1 it uses our test modules; on other kernels Debian's (dummy, hv_vmbus, whose init fails
# without Hyper-V). 6.12 decompresses Debian's .ko.xz itself: ours must let it, kmod 30 does it
# in user space, and the module must come out the same.
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/lib.sh"
t_only_with_rk || t_done
t_require_tools tools "$RK_INSMOD" "$RK_RMMOD" || t_done

if t_have_fixtures; then
	ko=$RK_MODULES/rk_basic.ko mod=rk_basic
	bad_param=int_param=notanumber
	initfail=$RK_MODULES/rk_initfail.ko initfail_mod=rk_initfail initfail_says="Input/output error"
else
	ko=$(t_modpath dummy) mod=dummy
	bad_param=numdummies=notanumber
	initfail=$(t_modpath hv_vmbus) initfail_mod=hv_vmbus initfail_says="No such device"
fi
t_log "module under test: $ko"

# both NAME EXIT TEXT FILE [ARGS...]: insmod FILE ARGS with kmod's insmod, then with ours. Both
# must exit EXIT with nothing on stdout and, for a failure, say TEXT and load nothing.
both() {
	local name="$1" want="$2" text="$3" before tool ins
	shift 3
	for tool in kmod rk; do
		ins=$KMOD_INSMOD
		[ $tool = rk ] && ins=$RK_INSMOD
		before=$(t_modules_snapshot | tr '\n' ' ')
		t_run "$name-$tool" "$want" -- "$ins" "$@"
		t_expect_eq "$name-$tool-stdout" "'$(t_stdout)'" "''"
		if [ "$want" -ne 0 ]; then
			t_expect_contains "$name-$tool-says" stderr "$text"
			t_expect_eq "$name-$tool-nothing-loaded" "$(t_modules_snapshot | tr '\n' ' ')" "$before"
		fi
	done
}

# --- the kernel refuses -------------------------------------------------------------------------
t_run insmod 0 -- "$RK_INSMOD" "$ko"
both already-loaded 1 "File exists" "$ko"
t_expect_contains already-loaded-hint stderr "already loaded"
"$RK_RMMOD" "$mod"

# shellcheck disable=SC2046 # a word list
deps=$(t_load_deps "$initfail_mod")
both init-fails 1 "$initfail_says" "$initfail"
t_proc_lacks "$initfail_mod" init-fails-nothing-left
# shellcheck disable=SC2086 # a word list
t_unload_list $deps

both bad-param-value 1 "Invalid parameters" "$ko" "$bad_param"

# An unknown parameter: the kernel warns and loads the module anyway.
for tool in kmod rk; do
	ins=$KMOD_INSMOD
	[ $tool = rk ] && ins=$RK_INSMOD
	t_run "unknown-param-$tool" 0 -- "$ins" "$ko" "no_such_param_$tool=1"
	dmesg >"$T_DIR/dmesg"
	t_expect_contains "unknown-param-$tool-warned" "$T_DIR/dmesg" "unknown parameter 'no_such_param_$tool' ignored"
	"$RK_RMMOD" "$mod"
done

# --- the file is not a module -------------------------------------------------------------------
both directory 1 "directory" "$RK_MODULES"
both missing 1 "No such file or directory" "$RK_MODULES/no-such-module.ko"

# Hostile files: ours must print exactly one error line and load nothing. kmod's exit status is
# compared too, except for the decompression bombs (kmod 30 would inflate 300 MiB in the VM).
# (bad/generated/: rk_basic.ko truncated at every section boundary and with sections past the
# end, exported by tests/it/bad_inputs.rs when `make test` runs it; kmod is not asked.)
for f in "$RK_MODULES"/bad/*.ko* "$RK_MODULES"/bad/generated/*.ko; do
	[ -e "$f" ] || continue
	b=$(basename "$f")
	before=$(t_modules_snapshot | tr '\n' ' ')
	t_run "bad-$b" 1 -- "$RK_INSMOD" "$f"
	t_expect_eq "bad-$b-one-line" "$(wc -l <"$T_DIR/stderr") stderr line(s), stdout '$(t_stdout)'" "1 stderr line(s), stdout ''"
	t_expect_eq "bad-$b-nothing-loaded" "$(t_modules_snapshot | tr '\n' ' ')" "$before"
	case $f in
	*/generated/* | */bomb.*) ;;
	*) t_run "bad-$b-kmod" 1 -- "$KMOD_INSMOD" "$f" ;;
	esac
done

# --- which way the module goes in (-v) ------------------------------------------------------------
t_run verbose-plain 0 -- "$RK_INSMOD" -v "$ko"
t_expect_contains verbose-plain-finit stderr "via finit_module"
"$RK_RMMOD" "$mod"

compression=$(cat /sys/module/compression 2>/dev/null)
t_log "/sys/module/compression: ${compression:-(none: the kernel decompresses nothing)}"
if t_have_fixtures; then
	for ext in xz zst gz; do
		case $ext in xz) how=xz ;; zst) how=zstd ;; gz) how=gzip ;; esac
		case $how in
		"$compression") want="finit_module with in-kernel $how decompression" ;;
		*) want="$how decompressed in userspace, then init_module" ;;
		esac
		t_run "verbose-$ext" 0 -- "$RK_INSMOD" -v "$RK_MODULES/rk_basic.ko.$ext" int_param=3
		t_expect_contains "verbose-$ext-path" stderr "$want"
		t_expect_file "verbose-$ext-param" /sys/module/rk_basic/parameters/int_param 3
		"$RK_RMMOD" rk_basic
	done
fi

# Debian's compressed modules: with /sys/module/compression = xz (6.12), ours hands the .ko.xz
# to the kernel; kmod 30 decompresses it itself. Same module either way.
xz_ko=$(t_modpath dummy)
case $xz_ko:$compression in
*.ko.xz:xz)
	t_run debian-xz-kmod 0 -- "$KMOD_INSMOD" "$xz_ko"
	kmod_line=$(t_proc_line dummy | cut -d' ' -f1,2,3,4,5)
	kmod_taint=$(cat /sys/module/dummy/taint)
	"$RK_RMMOD" dummy
	t_run debian-xz 0 -- "$RK_INSMOD" -v "$xz_ko"
	t_expect_contains debian-xz-in-kernel stderr "finit_module with in-kernel xz decompression"
	t_expect_eq debian-xz-same-proc-line "$(t_proc_line dummy | cut -d' ' -f1,2,3,4,5)" "$kmod_line"
	t_expect_file debian-xz-same-taint /sys/module/dummy/taint "$kmod_taint"
	"$RK_RMMOD" dummy
	;;
*) t_skip debian-xz "Debian's modules here are not .ko.xz for an xz-decompressing kernel ($xz_ko, '${compression}')" ;;
esac

# --- forcing: ignore the version magic (CONFIG_MODULE_FORCE_LOAD: loads, taints F) ---------------
if [ "$(t_kconfig CONFIG_MODULE_FORCE_LOAD)" = y ]; then
	for how in --force-vermagic -f; do
		t_run "force$how" 0 -- "$RK_INSMOD" "$how" "$ko"
		t_check "force$how-taint-F" "/sys/module/$mod/taint = '$(cat "/sys/module/$mod/taint")'" \
			grep -q F "/sys/module/$mod/taint"
		"$RK_RMMOD" "$mod"
	done
	case $ko:$compression in
	*.ko:*)
		t_run force-kmod 0 -- "$KMOD_INSMOD" -f "$ko"
		t_check force-kmod-taint-F "/sys/module/$mod/taint = '$(cat "/sys/module/$mod/taint")'" \
			grep -q F "/sys/module/$mod/taint"
		"$RK_RMMOD" "$mod"
		;;
	*)
		# kmod 30 decompresses and blanks the vermagic in user space; the module's signature
		# no longer matches and the kernel rejects it. Ours lets the kernel decompress and
		# ignore the vermagic (finit_module flags), which also skips the signature check.
		t_run force-kmod-signed-compressed 1 -- "$KMOD_INSMOD" -f "$ko"
		t_expect_contains force-kmod-signed-compressed-rejected stderr "Key was rejected by service"
		;;
	esac
	t_check force-kernel-taint-F "kernel.tainted has bit 1 (F: forced load)" \
		test $(($(cat /proc/sys/kernel/tainted) & 2)) -ne 0

	# A signed module (Debian's dummy) as .ko.gz, which neither kernel decompresses itself: the
	# vermagic is blanked in the decompressed copy, so the signature no longer matches it. The
	# kernel ignores signatures only with the finit_module force flags; for init_module the
	# signature has to go too, or the kernel rejects the module (EKEYREJECTED).
	dummy=$(t_modpath dummy)
	case $dummy in
	*.xz) xzcat "$dummy" ;;
	*) cat "$dummy" ;;
	esac | gzip -c >"$T_DIR/dummy.ko.gz"
	t_run force-signed-gz any -- "$RK_INSMOD" -v -f "$T_DIR/dummy.ko.gz"
	t_check force-signed-gz-loaded "-f loads a signed module decompressed in user space" \
		t_is_loaded dummy
	t_is_loaded dummy && "$RK_RMMOD" dummy
else
	t_skip force "CONFIG_MODULE_FORCE_LOAD is not set"
fi

# --- no CAP_SYS_MODULE --------------------------------------------------------------------------
if command -v capsh >/dev/null; then
	# shellcheck disable=SC2016 # $0 and $@ are for the inner shell
	t_run nocap 1 -- capsh --drop=cap_sys_module --shell=/bin/sh -- -c 'exec "$0" "$@"' "$RK_INSMOD" "$ko"
else
	t_run nocap 1 -- unshare -r "$RK_INSMOD" "$ko"
fi
t_expect_contains nocap-eperm stderr "Operation not permitted"
t_proc_lacks "$mod" nocap-not-loaded
t_done
