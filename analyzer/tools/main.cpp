#include "capmap/cli.hpp"

int main(int argc, char **argv) { return capmap::run_cli(argc, argv); }
