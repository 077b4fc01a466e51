# bash completion for tend: the commands, their options, and the names of
# the procs of the running tend (asked through its control socket).
# Installed by `make install` into share/bash-completion/completions/tend.

_tend_procs()
{
    local sock=()
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --socket ]]; then
            # --socket=PATH comes as three words: --socket, =, PATH
            if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                sock=(--socket "${COMP_WORDS[i + 2]}")
            else
                sock=(--socket "${COMP_WORDS[i + 1]}")
            fi
        fi
    done
    "${COMP_WORDS[0]}" status --names "${sock[@]}" 2>/dev/null
}

# The sets of replicas among them: web for web@1, web@2 ...
_tend_sets()
{
    _tend_procs | sed -n 's/@[0-9]*$//p' | sort -u
}

_tend()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    cmd=${COMP_WORDS[1]}
    if [[ $prev == = ]] && ((COMP_CWORD > 2)); then  # --opt=value
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "run status start stop restart kill signal logs wait
                                 scale reload top metrics shutdown --help --version" -- "$cur"))
        return
    fi
    case $prev in
    --socket)
        COMPREPLY=($(compgen -f -- "$cur"))
        return ;;
    --log-format)
        COMPREPLY=($(compgen -W "text json" -- "$cur"))
        return ;;
    --stream)
        COMPREPLY=($(compgen -W "stdout stderr" -- "$cur"))
        return ;;
    --timeout | -n | --metrics)
        return ;;
    esac
    case $cmd in
    run)
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--check --subreaper --timestamps --log-format
                                     --quiet --stay --metrics --socket --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -X '!*.lua' -- "$cur") $(compgen -d -- "$cur"))
        fi ;;
    signal)
        if ((COMP_CWORD == 2)); then
            COMPREPLY=($(compgen -W "HUP INT QUIT KILL USR1 USR2 TERM CONT STOP WINCH" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_tend_procs) --socket --help" -- "$cur"))
        fi ;;
    status)
        COMPREPLY=($(compgen -W "$(_tend_procs) --json --names --socket --help" -- "$cur")) ;;
    start | restart | kill)
        COMPREPLY=($(compgen -W "$(_tend_procs) --socket --help" -- "$cur")) ;;
    stop)
        COMPREPLY=($(compgen -W "$(_tend_procs) --timeout --socket --help" -- "$cur")) ;;
    logs)
        COMPREPLY=($(compgen -W "$(_tend_procs) -n --lines --stream -f --follow -t --timestamps --json --socket --help" -- "$cur")) ;;
    wait)
        COMPREPLY=($(compgen -W "$(_tend_procs) --ready --exit --timeout --socket --help" -- "$cur")) ;;
    scale)
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--socket --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_tend_sets)" -- "$cur"))
        fi ;;
    reload | top | metrics | shutdown)
        COMPREPLY=($(compgen -W "--socket --help" -- "$cur")) ;;
    esac
}

complete -F _tend tend
