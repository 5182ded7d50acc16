# Bundles of the demo review (docs/bundles.md): GNU tar extracts one, `sha256sum -c SHA256SUMS`
# passes inside its top folder, bundling again gives the same bytes, --with-images carries the
# PNGs, `verify --json` says ok, and a tampered copy fails verify with exit 3.
source "$(dirname "$0")/lib.inc"

set +e
"$GHX" bundle experiments/demo.toml -o early.tar >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "bundle before the review was run"
grep -q 'run `ghx run experiments/demo.toml` first' err.txt || fail "bundle before run: $(cat err.txt)"

"$GHX" run experiments/demo.toml --json >/dev/null 2>&1
"$GHX" bundle experiments/demo.toml -o demo.tar >/dev/null
"$GHX" bundle experiments/demo.toml -o again.tar >/dev/null
cmp -s demo.tar again.tar || fail "two bundles of the same review differ"

mkdir x && tar -xf demo.tar -C x
[ "$(ls x)" = "demo-v1" ] || fail "top folder: $(ls x)"
(cd x/demo-v1 && sha256sum --quiet -c SHA256SUMS) || fail "sha256sum -c SHA256SUMS"
for f in declarations/experiments/demo.toml declarations/suites/styles_demo.toml review.json plan.jsonl \
         results/results.json report/report.html report/report.md report/results.json report/results.csv manifest.json; do
  [ -f "x/demo-v1/$f" ] || fail "bundle has no $f"
done
expect_eq "$(wc -l < x/demo-v1/plan.jsonl | tr -d ' ')" 525 "plan.jsonl lines"
[ -d x/demo-v1/images ] && fail "images without --with-images"
# The contact sheets' thumbnails travel with the report (13 prompts x 3 checkpoints), and every
# thumbnail the page links to is there; their full images only with --with-images.
expect_eq "$(find x/demo-v1/report/thumbs -name '*.png' | wc -l | tr -d ' ')" 39 "thumbnails in the bundle"
for t in $(grep -o 'src="thumbs/[0-9a-f]*\.png"' x/demo-v1/report/report.html | cut -d'"' -f2); do
  [ -f "x/demo-v1/report/$t" ] || fail "report.html links to $t, not in the bundle"
done
[ -d x/demo-v1/report/images ] && fail "full contact-sheet images without --with-images"

"$GHX" bundle experiments/demo.toml --with-images -o demo.tar.gz >/dev/null
mkdir y && tar -xzf demo.tar.gz -C y
expect_eq "$(find y/demo-v1/images -name '*.png' | wc -l | tr -d ' ')" 156 "PNGs in the --with-images bundle"
expect_eq "$(find y/demo-v1/report/images -name '*.png' | wc -l | tr -d ' ')" 39 "contact-sheet images with --with-images"
(cd y/demo-v1 && sha256sum --quiet -c SHA256SUMS) || fail "sha256sum -c SHA256SUMS (with images)"

out=$("$GHX" verify demo.tar.gz --json)
expect_eq "$(json_field ok "$out")" true "verify --json ok"
expect_eq "$(json_field rederived_steps "$out")" 525 "steps re-derived from the declarations"

# One byte of the report changed, the archive rebuilt by GNU tar: verify names the file.
sed -i '0,/demo/s//dEmo/' x/demo-v1/report/report.md
tar -cf tampered.tar -C x demo-v1
set +e
out=$("$GHX" verify tampered.tar); rc=$?
set -e
expect_eq "$rc" 3 "verify of a tampered bundle"
grep -q 'report/report.md: checksum mismatch' <<<"$out" || fail "verify output: $out"
# --json: the summary for scripts; its sha256 is the file's.
out=$("$GHX" bundle experiments/demo.toml -o json.tar --json)
expect_eq "$(json_field sha256 "$out")" "\"$(sha256sum json.tar | cut -d' ' -f1)\"" "bundle --json sha256"
expect_eq "$(json_field bytes "$out")" "$(stat -c %s json.tar)" "bundle --json bytes"

# A damaged image blob: --with-images refuses (names the image and why, writes nothing) unless
# --allow-missing, which bundles without it and says so.
blob=$(sqlite3 cache/ghx.db "SELECT blob FROM steps WHERE kind = 'generate' AND status = 0 LIMIT 1")
[ -n "$blob" ] || fail "no generate blob found"
printf 'x' > "cache/objects/${blob:0:2}/${blob:2}"
set +e
"$GHX" bundle experiments/demo.toml --with-images -o damaged.tar >/dev/null 2>err.txt; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "bundle --with-images with a damaged image exited 0"
grep -q '1 image is not in the cache' err.txt || fail "refusal message: $(cat err.txt)"
grep -q 'allow-missing' err.txt || fail "the refusal names --allow-missing: $(cat err.txt)"
[ ! -e damaged.tar ] || fail "a refused bundle was written"
"$GHX" bundle experiments/demo.toml --with-images --allow-missing -o partial.tar >/dev/null 2>err.txt ||
  fail "--allow-missing: $(cat err.txt)"
grep -q 'not in the cache' err.txt || fail "--allow-missing warns: $(cat err.txt)"
echo "1 passed, 0 failed"
