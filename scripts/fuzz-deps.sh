#!/bin/sh
# fuzz-deps.sh -- make sure clang's libFuzzer is there for `make fuzz`.
# Checks that $FUZZ_CC (default clang) can build and link a fuzzer with
# AddressSanitizer and UBSan.  As root it installs Debian's clang and the
# matching libclang-rt-N-dev (libFuzzer and the sanitizer runtimes) with
# apt-get; otherwise it prints the command to run and fails.
# (scripts/deps.sh checks the libraries tend itself builds against.)
set -eu

cc=${FUZZ_CC:-clang}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# whether $cc links a trivial fuzzer with the sanitizers make fuzz uses
can_fuzz() {
    command -v "$cc" >/dev/null 2>&1 || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }' > "$tmp/t.c"
    "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" >/dev/null 2>&1
}

can_fuzz && exit 0

# the packages: clang, and the runtime package of its major version
pkgs="clang"
if command -v "$cc" >/dev/null 2>&1; then
    v=$("$cc" --version | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
    [ -n "$v" ] && pkgs="clang-$v libclang-rt-$v-dev"
else
    pkgs="clang libclang-rt-dev"
fi

echo "tend: make fuzz needs clang with libFuzzer ($cc -fsanitize=fuzzer does not link)" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tend: installing $pkgs with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >&2
    if ! can_fuzz; then
        # clang was not there before: now its version is known
        v=$("$cc" --version | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
        [ -n "$v" ] && apt-get install -y -qq --no-install-recommends "libclang-rt-$v-dev" >&2
    fi
    can_fuzz && exit 0
    echo "tend: $cc still cannot link a fuzzer after installing $pkgs" >&2
    exit 1
fi
echo "tend: install them first, as root:" >&2
echo "    apt-get install $pkgs" >&2
exit 1
