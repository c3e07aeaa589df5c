// Minimal test support for the libgvae ctest executables: checks that count failures, the test
// model directory, and seeded synthetic jets. Each test_*.cpp is one executable.
#ifndef GVAE_TESTS_GVAE_TEST_H
#define GVAE_TESTS_GVAE_TEST_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gvae/gvae.h"

namespace gvae_test {

inline int& failures() {
  static int n = 0;
  return n;
}

/// Exit code ctest reads as "skipped" (SKIP_RETURN_CODE in tests/cpp/CMakeLists.txt).
inline constexpr int kSkip = 77;

/// Directory of the exported test models (ctest sets GVAE_TEST_MODELS; see make_test_models.py).
inline std::string modelDir() {
  const char* dir = std::getenv("GVAE_TEST_MODELS");
  if (dir == nullptr || *dir == 0) {
    std::cerr << "GVAE_TEST_MODELS is not set: run through ctest (the gvae_test_models fixture)\n";
    std::exit(1);
  }
  return dir;
}
inline std::string torchscriptPath() { return modelDir() + "/tiny.pt"; }
inline std::string aotiPath() { return modelDir() + "/tiny.pt2"; }

/// Seeded synthetic jet: a core of energetic ECAL/track hits around the centre, HCAL towers, and
/// a soft halo. Between ~20 and ~150 distinct nodes, so some jets exceed the tiny model's 64 nodes.
inline gvae::JetHits syntheticJet(std::uint64_t seed, std::uint64_t jet_id) {
  std::mt19937_64 rng(seed * 1000003ull + jet_id);
  std::normal_distribution<double> core(62.0, 4.0);
  std::uniform_int_distribution<int> anywhere(0, 124);
  std::exponential_distribution<double> soft(2.0);
  std::uniform_int_distribution<int> count(10, 120);
  gvae::JetHits jet;
  jet.jet_id = jet_id;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    gvae::Hit h;
    h.channel = static_cast<int>(rng() % 3);
    const bool halo = (rng() % 4) == 0;
    h.ieta = halo ? anywhere(rng) : std::clamp(static_cast<int>(std::lround(core(rng))), 0, 124);
    h.iphi = halo ? anywhere(rng) : std::clamp(static_cast<int>(std::lround(core(rng))), 0, 124);
    h.energy = static_cast<float>(halo ? 0.01 + soft(rng) : 0.5 + 20.0 * soft(rng));
    jet.hits.push_back(h);
  }
  return jet;
}

inline std::vector<gvae::JetHits> syntheticJets(std::size_t n, std::uint64_t seed, std::uint64_t first_id = 0) {
  std::vector<gvae::JetHits> jets;
  jets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) jets.push_back(syntheticJet(seed, first_id + i));
  return jets;
}

/// Largest |a - b| over all reconstructed hits (x, y, energy); infinity if the structure differs.
inline double maxDifference(const std::vector<gvae::JetResult>& a, const std::vector<gvae::JetResult>& b,
                            bool relativeEnergy = true) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    if (a[j].jet_id != b[j].jet_id || a[j].hits.size() != b[j].hits.size()) return INFINITY;
    for (std::size_t i = 0; i < a[j].hits.size(); ++i) {
      const gvae::RecoHit &p = a[j].hits[i], &q = b[j].hits[i];
      if (p.channel != q.channel) return INFINITY;
      double de = std::abs(double(p.energy) - double(q.energy));
      if (relativeEnergy) de /= std::max(1e-12, std::abs(double(q.energy)));
      worst = std::max({worst, std::abs(double(p.x) - double(q.x)), std::abs(double(p.y) - double(q.y)), de});
    }
  }
  return worst;
}

/// Bitwise equality of two result lists.
inline bool identical(const std::vector<gvae::JetResult>& a, const std::vector<gvae::JetResult>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t j = 0; j < a.size(); ++j) {
    const auto &p = a[j], &q = b[j];
    if (p.jet_id != q.jet_id || p.hits.size() != q.hits.size() || p.diagnostics.n_nodes != q.diagnostics.n_nodes ||
        p.diagnostics.n_hits != q.diagnostics.n_hits ||
        p.diagnostics.dropped_energy_fraction != q.diagnostics.dropped_energy_fraction)
      return false;
    for (std::size_t i = 0; i < p.hits.size(); ++i) {
      const auto &h = p.hits[i], &g = q.hits[i];
      if (h.channel != g.channel || h.x != g.x || h.y != g.y || h.energy != g.energy || h.ieta != g.ieta ||
          h.iphi != g.iphi)
        return false;
    }
  }
  return true;
}

inline int finish(const char* name) {
  if (failures() == 0) {
    std::cout << name << ": all checks passed\n";
    return 0;
  }
  std::cout << name << ": " << failures() << " check(s) FAILED\n";
  return 1;
}

}  // namespace gvae_test

#define GVAE_CHECK(cond)                                                                        \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      ++gvae_test::failures();                                                                  \
      std::cout << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond << std::endl;        \
    }                                                                                           \
  } while (0)

#define GVAE_CHECK_MSG(cond, msg)                                                               \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      ++gvae_test::failures();                                                                  \
      std::cout << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond " -- " << msg << std::endl; \
    }                                                                                           \
  } while (0)

// Expect `stmt` to throw `type` whose what() contains every string in the list.
#define GVAE_CHECK_THROWS(type, stmt, ...)                                                      \
  do {                                                                                          \
    bool gvae_thrown_ = false;                                                                  \
    try {                                                                                       \
      stmt;                                                                                     \
    } catch (const type& e) {                                                                   \
      gvae_thrown_ = true;                                                                      \
      const std::string what_ = e.what();                                                       \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {                   \
        if (what_.find(part) == std::string::npos) {                                            \
          ++gvae_test::failures();                                                              \
          std::cout << __FILE__ << ":" << __LINE__ << ": message of " #type " lacks '" << part  \
                    << "': " << what_ << std::endl;                                             \
        }                                                                                       \
      }                                                                                         \
    } catch (const std::exception& e) {                                                         \
      gvae_thrown_ = true;                                                                      \
      ++gvae_test::failures();                                                                  \
      std::cout << __FILE__ << ":" << __LINE__ << ": expected " #type ", got another exception: " \
                << e.what() << std::endl;                                                       \
    }                                                                                           \
    if (!gvae_thrown_) {                                                                        \
      ++gvae_test::failures();                                                                  \
      std::cout << __FILE__ << ":" << __LINE__ << ": expected " #type " from " #stmt << std::endl; \
    }                                                                                           \
  } while (0)

#endif  // GVAE_TESTS_GVAE_TEST_H
