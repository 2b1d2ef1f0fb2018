// A parse worker for the tests (indexer/parse_worker.h) that misbehaves on request: a file
// whose name contains "crash" kills it (SIGABRT), one whose name contains "hang" stops it
// for good. Otherwise it is `mnemo parse-worker`.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "indexer/parse_worker.h"

int main() {
  return mnemo::indexer::run_parse_worker(std::cin, std::cout,
                                          [](const mnemo::indexer::ParseRequest& request) {
                                            if (request.path.find("crash") != std::string::npos)
                                              std::abort();
                                            if (request.path.find("hang") != std::string::npos) {
                                              for (;;) ::pause();
                                            }
                                          });
}
