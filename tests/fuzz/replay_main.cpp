// The driver that replays fuzz inputs without libFuzzer: linked with one fuzz target's source
// into replay_<target>, it runs LLVMFuzzerTestOneInput on every file given (or in the folders
// given), each in a child process, and fails if one crashes, aborts, runs past --timeout
// seconds or peaks above --rss-mb MiB of resident memory. The ordinary test suite runs it on
// each target's seed corpus and on its regression inputs (tests/fuzz/regressions/<target>/).
//
//   replay_<target> [--timeout S] [--rss-mb N] FILE_OR_FOLDER...
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(2);
  }
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

void collect(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "no such file or folder: %s\n", path.c_str());
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    files->push_back(path);
    return;
  }
  DIR* d = opendir(path.c_str());
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names)
    if (n != "README.md") collect(path + "/" + n, files);
}

}  // namespace

int main(int argc, char** argv) {
  double timeout = 60;
  long rss_mb = 512;
  std::vector<std::string> files;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--timeout" && k + 1 < argc) timeout = std::atof(argv[++k]);
    else if (a == "--rss-mb" && k + 1 < argc) rss_mb = std::atol(argv[++k]);
    else collect(a, &files);
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s [--timeout S] [--rss-mb N] FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  int failed = 0;
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = read_all(f);
    const auto start = std::chrono::steady_clock::now();
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      std::fflush(nullptr);
      _exit(0);
    }
    int status = 0;
    struct rusage ru;
    bool hung = false;
    for (;;) {
      const pid_t w = wait4(pid, &status, WNOHANG, &ru);
      if (w == pid) break;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (s > timeout) {
        kill(pid, SIGKILL);
        wait4(pid, &status, 0, &ru);
        hung = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const long mb = ru.ru_maxrss / 1024;
    std::string problem;
    if (hung) problem = "ran past " + std::to_string(static_cast<int>(timeout)) + " s";
    else if (WIFSIGNALED(status)) problem = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0) problem = "exit status " + std::to_string(WEXITSTATUS(status));
    else if (mb > rss_mb) problem = "peak memory " + std::to_string(mb) + " MiB > " + std::to_string(rss_mb);
    std::printf("%s %s (%zu bytes, %.0f ms, %ld MiB)%s%s\n", problem.empty() ? "ok  " : "FAIL", f.c_str(),
                bytes.size(), ms, mb, problem.empty() ? "" : ": ", problem.c_str());
    failed += !problem.empty();
  }
  std::printf("%zu inputs, %d failed\n", files.size(), failed);
  return failed ? 1 : 0;
}
