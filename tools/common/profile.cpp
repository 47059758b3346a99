#include "profile.hpp"

#include "io.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace capsrt {
namespace tools {

namespace {

// The observer's state for one run: when the current op began, and each op's time.
struct Clock {
  Profile* p;
  std::chrono::steady_clock::time_point began;
  size_t next = 0;  // the op slot this run is at (ops run in the same order every run)
  static int32_t event(void* user, const caps_op_event* e) {
    Clock& c = *static_cast<Clock*>(user);
    if (e->phase == CAPS_OP_BEGIN) {
      c.began = std::chrono::steady_clock::now();
      return 0;
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - c.began).count();
    std::vector<OpProfile>& ops = c.p->ops;
    if (c.next == ops.size()) {  // the first run meets each op
      OpProfile op;
      op.index = e->index;
      op.kind = e->name;
      op.output = e->output_name;
      op.macs = e->macs;
      ops.push_back(op);
    }
    ops[c.next++].us.push_back(us);
    return 0;
  }
};

}  // namespace

double OpProfile::median_us() const { return percentile(us, 0.5); }

Profile profile_ops(Interpreter& it, int runs, bool decoder) {
  Profile p;
  p.runs = runs;
  Clock clock{&p, {}, 0};
  if (it.set_observer(&Clock::event, &clock) != CAPS_OK) throw std::runtime_error("profile: interpreter not set up");
  for (int r = 0; r < runs; ++r) {
    clock.next = 0;
    caps_status s = it.invoke();
    if (s == CAPS_OK && decoder && it.model()->attributes().recon_tensor != CAPS_NONE) s = it.reconstruct(-1);
    if (s != CAPS_OK) {
      it.set_observer(nullptr, nullptr);
      throw std::runtime_error(std::string("profile: run failed: ") + caps_status_message(s));
    }
    double total = 0;
    for (size_t k = 0; k < clock.next; ++k) total += p.ops[k].us.back();
    p.total_us.push_back(total);
  }
  it.set_observer(nullptr, nullptr);
  return p;
}

void print_profile(std::ostream& out, const Profile& p) {
  double sum = 0;
  uint64_t macs = 0;
  for (const OpProfile& op : p.ops) {
    sum += op.median_us();
    macs += op.macs;
  }
  char line[200];
  std::snprintf(line, sizeof line, "%-16s %-13s %12s %7s %15s %10s\n", "layer", "op", "median us", "share",
                "multiply-adds", "G MAC/s");
  out << line;
  for (const OpProfile& op : p.ops) {
    const double us = op.median_us();
    std::snprintf(line, sizeof line, "%-16.16s %-13.13s %12.1f %6.1f%% %15llu %10.2f\n", op.output.c_str(),
                  op.kind.c_str(), us, sum > 0 ? 100.0 * us / sum : 0.0, static_cast<unsigned long long>(op.macs),
                  us > 0 ? static_cast<double>(op.macs) / us / 1e3 : 0.0);
    out << line;
  }
  std::snprintf(line, sizeof line, "%-16s %-13s %12.1f %6.1f%% %15llu %10.2f\n", "total (medians)", "", sum, 100.0,
                static_cast<unsigned long long>(macs), sum > 0 ? static_cast<double>(macs) / sum / 1e3 : 0.0);
  out << line;
  std::snprintf(line, sizeof line, "median of the runs' totals: %.1f us over %d runs\n", percentile(p.total_us, 0.5), p.runs);
  out << line;
}

}  // namespace tools
}  // namespace capsrt
