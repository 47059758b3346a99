#include "kernels_choice.hpp"

#include <cstdlib>

#include "capsrt/capsrt.h"

namespace capsrt {
namespace tools {

std::string available_kernels() {
  std::string s = "auto";
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id)
    if (caps_kernels_available(id)) s += std::string(", ") + caps_kernels_name(id);
  return s;
}

uint32_t choose_kernels(const std::string& option) {
  std::string name = option;
  std::string from = "--kernels";
  if (name.empty()) {
    const char* env = std::getenv("CAPSRT_KERNELS");
    if (env != nullptr && *env != '\0') {
      name = env;
      from = "CAPSRT_KERNELS";
    }
  }
  if (name.empty()) name = "auto";
  const uint32_t id = caps_kernels_from_name(name.c_str());
  if (id == CAPS_KERNELS_COUNT)
    throw KernelsError(from + ": unknown kernel set '" + name + "' (available here: " +
                       available_kernels() + ")");
  const uint32_t chosen = id == CAPS_KERNELS_AUTO ? caps_kernels_default() : id;
  if (!caps_kernels_available(chosen))
    throw KernelsError(from + ": kernel set '" + name +
                       "' does not run on this build or CPU (available here: " +
                       available_kernels() + ")");
  return chosen;
}

}  // namespace tools
}  // namespace capsrt
