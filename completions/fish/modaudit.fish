complete -c modaudit -l deny -d 'Exit with status 2 if any module has one of these verdicts or findings' -r
complete -c modaudit -s k -l set-version -d 'Look names up for kernel VERSION instead of $(uname -r)' -r
complete -c modaudit -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r -F
complete -c modaudit -l symvers -d 'Look symbol_get names up in this Module.symvers too (the kernel\'s own exports)' -r -F
complete -c modaudit -l json -d 'Print JSON Lines (one object per module file) instead of a table'
complete -c modaudit -s V -l version -d 'Show version'
complete -c modaudit -s h -l help -d 'Print help (see more with \'--help\')'

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

complete -c modaudit -a '(__rkmod_module_names dep)' -d module
