#include "evaluate.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "io.hpp"

namespace capsrt {
namespace tools {

Session::Session(const Model& m) : model(m), arena(m.arena_size()) {
  const caps_status s = it.init(m, arena.data(), arena.size());
  if (s != CAPS_OK) throw IoError(std::string("interpreter: ") + caps_status_message(s));
}

void Session::classify(const uint8_t* input) {
  caps_status s = it.set_input_u8(input, model.input_size());
  if (s == CAPS_OK) s = it.invoke();
  if (s != CAPS_OK) throw IoError(std::string("invoke: ") + caps_status_message(s));
}

RunResult run_all(const Model& model, const uint8_t* inputs, size_t count, int threads,
                  const std::function<void(size_t)>& progress) {
  RunResult r;
  r.predicted.assign(count, 0);
  r.top_score.assign(count, 0.0f);
  r.latency_ms.assign(count, 0.0);
  const size_t in_size = model.input_size();
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&]() {
    Session s(model);
    for (size_t k; (k = next.fetch_add(1)) < count;) {
      const auto t0 = std::chrono::steady_clock::now();
      s.classify(inputs + k * in_size);
      const auto t1 = std::chrono::steady_clock::now();
      r.latency_ms[k] = std::chrono::duration<double, std::milli>(t1 - t0).count();
      r.predicted[k] = s.it.predicted_class();
      r.top_score[k] = s.it.scores()[r.predicted[k]];
      done.fetch_add(1);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<void>> jobs;
  for (int t = 0; t < std::max(1, threads); ++t) jobs.push_back(std::async(std::launch::async, worker));
  for (auto& j : jobs) {
    while (j.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
      if (progress) progress(done.load());
  }
  for (auto& j : jobs) j.get();  // rethrows a worker's error
  if (progress) progress(done.load());
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace tools
}  // namespace capsrt
