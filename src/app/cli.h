// The command line: run (default), install, validate, spec, --version, --help.
#pragma once

namespace relay::app {

int main(int argc, char** argv);

}  // namespace relay::app
