#include "app/cli.h"

int main(int argc, char** argv) { return relay::app::main(argc, argv); }
