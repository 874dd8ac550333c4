complete -c rmmod -s w -l wait -d 'Wait until the module is unused, then remove it; give up after MSEC milliseconds if given (--wait=MSEC)' -r
complete -c rmmod -s f -l force -d 'DANGEROUS: force removal, skipping every check: removes a permanent module or one still in use (needs CONFIG_MODULE_FORCE_UNLOAD; taints the kernel; may crash it)'
complete -c rmmod -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rmmod -s v -l verbose -d 'Enable more messages (what --wait is waiting for; unload races of debugfs files too)'
complete -c rmmod -s V -l version -d 'Show version'
complete -c rmmod -s h -l help -d 'Print help'

# Module names: added to clap_complete's script by rkmod's examples/gendocs.rs.
function __rkmod_loaded_modules
    test -r /proc/modules; and string replace -r ' .*' '' </proc/modules
end

# __rkmod_module_names INDEX...: module names from /lib/modules/(uname -r)/modules.INDEX
function __rkmod_module_names
    set -l dir /lib/modules/(uname -r)
    for index in $argv
        test -r $dir/modules.$index; or continue
        string replace -r ':.*' '' <$dir/modules.$index | string replace -r '.*/' '' | string replace -r '\.ko(\.[a-z]+)?$' ''
    end
end

complete -c rmmod -x -a '(__rkmod_loaded_modules)' -d 'loaded module'
