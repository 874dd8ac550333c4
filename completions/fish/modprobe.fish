complete -c modprobe -s w -l wait -d 'When removing, wait up to MSEC for the module to be unused (0: no limit)' -r
complete -c modprobe -s C -l config -d 'Read PATH instead of the modprobe.d directories (repeatable)' -r -F
complete -c modprobe -s d -l dirname -d 'Use DIR as the root of /lib/modules' -r
complete -c modprobe -s S -l set-version -d 'Use VERSION instead of `uname -r`' -r
complete -c modprobe -s a -l all -d 'Consider every operand a module to insert (or remove, with -r)'
complete -c modprobe -s r -l remove -d 'Remove modules instead of inserting them'
complete -c modprobe -l remove-holders -l remove-dependencies -d 'Also remove the modules holding the module (use with -r)'
complete -c modprobe -l first-time -d 'Fail if the module is already inserted (or, with -r, not loaded)'
complete -c modprobe -s i -l ignore-install -l ignore-remove -d 'Ignore install and remove commands (and the module\'s softdeps)'
complete -c modprobe -s b -l use-blacklist -d 'Apply the blacklist to module names too, not only to aliases'
complete -c modprobe -s f -l force -d 'DANGEROUS: force insertion or removal; implies --force-modversion and --force-vermagic'
complete -c modprobe -l force-modversion -d 'Ignore the module\'s symbol versions'
complete -c modprobe -l force-vermagic -d 'Ignore the module\'s version magic'
complete -c modprobe -s R -l resolve-alias -l show-alias -d 'Only print the modules the name resolves to'
complete -c modprobe -s D -l show-depends -d 'Only print what would be inserted (insmod/install/builtin lines)'
complete -c modprobe -s c -l show-config -l showconfig -d 'Print the configuration and the index aliases'
complete -c modprobe -l show-modversions -l dump-modversions -d 'Print the symbol versions a module file needs'
complete -c modprobe -l show-exports -d 'Print the symbols a module file exports, with their CRCs'
complete -c modprobe -s n -l dry-run -l show -d 'Do not change anything (with -v: print what would be done)'
complete -c modprobe -s s -l syslog -d 'Print to syslog, not stderr'
complete -c modprobe -s q -l quiet -d 'No messages at all'
complete -c modprobe -s v -l verbose -d 'More messages; print what is done'
complete -c modprobe -s V -l version -d 'Show version'
complete -c modprobe -s h -l help -d 'Print help'

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

complete -c modprobe -a '(__rkmod_module_names dep builtin)' -d module
