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

Session::Session(const Model& m, uint32_t kernels, unsigned intra_threads)
    : model(m), pool(intra_threads), arena(m.arena_size_for(kernels, pool.threads())) {
  const caps_status s = it.init(m, arena.data(), arena.size(), kernels, pool.threading());
  if (s != CAPS_OK) throw IoError(std::string("interpreter: ") + caps_status_message(s));
}

void Session::classify(const uint8_t* input) {
  caps_status s = it.set_input_u8(input, model.input_size());
  if (s == CAPS_OK) s = it.invoke();
  if (s != CAPS_OK) throw IoError(std::string("invoke: ") + caps_status_message(s));
}

void Session::classify(const InputBatch& batch, size_t k) {
  const size_t n = model.input_size();
  if (batch.f32 == nullptr) return classify(batch.u8 + k * n);
  caps_status s = it.set_input(batch.f32 + k * n, n);
  if (s == CAPS_OK) s = it.invoke();
  if (s != CAPS_OK) throw IoError(std::string("invoke: ") + caps_status_message(s));
}

namespace {

// The values of an output view as floats (all of them, or `count` from `first`); IoError when the
// output is not there.
std::vector<float> view_values(Interpreter& it, uint32_t which, uint32_t first = 0, uint32_t count = 0) {
  caps_tensor_view v;
  const caps_status s = it.tensor_view(which, &v);
  if (s != CAPS_OK) throw IoError(std::string("reading an output: ") + caps_status_message(s));
  if (count == 0) count = v.count - first;
  if (first + count > v.count) throw IoError("reading an output: index out of range");
  std::vector<float> out(count);
  for (uint32_t k = 0; k < count; ++k) out[k] = caps_tensor_value(&v, first + k);
  return out;
}

void check(caps_status s) {
  if (s != CAPS_OK) throw IoError(std::string("reconstruct: ") + caps_status_message(s));
}

}  // namespace

float Session::score(uint32_t c) { return view_values(it, CAPS_TENSOR_SCORES, c, 1)[0]; }

std::vector<float> Session::pose(uint32_t c) { return view_values(it, CAPS_TENSOR_POSES, c * it.pose_dim(), it.pose_dim()); }

std::vector<float> Session::reconstruct(int32_t c) {
  check(it.reconstruct(c));
  return view_values(it, CAPS_TENSOR_RECONSTRUCTION);
}

std::vector<float> Session::reconstruct_pose(uint32_t c, const std::vector<float>& pose) {
  if (model.quantized()) {  // the poses view's Q15
    std::vector<int16_t> p(pose.size());
    for (size_t k = 0; k < p.size(); ++k) {
      const float v = std::round(pose[k] * 32768.0f);
      p[k] = static_cast<int16_t>(std::max(-32767.0f, std::min(32767.0f, v)));
    }
    check(it.reconstruct_pose(c, p.data()));
  } else {
    check(it.reconstruct_pose(c, pose.data()));
  }
  return view_values(it, CAPS_TENSOR_RECONSTRUCTION);
}

RunResult run_all(const Model& model, uint32_t kernels, const InputBatch& batch, int threads,
                  unsigned intra_threads, const std::function<void(size_t)>& progress) {
  const size_t count = batch.count;
  RunResult r;
  r.predicted.assign(count, 0);
  r.top_score.assign(count, 0.0f);
  r.latency_ms.assign(count, 0.0);
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&]() {
    Session s(model, kernels, intra_threads);
    for (size_t k; (k = next.fetch_add(1)) < count;) {
      const auto t0 = std::chrono::steady_clock::now();
      s.classify(batch, k);
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
