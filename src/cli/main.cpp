#include <exception>
#include <iostream>

#include <SQLiteCpp/Exception.h>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  try {
    return ghx::cli::run_cli(argc, argv);
  } catch (const ghx::Error& e) {
    std::cerr << "ghx: error: " << e.what() << "\n";
    return 2;
  } catch (const SQLite::Exception& e) {
    // A query failing after the cache opened: its ghx.db is damaged (or the disk is).
    std::cerr << "ghx: error: cache database: " << e.what()
              << " (a damaged ghx.db: restore the cache folder from a backup, or move it aside and run again)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ghx: internal error: " << e.what() << "\n";
    return 2;
  }
}
