// JSON golden files for the tool tests (nlohmann/json, which the runtime's tests do not link).
#ifndef CAPSRT_TESTS_JSON_UTIL_HPP
#define CAPSRT_TESTS_JSON_UTIL_HPP

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace testutil {

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

}  // namespace testutil

#endif
