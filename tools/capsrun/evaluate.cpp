#include "evaluate.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <future>
#include <thread>

#include "io.hpp"

namespace capsrt {
namespace tools {

Session::Session(const Model& m, uint32_t kernels) : model(m), arena(m.arena_size_for(kernels)) {
  const caps_status s = it.init(m, arena.data(), arena.size(), kernels);
  if (s != CAPS_OK) throw IoError(std::string("interpreter: ") + caps_status_message(s));
}

void Session::classify(const uint8_t* input) {
  caps_status s = it.set_input_u8(input, model.input_size());
  if (s == CAPS_OK) s = it.invoke();
  if (s != CAPS_OK) throw IoError(std::string("invoke: ") + caps_status_message(s));
}

float Session::score(uint32_t c) const {
  if (model.quantized()) return static_cast<float>(it.scores_q15()[c]) / 32768.0f;
  return it.scores()[c];
}

std::vector<float> Session::pose(uint32_t c) const {
  const uint32_t d = it.pose_dim();
  std::vector<float> p(d);
  for (uint32_t k = 0; k < d; ++k)
    p[k] = model.quantized() ? static_cast<float>(it.poses_q15()[c * d + k]) / 32768.0f : it.poses()[c * d + k];
  return p;
}

namespace {
std::vector<float> image_of(const Model& m, const float* f, const int8_t* q) {
  std::vector<float> out(m.input_size());
  for (size_t k = 0; k < out.size(); ++k)
    out[k] = q != nullptr ? static_cast<float>(int32_t{q[k]} + 128) / 255.0f : f[k];
  return out;
}
void check(caps_status s) {
  if (s != CAPS_OK) throw IoError(std::string("reconstruct: ") + caps_status_message(s));
}
}  // namespace

std::vector<float> Session::reconstruct(int32_t c) {
  const float* f = nullptr;
  const int8_t* q = nullptr;
  check(model.quantized() ? it.reconstruct_q(c, &q) : it.reconstruct(c, &f));
  return image_of(model, f, q);
}

std::vector<float> Session::reconstruct_pose(uint32_t c, const std::vector<float>& pose) {
  const float* f = nullptr;
  const int8_t* q = nullptr;
  if (model.quantized()) {
    std::vector<int16_t> p(pose.size());
    for (size_t k = 0; k < p.size(); ++k) {
      const float v = std::round(pose[k] * 32768.0f);
      p[k] = static_cast<int16_t>(std::max(-32767.0f, std::min(32767.0f, v)));
    }
    check(it.reconstruct_pose_q(c, p.data(), &q));
  } else {
    check(it.reconstruct_pose(c, pose.data(), &f));
  }
  return image_of(model, f, q);
}

RunResult run_all(const Model& model, uint32_t kernels, const uint8_t* inputs, size_t count, int threads,
                  const std::function<void(size_t)>& progress) {
  RunResult r;
  r.predicted.assign(count, 0);
  r.top_score.assign(count, 0.0f);
  r.latency_ms.assign(count, 0.0);
  const size_t in_size = model.input_size();
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&]() {
    Session s(model, kernels);
    for (size_t k; (k = next.fetch_add(1)) < count;) {
      const auto t0 = std::chrono::steady_clock::now();
      s.classify(inputs + k * in_size);
      const auto t1 = std::chrono::steady_clock::now();
      r.latency_ms[k] = std::chrono::duration<double, std::milli>(t1 - t0).count();
      r.predicted[k] = s.it.predicted_class();
      r.top_score[k] = s.score(r.predicted[k]);
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
