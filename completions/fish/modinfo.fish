complete -c modinfo -s F -l field -d 'Print only provided FIELD (repeat -F to print several fields, in order)' -r
complete -c modinfo -s k -l set-version -d 'Use VERSION instead of $(uname -r)' -r
complete -c modinfo -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r -F
complete -c modinfo -s a -l author -d 'Print only \'author\''
complete -c modinfo -s d -l description -d 'Print only \'description\''
complete -c modinfo -s l -l license -d 'Print only \'license\''
complete -c modinfo -s p -l parameters -d 'Print only \'parm\''
complete -c modinfo -s n -l filename -d 'Print only \'filename\''
complete -c modinfo -s 0 -l null -d 'Use \\0 instead of \\n'
complete -c modinfo -s m -l modname -d 'Handle argument as module name instead of alias or filename'
complete -c modinfo -l json -d 'Print one JSON object per module (one per line) instead of text'
complete -c modinfo -s V -l version -d 'Show version'
complete -c modinfo -s h -l help -d 'Print help'

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

complete -c modinfo -a '(__rkmod_module_names dep builtin)' -d module
