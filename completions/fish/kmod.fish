# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kmod_global_optspecs
    string join \n V/version h/help
end

function __fish_kmod_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kmod_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kmod_using_subcommand
    set -l cmd (__fish_kmod_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kmod -n "__fish_kmod_needs_command" -s V -l version -d 'Show version'
complete -c kmod -n "__fish_kmod_needs_command" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "help" -d 'Show this help'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "list" -d 'List the loaded modules, as lsmod does'
complete -c kmod -n "__fish_kmod_needs_command" -f -a "static-nodes" -d 'Print the device nodes of the running kernel\'s modules.devname'
complete -c kmod -n "__fish_kmod_using_subcommand help" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s s -l syslog -d 'Print to syslog, not stderr'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s v -l verbose -d 'Show a detailed table: state, taint, and references not held by modules'
complete -c kmod -n "__fish_kmod_using_subcommand list" -l json -d 'Print one JSON object per module (one per line)'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s V -l version -d 'Show version'
complete -c kmod -n "__fish_kmod_using_subcommand list" -s h -l help -d 'Print help'
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s f -l format -d 'Output format' -r -f -a "human\t'A readable listing, one block per node (the default); not meant to be parsed'
tmpfiles\t'tmpfiles.d(5) lines for systemd-tmpfiles: each node, and its parent directory'
devname\t'modules.devname\'s own format'"
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s o -l output -d 'Write to FILE (created with its parent directories) instead of standard output' -r -F
complete -c kmod -n "__fish_kmod_using_subcommand static-nodes" -s h -l help -d 'Print help (see more with \'--help\')'
