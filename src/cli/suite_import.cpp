#include "cli/suite_import.h"

#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dsl/csv_import.h"
#include "util/error.h"
#include "util/fs.h"

namespace ghx::cli {

namespace {

namespace fs = std::filesystem;

std::string count(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

CLI::App* add_suite_import(CLI::App& app, SuiteImportArgs& a) {
  auto* suite = app.add_subcommand("suite", "Suite files");
  suite->require_subcommand(1);
  auto* imp = suite->add_subcommand("import", "Convert a GhostReview CSV prompt file into suite TOML");
  imp->add_option("csv", a.csv, "GhostReview CSV (columns Prompt, NegativePrompt, Skip, LoRA, Add)")->required();
  imp->add_option("-o,--output", a.out, "Suite TOML to write")->required();
  imp->add_option("--name", a.name, "[suite] name (default: the output file's stem)");
  imp->add_flag("--force", a.force, "Overwrite the output file if it exists");
  imp->add_flag("--json", a.json, "Machine-readable summary on stdout");
  return imp;
}

int cmd_suite_import(const SuiteImportArgs& a) {
  std::string name = a.name.empty() ? fs::path(a.out).stem().string() : a.name;
  dsl::Diagnostics d;
  auto imported = dsl::import_csv(a.csv, name, d);
  std::cout.flush();
  std::cerr << d.format_all();
  if (!imported) return 2;

  std::error_code ec;
  if (fs::is_directory(a.out, ec)) {
    std::cerr << "ghx: error: " << a.out << " is a folder; -o names the suite file to write\n";
    return 2;
  }
  if (fs::exists(a.out, ec)) {
    // --force must not turn a typo into the loss of the CSV itself.
    if (fs::equivalent(a.csv, a.out, ec)) {
      std::cerr << "ghx: error: " << a.out << " is the CSV file being imported\n";
      return 2;
    }
    if (!a.force) {
      std::cerr << "ghx: error: " << a.out << " exists; use --force to overwrite it\n";
      return 2;
    }
  }
  try {
    util::write_file_atomic(a.out, imported->toml);
  } catch (const Error& e) {
    std::cerr << "ghx: error: " << e.what() << "\n";
    return 2;
  }

  // The images lie relative to the suite file; show them where the user has to put them.
  fs::path dir = fs::path(a.out).parent_path();
  if (a.json) {
    nlohmann::ordered_json images = nlohmann::ordered_json::array();
    for (const auto& rel : imported->images) images.push_back((dir / rel).generic_string());
    nlohmann::ordered_json j = {{"output", a.out},
                                {"prompts", imported->prompts},
                                {"loras", imported->loras},
                                {"showcase", imported->showcase},
                                {"images", images}};
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::cout << "wrote " << a.out << ": " << count(imported->prompts, "prompt", "prompts") << ", "
            << count(imported->loras, "LoRA", "LoRAs");
  if (imported->showcase > 0)
    std::cout << " (" << count(imported->showcase, "showcase image", "showcase images") << " to supply under "
              << (dir / "targets/loras/").generic_string() << ")";
  std::cout << std::endl;
  return 0;
}

}  // namespace ghx::cli
