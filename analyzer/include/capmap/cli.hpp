// The capmap command line; tools/main.cpp only calls run_cli().
#pragma once

namespace capmap {

// Returns the exit status (see ExitCode in errors.hpp).
int run_cli(int argc, char **argv);

} // namespace capmap
