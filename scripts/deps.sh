#!/bin/sh
# deps.sh -- make sure the Debian libraries tend builds against are present.
# As root it installs what is missing with apt-get; otherwise it prints the
# command to run and fails.
set -eu

# header file -> Debian package
missing=""
check() {
    [ -f "$1" ] || missing="$missing $2"
}
check /usr/include/lua5.4/lua.h liblua5.4-dev
check /usr/include/ev.h libev-dev
check /usr/include/cmocka.h libcmocka-dev
check /usr/include/jansson.h libjansson-dev
check /usr/include/microhttpd.h libmicrohttpd-dev
# shells the completion tests load tend's zsh and fish completions in
command -v zsh >/dev/null 2>&1 || missing="$missing zsh"
command -v fish >/dev/null 2>&1 || missing="$missing fish"

[ -z "$missing" ] && exit 0

echo "tend: missing build libraries:$missing" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tend: installing them with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
    exit 0
fi
echo "tend: install them first, as root:" >&2
echo "    apt-get install$missing" >&2
exit 1
