# Sourced by the other scripts: finds Java 25 and Maven, sets the variables every run needs.
# shellcheck shell=bash

radixlm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

java_major() {
    "$1/bin/java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

find_java() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        local v; v=$(java_major "$JAVA_HOME")
        if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then return 0; fi
    fi
    local candidate
    for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk /usr/lib/jvm/java-25-openjdk-amd64; do
        if [ -x "$candidate/bin/java" ]; then export JAVA_HOME="$candidate"; return 0; fi
    done
    echo "radixlm needs Java 25 or newer: set JAVA_HOME to a Java 25 JDK (looked at \$JAVA_HOME and /usr/lib/jvm/temurin-25-jdk-amd64)." >&2
    return 1
}

find_maven() {
    if command -v mvn >/dev/null 2>&1; then return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Maven not found: installing Debian's maven package..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven) >&2 && return 0
    fi
    echo "radixlm needs Apache Maven (mvn) to build: install it (Debian: apt-get install maven)." >&2
    return 1
}

find_java || exit 2
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8 on Java 25 warns about sun.misc.Unsafe in its own libraries; the build is ours to keep quiet.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
# DJL's tokenizer library otherwise tries to reach a metadata address at start-up.
export OPT_OUT_TRACKING=true
