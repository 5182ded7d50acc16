# Damaged storage (docs/reliability.md): a full disk, a read-only cache, a garbage ghx.db, a
# missing row, a missing or truncated blob. Each gets one clear message and a non-zero exit (or,
# for what a run can repair, a warning); nothing good is lost; the next run recomputes only what
# is bad, and the report equals an undamaged run's. The disk is a small tmpfs this test mounts
# (root only: skipped, exit 77, where mounting is not allowed).
source "$(dirname "$0")/lib.inc"

mnt="$W/mnt"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=3m tmpfs "$mnt" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null; rm -rf "$W"' EXIT

"$GHX" run experiments/demo.toml --cache ref-cache --out ref --json >ref.json 2>/dev/null
total=$(json_field total "$(cat ref.json)")
errors() { grep -c '^ghx: error:' "$1" || true; }

# 1. Disk full: the cache on a 3 MB tmpfs (the demo's blobs take about 8 MB).
set +e
"$GHX" run experiments/demo.toml --cache "$mnt/cache" --keep-going --json >out.json 2>err.txt; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a run on a full disk exited 0"
expect_eq "$(errors err.txt)" 1 "error lines on a full disk ($(cat err.txt))"
grep -E "cannot store results: .*(No space left on device|database or disk is full)" err.txt >/dev/null || fail "full disk message: $(cat err.txt)"
grep '"storage_error"' out.json >/dev/null || fail "--json has no storage_error: $(cat out.json)"
[ ! -e reports/demo-v1 ] || fail "a report was written from a run that could not store its results"
mount -o remount,size=64m "$mnt"
out=$("$GHX" cache verify --cache "$mnt/cache" --json)
expect_eq "$(json_field bad "$out")" "[]" "bad entries after the disk filled"
kept=$(json_field checked "$out")
[ "$kept" -gt 0 ] || fail "nothing was kept from the run that filled the disk"
out=$("$GHX" run experiments/demo.toml --cache "$mnt/cache" --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" "$((total - kept))" "steps run once there was space"
diff -r ref reports/demo-v1 >/dev/null || fail "the report after a full disk differs"

# 2. Read-only cache folder (the file system remounted read-only; root ignores file modes).
mount -o remount,ro "$mnt"
set +e
"$GHX" run experiments/demo.toml --cache "$mnt/cache" >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code on a read-only cache"
expect_eq "$(errors err.txt)" 1 "error lines on a read-only cache ($(cat err.txt))"
grep -i "read-only\|readonly" err.txt >/dev/null || fail "read-only message: $(cat err.txt)"
mount -o remount,rw "$mnt"
out=$("$GHX" run experiments/demo.toml --cache "$mnt/cache" --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" 0 "steps redone after the cache was read-only"

# 3. A ghx.db of garbage: one error naming it; the blobs are not touched.
cp -r "$mnt/cache" garbage
rm -f garbage/ghx.db-wal garbage/ghx.db-shm
head -c 65536 /dev/urandom >garbage/ghx.db
blobs=$(find garbage/objects -type f | wc -l)
set +e
"$GHX" run experiments/demo.toml --cache garbage >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code on a garbage ghx.db"
expect_eq "$(errors err.txt)" 1 "error lines on a garbage ghx.db ($(cat err.txt))"
grep "garbage/ghx.db" err.txt | grep "not a database" >/dev/null || fail "garbage ghx.db message: $(cat err.txt)"
expect_eq "$(find garbage/objects -type f | wc -l)" "$blobs" "blobs after a garbage ghx.db"

# 4. A missing row, a missing blob, a truncated blob. A run reads only the results it needs, so
# `cache verify` finds the bad blobs and `--repair` drops their rows; the next run recomputes
# exactly those three steps.
cp -r "$mnt/cache" cache
sqlite3 cache/ghx.db "delete from steps where key = (select key from steps where kind='image_features' order by key limit 1)"
once="group by blob having count(*) = 1 order by blob limit 1"  # a blob no other row shares
gone=$(sqlite3 cache/ghx.db "select blob from steps where kind='metric' $once")
rm "cache/objects/${gone:0:2}/${gone:2}"
cut=$(sqlite3 cache/ghx.db "select blob from steps where kind='target_features' $once")
truncate -s 100 "cache/objects/${cut:0:2}/${cut:2}"
set +e
out=$("$GHX" cache verify --json 2>/dev/null); rc=$?
set -e
expect_eq "$rc" 3 "verify exit code with a missing and a truncated blob"
printf '%s' "$out" | grep '"problem":"missing"' >/dev/null || fail "verify did not name the missing blob: $out"
printf '%s' "$out" | grep '"problem":"corrupt"' >/dev/null || fail "verify did not name the truncated blob: $out"
out=$("$GHX" cache verify --repair --json 2>/dev/null)
expect_eq "$(json_field repaired "$out")" 2 "rows dropped by --repair"
out=$("$GHX" run experiments/demo.toml --json 2>err.txt)
expect_eq "$(json_field executed "$out")" 3 "steps recomputed for one missing row, one missing and one truncated blob"
diff -r ref reports/demo-v1 >/dev/null || fail "the report after repairs differs"
out=$("$GHX" cache verify --json)
expect_eq "$(json_field bad "$out")" "[]" "bad entries after the repairs"
echo "1 passed, 0 failed"
