#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  try {
    return ghx::cli::run_cli(argc, argv);
  } catch (const ghx::Error& e) {
    std::cerr << "ghx: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ghx: internal error: " << e.what() << "\n";
    return 2;
  }
}
