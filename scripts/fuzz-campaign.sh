#!/usr/bin/env bash
# A long fuzz campaign (docs/fuzzing.md): each target in BUILD_DIR runs SECONDS over its
# committed corpus, then what it found is merged (minimised) back into tests/fuzz/corpus/<name>,
# so the corpus grows only by inputs that add coverage. Run it under `nice`: CPU is shared.
# Usage: scripts/fuzz-campaign.sh BUILD_DIR SECONDS [name...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$1"
seconds="$2"
shift 2
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for target in $(find "$build_dir" -type f -name 'fuzz_*' -executable | sort); do
    n="$(basename "$target")"
    names+=("${n#fuzz_}")
  done
fi
for name in "${names[@]}"; do
  target="$build_dir/tests/fuzz/fuzz_$name"
  seeds="$ROOT/tests/fuzz/corpus/$name"
  scratch="$ROOT/tests/fuzz/corpus-run/campaign-$name"
  mkdir -p "$scratch" "$seeds"
  dict_args=()
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict_args=(-dict="$ROOT/tests/fuzz/$name.dict")
  # Parsers see replies of a few KiB; the file format target also takes whole store images
  # (17 pages of 4 KiB for the smallest store).
  max_len=4096
  [ "$name" = file_format ] && max_len=73728
  echo "campaign: $name for ${seconds}s"
  "$target" "${dict_args[@]}" -max_total_time="$seconds" -print_final_stats=1 -max_len="$max_len" \
    "$scratch" "$seeds" 2>&1 | grep -E '^#[0-9]+ +(DONE|INITED)|stat::|cov:' | tail -n 14
  echo "campaign: merging new coverage of $name into $seeds"
  "$target" -merge=1 "$seeds" "$scratch" 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true
  echo "campaign: $name corpus now $(ls "$seeds" | wc -l) files, $(du -sk "$seeds" | cut -f1) KiB"
done
