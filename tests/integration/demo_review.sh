# The demo review end to end: second run executes nothing, reports are byte-identical (also
# after rebuilding the cache from nothing), a moved copy plans the same keys, editing one prompt
# re-runs exactly its downstream steps.
source "$(dirname "$0")/lib.inc"

out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" 525 "first run executed"
expect_eq "$(json_field failed "$out")" 0 "first run failed"
expect_eq "$(json_field report "$out")" '"reports/demo-v1"' "report folder"
mkdir first && cp -r reports/demo-v1/* first/

out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" 0 "second run executed"
expect_eq "$(json_field cached "$out")" 525 "second run cached"
for f in report.md report.html results.json results.csv; do
  cmp -s "first/$f" "reports/demo-v1/$f" || fail "$f changed on a no-op re-run"
done

# The LoRA section: fixups rewrote the showcase prompts, NoTM left out exactly the LoRAs whose
# showcase images a checkpoint under test made (moxin: dreamshaper_8; gacha: ghostmix_v2 and
# dreamshaper_8), and the report lists the rewrites.
r=$(tr -d ' \n' < reports/demo-v1/results.json)
for m in lora_loss lora_loss_notm lora_loss.gacha z.lora_loss_notm; do
  grep -q "\"$m\":" <<<"$r" || fail "results.json has no $m"
done
grep -q '"name":"dreamshaper_8","notm_excluded":\["gacha","moxin"\]' <<<"$r" ||
  grep -q '"notm_excluded":\["gacha","moxin"\]' <<<"$r" || fail "dreamshaper_8 NoTM exclusions"
grep -q '"notm_excluded":\["gacha"\]' <<<"$r" || fail "ghostmix_v2 NoTM exclusions"
grep -q 'swap_version, add_missing_tags' reports/demo-v1/report.md || fail "report.md lists no fixups"
grep -q '(TM)' reports/demo-v1/report.md || fail "report.md marks no NoTM cell"
plan=$("$GHX" plan experiments/demo.toml --json | tr -d '\n')
grep -q '"final": "1girl, splash art, (<lora:gachaSplash_v4:0.7>:1.2), dynamic pose, <lora:add_detail:0.8>"' <<<"$plan" ||
  fail "plan --json shows no fixed prompt"

# Explain the generate step of a LoRA prompt (its key from the contact sheet in results.json):
# the suite's text, the fixed text and the rules; and NoTM for a checkpoint that made it.
key=$(tr -d ' \n' < reports/demo-v1/results.json | grep -o '"images":\["[0-9a-f]*"[^]]*\],"prompt":"gacha#0"' |
      grep -o '[0-9a-f]\{32\}' | sed -n 1p)
[ -n "$key" ] || fail "no contact-sheet key for gacha#0"
"$GHX" plan experiments/demo.toml --explain "$key" > explain_lora.txt
grep -qF 'prompt (suite): 1girl, splash art, (<lora:gachaSplash_v3:0.7>:1.2), dynamic pose' explain_lora.txt ||
  fail "explain shows no suite prompt: $(cat explain_lora.txt)"
grep -qF 'fixups: swap_version, add_missing_tags' explain_lora.txt || fail "explain shows no fixups"
grep -qF 'NoTM: this checkpoint made' explain_lora.txt || fail "explain shows no NoTM (ghostmix_v2 made gacha)"

# Another folder, same content: same keys (everything cached in this cache).
mkdir -p elsewhere/deep && cp -r experiments suites models elsewhere/deep/
out=$("$GHX" plan elsewhere/deep/experiments/demo.toml --json --cache cache)
expect_eq "$(json_field to_run "$out")" 0 "moved copy to_run"

# Edit one prompt: 3 checkpoints x 4 images x (generate, image_features, metric) + aggregate + report.
sed -i 's/pixel art castle, 16-bit/pixel art castle, 8-bit/' suites/styles_demo.toml
out=$("$GHX" plan experiments/demo.toml --json)
expect_eq "$(json_field to_run "$out")" 38 "to_run after editing one prompt"
out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" 38 "executed after editing one prompt"
sed -i 's/pixel art castle, 8-bit/pixel art castle, 16-bit/' suites/styles_demo.toml

# Rebuild the cache from nothing: the report is the same bytes.
rm -rf cache reports
"$GHX" run experiments/demo.toml --json >/dev/null 2>&1
for f in report.md report.html results.json results.csv review.json; do
  cmp -s "first/$f" "reports/demo-v1/$f" || fail "$f differs after rebuilding the cache"
done
diff -r first/thumbs reports/demo-v1/thumbs >/dev/null || fail "thumbnails differ after rebuilding the cache"
diff -r first/images reports/demo-v1/images >/dev/null || fail "contact-sheet images differ after rebuilding the cache"

# Explain a step by key prefix (the first hex digit that names some step).
for d in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
  if "$GHX" plan experiments/demo.toml --explain "$d" > explain.txt 2>/dev/null; then break; fi
done
grep -q "status: cached" explain.txt || fail "explain of a cached step: $(cat explain.txt)"
grep -q "parameters (hashed, in order):" explain.txt || fail "explain shows no parameters"
set +e
"$GHX" plan experiments/demo.toml --explain zzzz >/dev/null 2>&1; rc=$?
set -e
expect_eq "$rc" 2 "explain of an unknown key"
echo "1 passed, 0 failed"
