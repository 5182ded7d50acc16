#pragma once
// The `import` generation backend: a folder of existing images (PNG/JPEG/WebP) stands in for
// the planned generate steps. Owns: scanning a folder (image files and their metadata), matching
// images to planned steps, and the Executor that turns a matched image into a step's result.
//
// Scan: the folder is walked RECURSIVELY (downloads are often sorted into subfolders); files
// ending .png/.jpg/.jpeg/.webp (any case) are images, sorted by their path relative to the
// folder. Metadata, first found wins:
//   1. a sidecar NAME.json beside NAME.png (or NAME.png.json): Civitai's image object (with a
//      `meta` object) or the `meta` object itself (prompt, negativePrompt, seed, "Model hash",
//      hashes.model, resources[type=model].hash, "Size", steps, sampler, cfgScale, "Model");
//   2. a PNG's `parameters` text chunk (A1111 infotext).
// JPEG/WebP without a sidecar have no metadata (A1111's EXIF UserComment is not read).
//
// Matching: an image fills a generate step when ALL of these hold:
//   - prompt equal (both trimmed of surrounding whitespace): the prompt decides the picture;
//   - seed present and equal: without it, which of a prompt's images this is would be a guess;
//   - negative prompt equal (missing = ""): it changes pixels as much as the prompt does;
//   - model: when the step's checkpoint identity names a hash ("sha256:"/"autov2:"), the
//     image's model hash (AutoV2, 10 hex, compared lowercased) must be present and equal; when
//     it does not ("backend_name:"), an image's "Model" name, if given, must equal the
//     checkpoint's server name, its stem, or the checkpoint's name (else two checkpoints would
//     share one image);
//   - LoRAs: for each LoRA the prompt loads (as A1111 reads tags) whose [[lora]] names a file,
//     when the image's metadata gives a hash for that name ("Lora hashes", or a sidecar's
//     resources[type=lora]), the hash must be the file's (its LoRA hash, or for Civitai's AutoV2
//     the start of its SHA-256; 8+ hex digits compared): another version of the LoRA made it.
//     Metadata silent about the LoRA is not a mismatch;
//   - size: when the image declares a "Size" (the base size, before hires fix, as A1111 writes
//     it), it must equal the step's width x height; pixel dimensions are not compared (hires fix
//     makes them differ from the planned size).
// Steps, sampler and CFG scale are NOT compared (Civitai spells samplers its own way); they are
// kept in the provenance. Two images for one step, or one image for two steps: an error for the
// step(s), never a guess.
// Fails: scan_import_dir throws ghx::Error for a folder that cannot be read; a single image
// with unreadable metadata is kept with `error` set and matches nothing. The executor never
// throws out of run(). Never: writes into the import folder.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "plan/plan.h"

namespace ghx::backends {

struct ImportImage {
  std::string path;     ///< full path
  std::string rel;      ///< relative to the scanned folder (sorting, messages)
  std::string source;   ///< "sidecar", "infotext", or "" (no metadata)
  std::string sidecar;  ///< the sidecar's path when source == "sidecar"
  std::string error;    ///< metadata that could not be read (the image matches nothing)
  std::string prompt;
  std::string negative_prompt;
  std::optional<int64_t> seed;
  std::string model_hash;  ///< AutoV2 lowercased, or ""
  std::string model_name;  ///< "Model", or ""
  int width = 0, height = 0;  ///< declared "Size"; 0 when unknown
  std::string infotext;    ///< A1111 infotext describing the image (written into PNGs lacking one)
  std::map<std::string, std::string> lora_hashes;  ///< LoRA name -> hash (lowercased), as the metadata says
};

struct ImportIndex {
  std::string dir;
  std::vector<ImportImage> images;  ///< sorted by rel
};

/// Every image under `dir` (recursive) with its metadata. Throws ghx::Error if `dir` is not a
/// readable folder.
ImportIndex scan_import_dir(const std::string& dir);

/// Why `img` does not fill `step` ("" when it does).
std::string import_mismatch(const ImportImage& img, const plan::Step& step);

struct ImportStepMatch {
  uint32_t step = 0;    ///< index in plan.steps
  std::string image;    ///< the matched image's path, or "" (missing or ambiguous)
  std::string error;    ///< "" when matched; the reason otherwise
};

struct ImportUnmatched {
  std::string path;
  std::string why;  ///< "no metadata", or why it misses the nearest step (same prompt), ...
};

struct ImportReport {
  std::vector<ImportStepMatch> steps;      ///< every import-backed generate step, plan order
  std::vector<ImportUnmatched> unmatched;  ///< images that fill no planned step: listed, not guessed
  std::vector<uint32_t> missing;        ///< steps with no image (not counting `done` ones)
  std::vector<uint32_t> ambiguous;      ///< steps with more than one image, or sharing one image
  int64_t matched = 0;
};

/// Matches every import-backed generate step of `plan` against the images of its import_dir
/// (scanned once per folder). `done(step index)`, when given, marks steps whose result is
/// already cached: they are not reported missing, and their images are not "unmatched".
/// Throws ghx::Error if a folder cannot be read.
ImportReport match_import(const plan::Plan& plan, const std::function<bool(uint32_t)>& done = {});
/// The same against indexes already scanned (keyed by import_dir).
ImportReport match_import(const plan::Plan& plan, const std::map<std::string, ImportIndex>& indexes,
                          const std::function<bool(uint32_t)>& done = {});

/// Lines for the console ("import: 8 images matched ...", unmatched listed, first 20), or one
/// JSON object {"matched", "unmatched": [...], "missing": [labels], "ambiguous": [labels]}.
std::string import_summary(const ImportReport& report, const plan::Plan& plan, bool json);

/// The executor for generate steps with backend "import" (context "import_dir").
std::unique_ptr<exec::Executor> make_import_executor();

}  // namespace ghx::backends
