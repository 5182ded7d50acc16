# A shared remote cache (docs/cluster.md) on a real server: Debian's nginx with WebDAV PUT on
# loopback, started here. Two hosts' worth of shards (each host its own local cache, its two
# shards cooperating on it) share the remote: every step is computed once between them; a third
# host with an empty cache computes only the aggregates and the report, and a fourth, nothing,
# with the same report as one host alone. Evicted or damaged entries are misses, recomputed; a
# remote that does not answer is a warning, not a failure.
source "$(dirname "$0")/lib.inc"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx not installed (scripts/setup.sh --test installs it)"; exit 77; }

source "$SRC/scripts/nginx-cache.inc"
nginx_cache_start "$W" $((30000 + ($$ % 20000))) || fail "nginx did not start"
trap 'kill $NGINX_CACHE_PID 2>/dev/null; wait $NGINX_CACHE_PID 2>/dev/null; rm -rf "$W"' EXIT
R=$NGINX_CACHE_URL

"$GHX" run experiments/demo.toml --cache single --out ref --json >ref.json 2>/dev/null
total=$(json_field total "$(cat ref.json)")

host() {  # NAME SHARD SHARD: two shards at once on one local cache
  "$GHX" run experiments/demo.toml --cache "$1" --remote "$R" --shard "$2/4" --json >"$1-$2.json" 2>"$1-$2.err" &
  local a=$!
  "$GHX" run experiments/demo.toml --cache "$1" --remote "$R" --shard "$3/4" --json >"$1-$3.json" 2>"$1-$3.err" || { cat "$1-$3.err" >&2; fail "$1 shard $3"; }
  wait $a || { cat "$1-$2.err" >&2; fail "$1 shard $2"; }
}
host hostA 1 2
host hostB 3 4
computed=0
for f in hostA-1 hostA-2 hostB-3 hostB-4; do
  o=$(cat "$f.json")
  expect_eq "$(json_field failed "$o")" 0 "$f failed"
  expect_eq "$(json_field errors "$o")" 0 "$f remote errors"
  computed=$((computed + $(json_field executed "$o")))
done
expect_eq "$computed" "$((total - 5))" "steps computed by the four shards on two hosts"
hits=$(( $(json_field hits "$(cat hostB-3.json)") + $(json_field hits "$(cat hostB-4.json)") ))
[ "$hits" -gt 0 ] || fail "host B fetched nothing from the remote (the shared inputs host A stored)"

# Host C: an empty local cache; everything but the aggregates and the report comes from the remote.
o=$("$GHX" run experiments/demo.toml --cache hostC --remote "$R" --out repC --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 5 "host C computed"
expect_eq "$(json_field hits "$o")" "$((total - 5))" "host C fetched"
diff -r ref repC >/dev/null || fail "host C's report differs from one host's: $(diff -rq ref repC)"
# Host D: the whole review from the remote, through [cache] remote in the review itself.
sed "s#^\[generation\]#[cache]\nremote = \"$R\"\n\n[generation]#" experiments/demo.toml >experiments/remote.toml
o=$("$GHX" run experiments/remote.toml --cache hostD --out repD --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 0 "host D computed"
diff -r ref repD >/dev/null || fail "host D's report differs: $(diff -rq ref repD)"

# Evicted bytes and a damaged record: misses, recomputed, the same report.
ls store/cas | sed -n 1,3p | while read -r f; do rm "store/cas/$f"; done
first_ac=$(ls store/ac | sed -n 1p)
printf 'not a record' >"store/ac/$first_ac"
o=$("$GHX" run experiments/demo.toml --cache hostE --remote "$R" --out repE --json 2>err.txt)
ex=$(json_field executed "$o")
[ "$ex" -ge 1 ] && [ "$ex" -le 8 ] || fail "host E recomputed $ex steps for 3 evicted blobs and 1 damaged record"
expect_eq "$(json_field errors "$o")" 0 "host E: a miss is no error"
diff -r ref repE >/dev/null || fail "host E's report differs: $(diff -rq ref repE)"

# Records are written after their bytes: every record names bytes the server holds (but those evicted above).
missing=0
for f in store/ac/*; do
  sha=$(sed -n 's/.*"cas":"\([0-9a-f]*\)".*/\1/p' "$f")
  [ -z "$sha" ] || [ -e "store/cas/$sha" ] || missing=$((missing + 1))
done
[ "$missing" -le 3 ] || fail "$missing records name bytes the server does not hold"

# A remote that does not answer: a warning, the run completes locally.
o=$("$GHX" run experiments/demo.toml --cache hostF --remote "http://127.0.0.1:1/" --out repF --json 2>err.txt)
expect_eq "$(json_field executed "$o")" "$total" "steps run without the remote"
grep -q "remote cache http://127.0.0.1:1/ does not answer" err.txt || fail "message: $(cat err.txt)"
# A remote URL that is not http(s): bad input at its position.
sed "s#^\[generation\]#[cache]\nremote = \"ftp://x\"\n\n[generation]#" experiments/demo.toml >experiments/ftp.toml
set +e
"$GHX" run experiments/ftp.toml --cache hostG >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code for an ftp remote"
grep -q "ftp.toml:.*remote must be an http" err.txt || fail "message: $(cat err.txt)"
echo ok
