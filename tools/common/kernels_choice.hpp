// Which kernel set a tool runs: its --kernels option, else the CAPSRT_KERNELS environment
// variable, else "auto" (the best set this CPU runs). The tool passes the id to every
// interpreter it sets up: the library keeps no process-wide choice.
#ifndef CAPSRT_TOOLS_KERNELS_CHOICE_HPP
#define CAPSRT_TOOLS_KERNELS_CHOICE_HPP

#include <cstdint>
#include <stdexcept>
#include <string>

namespace capsrt {
namespace tools {

struct KernelsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `option`: the tool's --kernels value ("" when not given). Returns the CAPS_KERNELS_* id in use
// (never AUTO). Throws KernelsError for an unknown name or a set this build or CPU cannot run,
// naming the ones it can.
uint32_t choose_kernels(const std::string& option);

// "auto", "reference", ... and the sets available here, for help texts and errors.
std::string available_kernels();

}  // namespace tools
}  // namespace capsrt

#endif
