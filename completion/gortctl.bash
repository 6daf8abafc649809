# bash completion for gortctl(1)
#
# Installed as /usr/share/bash-completion/completions/gortctl, or sourced
# by hand:  . completion/gortctl.bash
#
# Completes the global options anywhere before the command, the commands,
# each command's options and fixed words (history kinds, formats, on/off),
# plugin files for load, and, for unload, start and goroutines --plugin,
# the names of the plugins the daemon has loaded (asked with
# `gortctl plugins`, on the socket the line names, so nothing is guessed
# when the daemon is not there).

_gortctl_commands="stats memstats gc freeosmemory setgc memlimit gomaxprocs
    gctrace schedtrace goroutines plugins load unload start stop history
    metrics top version help"

# The loaded plugins' names: the first column of the first table of
# `gortctl plugins`, header skipped, up to its blank line.
_gortctl_plugin_names()
{
    local sock=$1
    local -a opt=()
    [[ -n $sock ]] && opt=(--socket "$sock")
    gortctl "${opt[@]}" --color never plugins 2>/dev/null |
        awk 'NR == 1 { next } /^$/ { exit } { print $1 }'
}

# Files: bash-completion's _filedir when it is loaded, else compgen
# (pattern: an extension, e.g. so, to offer only those and directories).
_gortctl_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir "$@"
        return
    fi
    compopt -o filenames 2>/dev/null
    if [[ -n $1 ]]; then
        COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X "!*.$1" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

_gortctl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${words[cword]}
        prev=${words[cword - 1]}
    fi

    # Find the command and the --socket given, skipping global options.
    local i cmd= cmdi=0 sock=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) sock=${words[i + 1]}; ((i++)) ;;
            --socket=*) sock=${words[i]#--socket=} ;;
            --color) ((i++)) ;;
            --*) ;;
            *) cmd=${words[i]}; cmdi=$i; break ;;
        esac
    done

    case $prev in
        --socket)
            _gortctl_files
            return
            ;;
        --color)
            COMPREPLY=($(compgen -W 'auto always never' -- "$cur"))
            return
            ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--socket --json --color --help' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_gortctl_commands" -- "$cur"))
        fi
        return
    fi

    local globals='--json --color --socket --help'
    local nargs=$((cword - cmdi - 1))   # words after the command, before cur
    case $cmd in
        help)
            ((nargs == 0)) && COMPREPLY=($(compgen -W "$_gortctl_commands" -- "$cur"))
            ;;
        setgc)
            COMPREPLY=($(compgen -W "off $globals" -- "$cur"))
            ;;
        memlimit)
            COMPREPLY=($(compgen -W "off $globals" -- "$cur"))
            ;;
        gctrace)
            COMPREPLY=($(compgen -W "on off --follow $globals" -- "$cur"))
            ;;
        schedtrace)
            COMPREPLY=($(compgen -W "--follow --detail $globals" -- "$cur"))
            ;;
        goroutines)
            if [[ $prev == --plugin ]]; then
                COMPREPLY=($(compgen -W "$(_gortctl_plugin_names "$sock")" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--plugin $globals" -- "$cur"))
            fi
            ;;
        load)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$globals" -- "$cur"))
            else
                _gortctl_files so
            fi
            ;;
        unload)
            case $prev in
                --timeout) ;;
                *)
                    if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "--timeout $globals" -- "$cur"))
                    elif ((nargs == 0)); then
                        COMPREPLY=($(compgen -W "$(_gortctl_plugin_names "$sock")" -- "$cur"))
                    fi
                    ;;
            esac
            ;;
        start)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$globals" -- "$cur"))
            elif ((nargs == 0)); then
                COMPREPLY=($(compgen -W "$(_gortctl_plugin_names "$sock")" -- "$cur"))
            fi
            ;;
        stop)
            [[ $prev != --timeout ]] && COMPREPLY=($(compgen -W "--timeout $globals" -- "$cur"))
            ;;
        history)
            case $prev in
                --order) COMPREPLY=($(compgen -W 'asc desc' -- "$cur")) ;;
                --format) COMPREPLY=($(compgen -W 'table json csv' -- "$cur")) ;;
                --since | --until) COMPREPLY=($(compgen -W 'now 1h 1d 7d' -- "$cur")) ;;
                --limit) ;;
                *)
                    if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "--since --until --limit --order --format $globals" -- "$cur"))
                    elif ((nargs == 0)); then
                        COMPREPLY=($(compgen -W 'gc memstats sched scavenger events audit' -- "$cur"))
                    fi
                    ;;
            esac
            ;;
        top)
            [[ $prev != --interval ]] && COMPREPLY=($(compgen -W "--interval --once $globals" -- "$cur"))
            ;;
        *)
            [[ $cur == -* ]] && COMPREPLY=($(compgen -W "$globals" -- "$cur"))
            ;;
    esac
} &&
    complete -F _gortctl gortctl

# ex: filetype=sh
