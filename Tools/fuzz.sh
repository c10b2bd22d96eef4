#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (release, -sanitize=fuzzer,address)
# and runs each for a given time. See Fuzz/README.md.
#
# usage: Tools/fuzz.sh [--seconds N] [--jobs J] [--no-build] [--make-seeds] [--list] [TARGET ...]
#
#   --seconds N    run each target N seconds (default 60); 0 builds only
#   --jobs J       J fuzzer processes per target, sharing its corpus (default 1)
#   --no-build     use the binaries already in .build-fuzz
#   --make-seeds   (re)write the seed corpora in Fuzz/Corpus (make-corpus.py
#                  and FuzzMakeSeeds), then continue
#   --list         print the targets and exit
#   TARGET ...     the targets to run (default: all, in Fuzz/Targets)
#
# Each target fuzzes a working copy of its seeds, .build-fuzz/corpus/TARGET
# (the committed Fuzz/Corpus is never grown). Crashing, hanging (-timeout=10)
# and out-of-memory inputs are written to Fuzz/Crashers/TARGET/, where the
# normal test suite replays them (FuzzCrasherTests). Logs go to
# .build-fuzz/logs/; every run appends its summary to .build-fuzz/fuzz-history.tsv.
# Exits 1 when any target crashed or hung.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SCRATCH="$ROOT/.build-fuzz"
SECONDS_EACH=60
JOBS=1
BUILD=1
SEEDS=0
LIST=0
SELECTED=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --make-seeds) SEEDS=1; shift ;;
        --list) LIST=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) SELECTED+=("$1"); shift ;;
    esac
done

ALL=()
for d in Fuzz/Targets/*/; do ALL+=("$(basename "$d")"); done
if [ "$LIST" = 1 ]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
if [ ${#SELECTED[@]} -eq 0 ]; then SELECTED=("${ALL[@]}"); fi
for t in "${SELECTED[@]}"; do
    [ -d "Fuzz/Targets/$t" ] || { echo "fuzz.sh: no target $t (known: ${ALL[*]})" >&2; exit 2; }
done

# The longest input libFuzzer makes, per target (the seeds are smaller).
max_len() {
    case "$1" in
        SplatFile) echo 1024 ;;
        NerfModelFile|GaussianCheckpoint) echo 32768 ;;
        GaussianPLY) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

if [ "$BUILD" = 1 ]; then
    echo "fuzz.sh: building the fuzz targets into .build-fuzz (release, fuzzer+address sanitizer)"
    # -Xswiftc reaches the build-tool plugin's SPIRVEmbed too: lld links it
    # (gold fails on its ASan debug info) and its leak report is turned off
    # so that the shader compilation steps succeed.
    # Built from a snapshot of the sources (.build-fuzz/src, refreshed file
    # by file so that unchanged files keep their build state): an edit made
    # in the tree during the build cannot fail it.
    python3 - "$ROOT" "$SCRATCH/src" <<'PY'
import os, shutil, sys
root, dest = sys.argv[1], sys.argv[2]
items = ["Package.swift", "Package.resolved", "Sources", "Plugins", "Shaders", "Tests",
         "Fuzz/Package.swift", "Fuzz/Support", "Fuzz/Targets", "Fuzz/Seeds"]
wanted = set()
for item in items:
    src = os.path.join(root, item)
    if os.path.isfile(src):
        wanted.add(item)
    for d, dirs, files in os.walk(src):
        dirs[:] = [x for x in dirs if not x.startswith(".build")]
        wanted.update(os.path.relpath(os.path.join(d, f), root) for f in files)
for rel in wanted:
    a, b = os.path.join(root, rel), os.path.join(dest, rel)
    sa = os.stat(a)
    try:
        sb = os.stat(b)
        if sb.st_size == sa.st_size and int(sb.st_mtime) == int(sa.st_mtime):
            continue
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(b), exist_ok=True)
    shutil.copy2(a, b)
for d, dirs, files in os.walk(dest, topdown=False):
    for f in files:
        if os.path.relpath(os.path.join(d, f), dest) not in wanted:
            os.remove(os.path.join(d, f))
    if d != dest and not os.listdir(d):
        os.rmdir(d)
PY
    ASAN_OPTIONS=detect_leaks=0 nice -n 10 swift build --package-path "$SCRATCH/src/Fuzz" --scratch-path "$SCRATCH" -c release \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
fi
BIN="$SCRATCH/release"

if [ "$SEEDS" = 1 ]; then
    python3 Fuzz/make-corpus.py
    ASAN_OPTIONS=detect_leaks=0 "$BIN/FuzzMakeSeeds" Fuzz/Corpus
fi
[ "$SECONDS_EACH" -gt 0 ] || exit 0

mkdir -p "$SCRATCH/logs"
HISTORY="$SCRATCH/fuzz-history.tsv"
[ -f "$HISTORY" ] || printf 'date\ttarget\tseconds\tjobs\tinputs\tcrashes\thangs\n' > "$HISTORY"
FAILED=0
SUMMARY=()
for t in "${SELECTED[@]}"; do
    exe="$BIN/Fuzz$t"
    [ -x "$exe" ] || { echo "fuzz.sh: $exe is missing (build first)" >&2; exit 2; }
    work="$SCRATCH/corpus/$t"
    crashers="Fuzz/Crashers/$t"
    mkdir -p "$work" "$crashers"
    [ -d "Fuzz/Corpus/$t" ] && cp -n "Fuzz/Corpus/$t/"* "$work/" 2>/dev/null || true
    dict=()
    [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=("-dict=Fuzz/Dictionaries/$t.dict")
    before=$(ls "$crashers" | wc -l)
    stamp="$(date +%Y%m%d-%H%M%S)"
    echo "fuzz.sh: $t for ${SECONDS_EACH}s x $JOBS job(s), log $SCRATCH/logs/$t-$stamp-*.log"
    pids=()
    for j in $(seq 1 "$JOBS"); do
        # Artifacts go to a private folder first: a crasher is named by its
        # kind (crash-, timeout-, oom-, leak-) and SHA-1. Not .build-fuzz/artifacts:
        # SwiftPM owns that folder of its scratch path and clears it when it builds.
        mkdir -p "$SCRATCH/fuzz-artifacts/$t"
        nice -n 10 "$exe" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
            -max_len="$(max_len "$t")" -print_final_stats=1 "${dict[@]}" \
            -artifact_prefix="$SCRATCH/fuzz-artifacts/$t/" "$work" "Fuzz/Corpus/$t" \
            > "$SCRATCH/logs/$t-$stamp-$j.log" 2>&1 &
        pids+=($!)
    done
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    inputs=0
    for j in $(seq 1 "$JOBS"); do
        n=$(grep -a 'stat::number_of_executed_units' "$SCRATCH/logs/$t-$stamp-$j.log" | awk '{print $2}' | tail -1)
        inputs=$((inputs + ${n:-0}))
    done
    crashes=0 hangs=0
    for f in "$SCRATCH/fuzz-artifacts/$t"/*; do
        [ -f "$f" ] || continue
        case "$(basename "$f")" in
            timeout-*) hangs=$((hangs + 1)) ;;
            crash-*|oom-*|leak-*) crashes=$((crashes + 1)) ;;
            *) continue ;;
        esac
        mv "$f" "$crashers/"
    done
    if [ "$status" != 0 ] && [ $((crashes + hangs)) -eq 0 ]; then
        crashes=1  # died without an artifact (see the log)
    fi
    [ $((crashes + hangs)) -gt 0 ] && FAILED=1
    line=$(printf '%-20s %6ss %12s inputs %3s crashes %3s hangs' "$t" "$SECONDS_EACH" "$inputs" "$crashes" "$hangs")
    echo "$line"
    SUMMARY+=("$line")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -Iseconds)" "$t" "$((SECONDS_EACH * JOBS))" "$JOBS" "$inputs" "$crashes" "$hangs" >> "$HISTORY"
done
echo
echo "target               seconds       inputs     crashes   hangs"
printf '%s\n' "${SUMMARY[@]}"
if [ "$FAILED" = 1 ]; then
    echo "fuzz.sh: crashers are in Fuzz/Crashers/ (replayed by swift test --filter FuzzCrasher)" >&2
    exit 1
fi
