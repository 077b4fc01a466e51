# fish completion for tend: the commands, their options, and the names of
# the procs of the running tend (from `tend status --names` on its socket).
# Installed by `make install` into share/fish/vendor_completions.d/.

# The procs of the tend that --socket (or $TEND_SOCKET...) names, asked of
# the tend binary on the command line.
function __tend_procs
    set -l tokens (commandline -opc)
    set -l sock
    for i in (seq 2 (count $tokens))
        if test "$tokens[$i]" = --socket; and test $i -lt (count $tokens)
            set sock --socket $tokens[(math $i + 1)]
        else if string match -q -- '--socket=*' $tokens[$i]
            set sock --socket (string replace -- '--socket=' '' $tokens[$i])
        end
    end
    $tokens[1] status --names $sock 2>/dev/null
end

set -l cmds run status top metrics start stop restart kill signal logs wait scale reload shutdown
set -l with_procs status start stop restart kill signal logs wait

complete -c tend -f
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -l help -d 'print the help'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -l version -d 'print the version'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a run -d 'run a policy file in the foreground'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a status -d 'a table of the procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a top -d 'a live view of the procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a metrics -d 'metrics, Prometheus format'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a start -d 'start procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a stop -d 'stop procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a restart -d 'stop and start procs again'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a kill -d 'SIGKILL to the procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a signal -d 'a signal to the procs'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a logs -d 'the procs\' recent output'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a wait -d 'until procs are ready or ended'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a scale -d 'set the number of replicas'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a reload -d 'run the policy file again'
complete -c tend -n "not __fish_seen_subcommand_from $cmds" -a shutdown -d 'stop everything and exit'

complete -c tend -n "__fish_seen_subcommand_from $cmds" -l socket -r -F -d 'the control socket'
complete -c tend -n "__fish_seen_subcommand_from $cmds" -s h -l help -d 'print the help'
complete -c tend -n "__fish_seen_subcommand_from $with_procs" -a '(__tend_procs)'

complete -c tend -n '__fish_seen_subcommand_from run' -k -a '(__fish_complete_suffix .lua)'
complete -c tend -n '__fish_seen_subcommand_from run' -l check -d 'check the policy and exit'
complete -c tend -n '__fish_seen_subcommand_from run' -l subreaper -d 'accepted and ignored'
complete -c tend -n '__fish_seen_subcommand_from run' -l timestamps -d 'times before lines'
complete -c tend -n '__fish_seen_subcommand_from run' -l quiet -d 'only warnings and errors'
complete -c tend -n '__fish_seen_subcommand_from run' -l stay -d 'stay up when the work is done'
complete -c tend -n '__fish_seen_subcommand_from run' -l log-format -x -a 'text json'
complete -c tend -n '__fish_seen_subcommand_from run' -l metrics -x -d '[ADDR:]PORT for /metrics'
complete -c tend -n '__fish_seen_subcommand_from status' -l json -d 'JSON instead of the table'
complete -c tend -n '__fish_seen_subcommand_from status' -l names -d 'only the names'
complete -c tend -n '__fish_seen_subcommand_from stop wait' -l timeout -x -d 'seconds'
complete -c tend -n '__fish_seen_subcommand_from wait' -l ready -d 'until ready'
complete -c tend -n '__fish_seen_subcommand_from wait' -l exit -d 'until ended'
complete -c tend -n '__fish_seen_subcommand_from logs' -s n -l lines -x -d 'how many lines'
complete -c tend -n '__fish_seen_subcommand_from logs' -l stream -x -a 'stdout stderr'
complete -c tend -n '__fish_seen_subcommand_from logs' -s f -l follow -d 'follow new lines'
complete -c tend -n '__fish_seen_subcommand_from scale' -a '(__tend_procs | string replace -rf \'@[0-9]+$\' \'\' | sort -u)'
complete -c tend -n '__fish_seen_subcommand_from signal' -a 'HUP INT QUIT KILL USR1 USR2 TERM CONT STOP WINCH'
