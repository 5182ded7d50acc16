# experiments/review_v1.toml without its files (checkpoints, scoring models, reference and
# showcase images): `ghx plan` lists every missing file once, FILE:LINE:COL, exits 2, and
# writes nothing (no cache folder).
source "$(dirname "$0")/lib.inc"

# What the review names (docs/review_v1.md, "Files"): 8 checkpoints, 4 scoring files (CLIP,
# tokenizer, aesthetic head, VGG19), 9 style reference folders, 16 LoRAs x 2 showcase images.
want=$((8 + 4 + 9 + 16 * 2))

set +e
"$GHX" plan experiments/review_v1.toml --cache c_v1 > out.txt 2> err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code without the files"
[ ! -s out.txt ] || fail "plan printed a plan: $(head -3 out.txt)"
[ ! -e c_v1 ] || fail "the cache folder was created"

missing=$(grep -E '^[^:]+:[0-9]+:[0-9]+: error: .* not found: ' err.txt || true)
expect_eq "$(printf '%s\n' "$missing" | grep -c .)" "$want" "'not found' lines"
# Each names a different file.
expect_eq "$(printf '%s\n' "$missing" | sed 's/.*(resolved to \(.*\))$/\1/' | sort -u | grep -c .)" "$want" "distinct missing files"
expect_eq "$(grep -c 'error: checkpoint file not found' err.txt)" 8 "missing checkpoints"
expect_eq "$(grep -c 'error: targets folder not found' err.txt)" 9 "missing style folders"
expect_eq "$(grep -c 'error: showcase image not found' err.txt)" 32 "missing showcase images"
for f in clip-vit-large-patch14.safetensors bpe_simple_vocab_16e6.txt.gz sac+logos+ava1-l14-linearMSE.pth vgg19-dcbb9e9d.pth; do
  grep -qF "models/scoring/$f' (resolved" err.txt || fail "missing $f not reported"
done
grep -q '^experiments/review_v1.toml:29:8: error: checkpoint file not found: .*ghostmix_v20Bakedvae.safetensors' err.txt ||
  fail "first checkpoint's position: $(head -1 err.txt)"
grep -q '^suites/styles_9.toml:[0-9]*:[0-9]*: error: targets folder not found: .targets_v1/3d_model/.' err.txt ||
  fail "3d_model folder not reported"
# Every error line has a position.
bad=$(grep 'error:' err.txt | grep -vE '^[^:]+:[0-9]+:[0-9]+: error: ' || true)
[ -z "$bad" ] || fail "error lines without FILE:LINE:COL: $bad"
grep -q "^ghx: 53 errors, nothing run$" err.txt || fail "no summary line: $(tail -1 err.txt)"
echo "1 passed, 0 failed"
