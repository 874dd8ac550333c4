# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rkmod_global_optspecs
    string join \n V/version h/help
end

function __fish_rkmod_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rkmod_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rkmod_using_subcommand
    set -l cmd (__fish_rkmod_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rkmod -n "__fish_rkmod_needs_command" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_needs_command" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "insmod" -d 'Insert a module into the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "rmmod" -d 'Remove modules from the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "lsmod" -d 'Show the status of modules in the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "list" -d 'Show the status of modules in the Linux kernel'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "modinfo" -d 'Show information about Linux kernel modules'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "modprobe" -d 'Add and remove modules from the Linux kernel, with their dependencies'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "depmod" -d 'Generate modules.dep and map files'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "modaudit" -d 'Tell, before loading, whether kernel modules can ever be unloaded'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "static-nodes" -d 'Print the device nodes that load a module when opened, from the running kernel\'s modules.devname'
complete -c rkmod -n "__fish_rkmod_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s f -l force -d 'DANGEROUS: force a module load, may cause data corruption and crash your machine; implies --force-modversion and --force-vermagic'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -l force-modversion -d 'Ignore module\'s version'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -l force-vermagic -d 'Ignore module\'s version magic'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s v -l verbose -d 'Enable more messages (which system call was used, and why)'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand insmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s w -l wait -d 'Wait until the module is unused, then remove it; give up after MSEC milliseconds if given (--wait=MSEC)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s f -l force -d 'DANGEROUS: force removal, skipping every check: removes a permanent module or one still in use (needs CONFIG_MODULE_FORCE_UNLOAD; taints the kernel; may crash it)'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s v -l verbose -d 'Enable more messages (what --wait is waiting for; unload races of debugfs files too)'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand rmmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s v -l verbose -d 'Show a detailed table: state, taint, and references not held by modules'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -l json -d 'Print one JSON object per module (one per line)'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand lsmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand list" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand list" -s v -l verbose -d 'Show a detailed table: state, taint, and references not held by modules'
complete -c rkmod -n "__fish_rkmod_using_subcommand list" -l json -d 'Print one JSON object per module (one per line)'
complete -c rkmod -n "__fish_rkmod_using_subcommand list" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand list" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s F -l field -d 'Print only provided FIELD (repeat -F to print several fields, in order)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s k -l set-version -d 'Use VERSION instead of $(uname -r)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s a -l author -d 'Print only \'author\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s d -l description -d 'Print only \'description\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s l -l license -d 'Print only \'license\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s p -l parameters -d 'Print only \'parm\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s n -l filename -d 'Print only \'filename\''
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s 0 -l null -d 'Use \\0 instead of \\n'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s m -l modname -d 'Handle argument as module name instead of alias or filename'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -l json -d 'Print one JSON object per module (one per line) instead of text'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand modinfo" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s w -l wait -d 'When removing, wait up to MSEC for the module to be unused (0: no limit)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s C -l config -d 'Read PATH instead of the modprobe.d directories (repeatable)' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s d -l dirname -d 'Use DIR as the root of /lib/modules' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s S -l set-version -d 'Use VERSION instead of `uname -r`' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s a -l all -d 'Consider every operand a module to insert (or remove, with -r)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s r -l remove -d 'Remove modules instead of inserting them'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l remove-holders -l remove-dependencies -d 'Also remove the modules holding the module (use with -r)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l first-time -d 'Fail if the module is already inserted (or, with -r, not loaded)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s i -l ignore-install -l ignore-remove -d 'Ignore install and remove commands (and the module\'s softdeps)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s b -l use-blacklist -d 'Apply the blacklist to module names too, not only to aliases'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s f -l force -d 'DANGEROUS: force insertion or removal; implies --force-modversion and --force-vermagic'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l force-modversion -d 'Ignore the module\'s symbol versions'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l force-vermagic -d 'Ignore the module\'s version magic'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s R -l resolve-alias -l show-alias -d 'Only print the modules the name resolves to'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s D -l show-depends -d 'Only print what would be inserted (insmod/install/builtin lines)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s c -l show-config -l showconfig -d 'Print the configuration and the index aliases'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l show-modversions -l dump-modversions -d 'Print the symbol versions a module file needs'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -l show-exports -d 'Print the symbols a module file exports, with their CRCs'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s n -l dry-run -l show -d 'Do not change anything (with -v: print what would be done)'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s q -l quiet -d 'No messages at all'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s v -l verbose -d 'More messages; print what is done'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand modprobe" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s b -l basedir -d 'Use an image of a module tree: read BASEDIR/MODULEDIR/VERSION' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s m -l moduledir -d 'Directory of the modules under BASEDIR and OUTDIR (default lib/modules)' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s o -l outdir -d 'Write the indexes to OUTDIR/MODULEDIR/VERSION instead' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s C -l config -d 'Read PATH instead of the depmod.d directories (repeatable)' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s E -l symvers -d 'Read vmlinux\'s symbols and their versions from Module.symvers' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s F -l filesyms -d 'Read vmlinux\'s symbols from System.map' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s P -l symbol-prefix -d 'Strip this character from the front of symbol names' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s a -l all -d 'Probe all modules (the default)'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s A -l quick -d 'Do nothing unless a module is newer than modules.dep'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s e -l errsyms -d 'Report unknown symbols and symbol version mismatches (needs -E or -F)'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s n -l show -l dry-run -d 'Write the text files to standard output, change nothing'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s w -l warn -d 'Warn about values stored twice under one index key'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s v -l verbose -d 'More messages (repeatable)'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand depmod" -s h -l help -d 'Print help'
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -l deny -d 'Exit with status 2 if any module has one of these verdicts or findings' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -s k -l set-version -d 'Look names up for kernel VERSION instead of $(uname -r)' -r
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -s b -l basedir -d 'Use DIR as filesystem root for /lib/modules' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -l symvers -d 'Look symbol_get names up in this Module.symvers too (the kernel\'s own exports)' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -l json -d 'Print JSON Lines (one object per module file) instead of a table'
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -s V -l version -d 'Show version'
complete -c rkmod -n "__fish_rkmod_using_subcommand modaudit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rkmod -n "__fish_rkmod_using_subcommand static-nodes" -s f -l format -d 'Output format' -r -f -a "human\t'A readable listing, one block per node (the default); not meant to be parsed'
tmpfiles\t'tmpfiles.d(5) lines for systemd-tmpfiles: each node, and its parent directory'
devname\t'modules.devname\'s own format'"
complete -c rkmod -n "__fish_rkmod_using_subcommand static-nodes" -s o -l output -d 'Write to FILE (created with its parent directories) instead of standard output' -r -F
complete -c rkmod -n "__fish_rkmod_using_subcommand static-nodes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "insmod" -d 'Insert a module into the Linux kernel'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "rmmod" -d 'Remove modules from the Linux kernel'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "lsmod" -d 'Show the status of modules in the Linux kernel'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "modinfo" -d 'Show information about Linux kernel modules'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "modprobe" -d 'Add and remove modules from the Linux kernel, with their dependencies'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "depmod" -d 'Generate modules.dep and map files'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "modaudit" -d 'Tell, before loading, whether kernel modules can ever be unloaded'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "static-nodes" -d 'Print the device nodes that load a module when opened, from the running kernel\'s modules.devname'
complete -c rkmod -n "__fish_rkmod_using_subcommand help; and not __fish_seen_subcommand_from insmod rmmod lsmod modinfo modprobe depmod modaudit static-nodes help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

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

complete -c rkmod -n '__fish_rkmod_using_subcommand rmmod' -x -a '(__rkmod_loaded_modules)' -d 'loaded module'
complete -c rkmod -n '__fish_rkmod_using_subcommand modinfo' -a '(__rkmod_module_names dep builtin)' -d module
complete -c rkmod -n '__fish_rkmod_using_subcommand modprobe' -a '(__rkmod_module_names dep builtin)' -d module
complete -c rkmod -n '__fish_rkmod_using_subcommand modaudit' -a '(__rkmod_module_names dep)' -d module
