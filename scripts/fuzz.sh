#!/usr/bin/env bash
# Builds the libFuzzer targets (HTTP parser, CSV reader, JSON parser, line protocol) with AddressSanitizer and
# runs each for the given number of seconds (default 300). Prints one line per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-300}}
out=.build/fuzz
mkdir -p "$out"

build() {
  local name=$1; shift
  swiftc -sanitize=fuzzer,address -parse-as-library -O "$@" -o "$out/fuzz-$name" 2>"$out/build-$name.log" || {
    cat "$out/build-$name.log" >&2; exit 1; }
}
build http Fuzz/FuzzHTTP.swift Sources/HTTP1/HTTPRequestParser.swift Sources/HTTP1/HTTPMessage.swift Sources/HTTP1/HTTPRequestBody.swift
build csv Fuzz/FuzzCSV.swift Sources/CSV/CSVReader.swift
build json Fuzz/FuzzJSON.swift Sources/JSON/JSONValue.swift Sources/JSON/JSONParser.swift Sources/JSON/JSONWriter.swift
# The line protocol imports the JSON module: build it first, instrumented the same way.
swiftc -emit-library -static -emit-module -module-name JSON -parse-as-library -O -sanitize=fuzzer,address \
  -o "$out/libJSON.a" -emit-module-path "$out/JSON.swiftmodule" Sources/JSON/*.swift \
  2>"$out/build-JSON.log" || { cat "$out/build-JSON.log" >&2; exit 1; }
build lines Fuzz/FuzzLines.swift Sources/Protocol/*.swift \
  -I "$out" -L "$out" -lJSON

status=0
for name in http csv json lines; do
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  cp Fuzz/seeds/$name/* "$corpus/" 2>/dev/null || true
  log="$out/run-$name.log"
  if "$out/fuzz-$name" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 > "$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    echo "fuzz $name: $runs inputs in ${seconds} s, no crash, corpus $(ls "$corpus" | wc -l) files"
  else
    echo "fuzz $name: FAILED, see $log"; tail -30 "$log"; status=1
  fi
done
exit $status
