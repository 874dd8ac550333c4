# shellcheck shell=bash
# Host-side helpers shared by tests/vm/run.sh and tests/vm/initramfs-client.sh (bash): the
# missing-prerequisite banner and installing Debian packages. The sourcing script sets $ci (1
# under CI=true) and defines log().

# shellcheck disable=SC2154 # ci comes from the sourcing script
# prereq_missing LINE...: outside CI a loud skip (exit 0), under CI a failure (STYLE.md 12).
prereq_missing() {
	local bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
	echo "$bar" >&2
	if ((ci)); then
		echo "!!! VM TESTS FAILED: missing prerequisite (CI=true):" >&2
	else
		echo "!!! VM TESTS SKIPPED: missing prerequisite:" >&2
	fi
	printf '!!!   %s\n' "$@" >&2
	echo "$bar" >&2
	if ((ci)); then
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "0 passed, 0 failed"
	exit 0
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo "$@"
	else
		return 1
	fi
}

apt_updated=0
apt_install() {
	command -v apt-get >/dev/null || return 1
	log "installing: $*"
	local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
	as_root "${cmd[@]}" >&2 && return 0
	((apt_updated)) && return 1
	apt_updated=1
	as_root apt-get update -q >&2 && as_root "${cmd[@]}" >&2
}

is_static_busybox() {
	local b
	b=$(command -v busybox) || return 1
	! readelf -lW "$b" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# need_commands CMD:PACKAGE[?]...: apt-get install the packages of missing commands (and
# busybox-static unless the busybox found is static), then add a line to the array `problems`
# for each command still missing; those marked with a trailing '?' are optional.
need_commands() {
	local pair cmd pkg missing=()
	for pair; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null || missing+=("${pkg%\?}")
	done
	is_static_busybox || missing+=(busybox-static)
	if ((${#missing[@]})); then
		apt_install "${missing[@]}" || log "could not install ${missing[*]}"
	fi
	for pair; do
		cmd=${pair%%:*} pkg=${pair#*:}
		[[ $pkg == *\? ]] && continue
		command -v "$cmd" >/dev/null || problems+=("$cmd not found (apt-get install $pkg)")
	done
	is_static_busybox || problems+=("static busybox not found (apt-get install busybox-static)")
}
