#!/usr/bin/env bash
# Mutation testing of the fast suite: applies each mutation of scripts/mutations.txt to a
# scratch copy of the working tree, builds, runs the tests that need no lab, and says
# whether a test failed (killed) or all passed (survived). A tool, not part of CI's run.
#
#   scripts/mutation-test.sh [--check | --coverage] [--list FILE] [--only TEXT]... [--tests TARGET]...
#
#   --check       only check that every mutation still applies (each TEXT once in its file)
#   --coverage    only list the source files the mutations must cover (COVERED_SOURCES below),
#                 each with the number of mutations whose `file` it is, NONE for none; exits 1
#                 when a file has none
#   --list FILE   another mutation list
#   --only TEXT   run only the mutations whose name contains TEXT (repeatable)
#   --tests TARGET  run only the mutations whose `tests` line names the test target TARGET
#                 (repeatable; with --only, a mutation either selects is run)
#
# Prints one line per mutation and last `killed K of N`. The scratch copy and its build
# stay in .build-mutation/ (later runs rebuild only what changed); each mutant's build and
# test output is kept in .build-mutation/logs/. Exit status: 0 when every mutation was
# applied, built and judged; 1 otherwise (a stale or non-compiling mutation is an error,
# not a kill).
source "$(dirname "$0")/lib/common.sh"

list="$REPO_ROOT/scripts/mutations.txt"
# The sources every one of whose files must have a mutation (`--coverage`): folders (their
# Swift and C files) and single files, relative to the repository.
COVERED_SOURCES=(
    Sources/CMemeater/memeater.c
    Sources/MemeaterKit
    Sources/PingMonitor/Analysis
    Sources/PingMonitor/Packets
    Sources/MigrationModel
    Sources/SweepReport
    Sources/Verifier/Core/Checks.swift
    Sources/Verifier/Faults
    Sources/Verifier/Sweep
    Sources/Verifier/Evacuation
)
check_only=0
coverage_only=0
only=()
tests_targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check_only=1 ;;
        --coverage) coverage_only=1 ;;
        --list) [ $# -ge 2 ] || die "--list needs a file"; list="$2"; shift ;;
        --only) [ $# -ge 2 ] || die "--only needs a text"; only+=("$2"); shift ;;
        --tests) [ $# -ge 2 ] || die "--tests needs a test target"; tests_targets+=("$2"); shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[ -r "$list" ] || die "cannot read the mutation list $list"
command -v perl >/dev/null || die "perl is needed to apply mutations (Debian: perl-base)"

# ---------------------------------------------------------------- the list
names=() files=() targets=() froms=() tos=()
parse_list() {
    local line name="" file="" target="" from="" to="" number=0
    flush() {
        [ -n "$name" ] || return 0
        [ -n "$file" ] && [ -n "$from" ] && [ -n "$to" ] || die "$list: mutation $name needs file, - and + lines"
        names+=("$name") files+=("$file") targets+=("$target") froms+=("$from") tos+=("$to")
        name="" file="" target="" from="" to=""
    }
    while IFS= read -r line || [ -n "$line" ]; do
        number=$((number + 1))
        case "$line" in
            ''|'#'*) ;;
            '@ '*) flush; name="${line#@ }"; name="${name%%:*}" ;;
            'file '*) file="${line#file }" ;;
            'tests '*) target="${line#tests }" ;;
            '- '*) from="${line#- }" ;;
            '+ '*) to="${line#+ }" ;;
            *) die "$list:$number: cannot read: $line" ;;
        esac
    done < "$list"
    flush
}
parse_list
[ "${#names[@]}" -gt 0 ] || die "$list holds no mutation"

# selected INDEX: whether the mutation at INDEX is to be run (--only, --tests).
selected() {
    [ "${#only[@]}" -eq 0 ] && [ "${#tests_targets[@]}" -eq 0 ] && return 0
    local text
    for text in "${only[@]}"; do [[ "${names[$1]}" == *"$text"* ]] && return 0; done
    for text in "${tests_targets[@]}"; do [ "${targets[$1]%%.*}" = "$text" ] && return 0; done
    return 1
}

# apply_mutation ROOT INDEX: replaces the mutation's text in its file under ROOT; fails
# unless the text occurs exactly once. `\n` in the list stands for a newline.
apply_mutation() {
    local root="$1" index="$2"
    MUTATION_FROM="${froms[$index]}" MUTATION_TO="${tos[$index]}" perl -0777 -i -pe '
        BEGIN { ($from, $to) = ($ENV{MUTATION_FROM}, $ENV{MUTATION_TO}); s/\\n/\n/g for $from, $to; }
        $count = () = /\Q$from\E/g;
        if ($count != 1) { print STDERR "found $count times\n"; exit 3; }
        s/\Q$from\E/$to/;
    ' "$root/${files[$index]}"
}

if [ "$coverage_only" -eq 1 ]; then
    sources=()
    while IFS= read -r path; do
        [ -f "$REPO_ROOT/$path" ] && sources+=("$path")
    done < <(cd "$REPO_ROOT" && git ls-files -co --exclude-standard -- "${COVERED_SOURCES[@]}" | grep -E '\.(swift|c)$' | sort -u)
    [ "${#sources[@]}" -gt 0 ] || die "none of ${COVERED_SOURCES[*]} holds a source file"
    uncovered=0
    for path in "${sources[@]}"; do
        count=0
        for file in "${files[@]}"; do [ "$file" = "$path" ] && count=$((count + 1)); done
        if [ "$count" -eq 0 ]; then
            printf '%5s  %s\n' NONE "$path"; uncovered=$((uncovered + 1))
        else
            printf '%5d  %s\n' "$count" "$path"
        fi
    done
    echo "$((${#sources[@]} - uncovered)) of ${#sources[@]} files have a mutation"
    [ "$uncovered" -eq 0 ]
    exit
fi

if [ "$check_only" -eq 1 ]; then
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    stale=0
    for index in "${!names[@]}"; do
        selected "$index" || continue
        source_file="$REPO_ROOT/${files[$index]}"
        if [ ! -f "$source_file" ]; then
            echo "STALE     ${names[$index]}: ${files[$index]} does not exist"; stale=1; continue
        fi
        mkdir -p "$scratch/$(dirname "${files[$index]}")"
        cp "$source_file" "$scratch/${files[$index]}"
        if ! reason="$(apply_mutation "$scratch" "$index" 2>&1)"; then
            echo "STALE     ${names[$index]}: its text is ${reason:-not applicable} in ${files[$index]}"; stale=1
        fi
        tests="${targets[$index]}"
        if [ -n "$tests" ] && { [ ! -d "$REPO_ROOT/Tests/${tests%%.*}" ] \
            || { [[ "$tests" == *.* ]] && ! grep -rqE "class ${tests#*.}\b" "$REPO_ROOT/Tests/${tests%%.*}"; }; }; then
            echo "STALE     ${names[$index]}: its tests line names ${tests}, which Tests/ does not hold"; stale=1
        fi
    done
    [ "$stale" -eq 0 ] && log "all ${#names[@]} mutations apply"
    exit "$stale"
fi

# ---------------------------------------------------------------- the scratch copy
require_root
ensure_build_packages
work="$REPO_ROOT/.build-mutation"
copy="$work/src"
logs="$work/logs"
mkdir -p "$copy" "$logs"

# Copies tracked and new (not ignored) files whose content differs, so that the scratch
# build recompiles only what changed; removes sources that are gone.
sync_copy() {
    local path wanted="$work/files.txt"
    (cd "$REPO_ROOT" && git ls-files -co --exclude-standard) | grep -v '^\.build' | sort > "$wanted"
    while IFS= read -r path; do
        [ -f "$REPO_ROOT/$path" ] || continue
        if ! cmp -s "$REPO_ROOT/$path" "$copy/$path"; then
            mkdir -p "$copy/$(dirname "$path")"
            cp "$REPO_ROOT/$path" "$copy/$path"
        fi
    done < "$wanted"
    (cd "$copy" && find Sources Tests scripts -type f 2>/dev/null | sort) | comm -23 - "$wanted" \
        | while IFS= read -r path; do rm -f "$copy/$path"; done
}

# The unmutated file is kept aside while its mutant is tested (the working tree may change
# meanwhile) and copied back with a fresh modification time (no -p), so that the next
# build sees the file changed back.
save_file() { cp "$copy/$1" "$work/original"; }
restore_file() { cp "$work/original" "$copy/$1"; }

current=""
cleanup() {
    [ -n "$current" ] && restore_file "$current"
    case "$TMPDIR" in /tmp/mutation-test.*) rm -rf "$TMPDIR" ;; esac
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() { (cd "$copy" && swift build --build-tests) > "$1" 2>&1; }

# run_tests LOG [FILTER]: the fast suite (only FILTER's tests when given). A hang counts as
# a failure: a mutant that makes a test loop forever is caught too. The first failed test
# decides the verdict, so the run stops there: it runs in a session of its own (setsid),
# which is stopped whole (swift test starts the test binary in a process group of its own).
# Every temporary file of the run (SwiftPM's, the tests') goes to a directory of its own under
# /tmp (as open as /tmp: tcpdump writes there after dropping root), emptied after each test
# run and removed at the end: a test stopped at its first failure never reaches its tearDown,
# and SwiftPM leaves a TemporaryDirectory.* behind for each test binary it runs.
export TMPDIR
TMPDIR="$(mktemp -d /tmp/mutation-test.XXXXXX)" && chmod 1777 "$TMPDIR"
empty_tmp() { find "$TMPDIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; }

run_tests() {
    local log="$1" filter="${2:-}" runner
    (cd "$copy" && exec setsid timeout 900 swift test --skip-build ${filter:+--filter "$filter"} $(fast_suite_skips)) > "$log" 2>&1 &
    runner=$!
    while kill -0 "$runner" 2>/dev/null; do
        # -s: the test's log may not exist yet (its subshell creates it).
        if grep -qsE "^Test Case '[^']+' failed \(" "$log"; then
            stop_session "$runner"
            empty_tmp
            echo "stopped at the first failed test" >> "$log"
            return 1
        fi
        sleep 0.2
    done
    local status=0
    wait "$runner" || status=$?
    # What a run stopped at the timeout left (the test binary outlives swift test).
    stop_session "$runner"
    empty_tmp
    return "$status"
}

# stop_session SID: stops every process of the session SID (TERM, and KILL after ten seconds
# for a test binary that ignores TERM) and waits until none is left.
stop_session() {
    local session="$1" waited=0
    pkill -TERM -s "$session" 2>/dev/null || true
    wait "$session" 2>/dev/null || true
    while pgrep -s "$session" > /dev/null; do
        waited=$((waited + 1))
        [ "$waited" -eq 100 ] && pkill -KILL -s "$session" 2>/dev/null
        sleep 0.1
    done
    return 0
}

# first_filter TESTS: the `swift test --filter` of a mutation's `tests` line, TARGET (its
# tests) or TARGET.CLASS (one XCTest class: the one that killed it last, tried first because
# a whole target can take a minute before it reaches the test that fails).
first_filter() {
    case "$1" in
        *.*) printf '^%s\\.%s/' "${1%%.*}" "${1#*.}" ;;
        *) printf '^%s\\.' "$1" ;;
    esac
}

# The first failing test in a log, for the report line.
first_failure() {
    grep -m1 -oE "Test Case '[^']+' failed|error: .*(XCT[A-Za-z]+|Expectation)[^:]*|Fatal error: .*" "$1" \
        | sed -E "s/Test Case '([^']+)' failed/\1/; s/^-\[//; s/\]$//" | head -c 120 \
        || echo "a crash or exit status (see the log)"
}

sync_copy
log "building the scratch copy in $copy"
build "$logs/baseline-build.log" || die "the scratch copy does not build without mutation (see $logs/baseline-build.log)"
log "fast suite without mutation"
run_tests "$logs/baseline-test.log" || die "the fast suite fails without mutation (see $logs/baseline-test.log)"

killed=0 total=0 errors=0
for index in "${!names[@]}"; do
    name="${names[$index]}"
    selected "$index" || continue
    total=$((total + 1))
    slug="${name//\//-}"
    started=$SECONDS
    current="${files[$index]}"
    save_file "$current"
    if ! reason="$(apply_mutation "$copy" "$index" 2>&1)"; then
        printf '%-9s %s: its text is %s in %s\n' STALE "$name" "${reason:-not applicable}" "${files[$index]}"
        errors=$((errors + 1)); restore_file "$current"; current=""; continue
    fi
    if ! build "$logs/$slug.build.log"; then
        printf '%-9s %s: does not compile (%s)\n' ERROR "$name" "$logs/$slug.build.log"
        errors=$((errors + 1)); restore_file "$current"; current=""; continue
    fi
    verdict=SURVIVED by=""
    target="${targets[$index]}"
    if [ -n "$target" ] && ! run_tests "$logs/$slug.test.log" "$(first_filter "$target")"; then
        verdict=KILLED by="$(first_failure "$logs/$slug.test.log")"
    elif ! run_tests "$logs/$slug.test.log"; then
        verdict=KILLED by="$(first_failure "$logs/$slug.test.log")"
    fi
    restore_file "$current"; current=""
    [ "$verdict" = KILLED ] && killed=$((killed + 1))
    printf '%-9s %s (%d s)%s\n' "$verdict" "$name" $((SECONDS - started)) "${by:+ by $by}"
done
echo "killed $killed of $total"
[ "$errors" -eq 0 ]
