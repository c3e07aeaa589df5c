// gvae::GraphBuilder unit tests (docs/DESIGN.md section 4): tower collapse, ordering, kNN ties,
// self fill, padding, truncation accounting, validation errors. Returns nonzero on failure.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gvae_test.h"

namespace {

using gvae::Graph;
using gvae::GraphBuilder;
using gvae::Hit;

std::int64_t nb(const Graph& g, int k, int i, int s) { return g.neighbours[static_cast<std::size_t>(i * k + s)]; }
float feat(const Graph& g, int i, int c) { return g.features[static_cast<std::size_t>(i * 4 + c)]; }

// An HCAL tower given as 25 pixels of E/25 (the end-to-end image convention) becomes one node at
// the tower centre with the energy summed in double; total energy is the exact pixel sum.
void testTowerCollapse() {
  const GraphBuilder builder({4, 16});
  std::vector<Hit> hits;
  const float tower = 37.5f;
  const float pixel = tower / 25.f;
  double expected = 0.0;
  for (int i = 10; i < 15; ++i)
    for (int j = 20; j < 25; ++j) {
      hits.push_back({2, i, j, pixel});
      expected += static_cast<double>(pixel);
    }
  hits.push_back({1, 12, 22, 1.25f});  // an ECAL crystal under the tower
  expected += 1.25;
  const Graph g = builder.build(hits, 7);
  GVAE_CHECK(g.n_nodes == 2);
  GVAE_CHECK(g.n_hits == 2);
  GVAE_CHECK(g.total_energy == expected);
  GVAE_CHECK(g.dropped_energy_fraction == 0.0);
  // Node 0: the HCAL tower (larger energy), at the tower centre pixel (12, 22).
  GVAE_CHECK(feat(g, 0, 3) == 2.f);
  GVAE_CHECK(g.pixels[0] == 12 && g.pixels[1] == 22);
  GVAE_CHECK(feat(g, 0, 2) == static_cast<float>(25.0 * static_cast<double>(pixel)));
  GVAE_CHECK(feat(g, 0, 0) == static_cast<float>((12 - 62) * 0.0174));
  GVAE_CHECK(feat(g, 0, 1) == static_cast<float>((22 - 62) * 0.0174));
  // The ECAL crystal shares the pixel: distance 0, each other's first neighbour, rest self-filled.
  GVAE_CHECK(nb(g, 4, 0, 0) == 1 && nb(g, 4, 1, 0) == 0);
  for (int s = 1; s < 4; ++s) GVAE_CHECK(nb(g, 4, 0, s) == 0 && nb(g, 4, 1, s) == 1);
  // One hit per tower (the .gvh convention) lands on the same node.
  const Graph g2 = builder.build(std::vector<Hit>{{2, 12, 22, 37.5f}}, 0);
  GVAE_CHECK(g2.n_nodes == 1 && g2.pixels[0] == 12 && g2.pixels[1] == 22 && feat(g2, 0, 2) == 37.5f);
}

// Order: energy descending, ties by channel, ieta, iphi; zero-energy hits are not nodes; padding.
void testOrderingAndPadding() {
  const GraphBuilder builder({2, 6});
  const std::vector<Hit> hits = {{1, 5, 5, 1.f}, {0, 7, 7, 1.f}, {0, 6, 9, 1.f}, {1, 3, 3, 0.f}, {0, 6, 8, 4.f}};
  const Graph g = builder.build(hits, 0);
  GVAE_CHECK(g.n_nodes == 4);
  const int expected[4][3] = {{0, 6, 8}, {0, 6, 9}, {0, 7, 7}, {1, 5, 5}};
  for (int i = 0; i < 4; ++i) {
    GVAE_CHECK(feat(g, i, 3) == static_cast<float>(expected[i][0]));
    GVAE_CHECK(g.pixels[static_cast<std::size_t>(2 * i)] == expected[i][1]);
    GVAE_CHECK(g.pixels[static_cast<std::size_t>(2 * i + 1)] == expected[i][2]);
    GVAE_CHECK(g.mask[static_cast<std::size_t>(i)] == 1);
  }
  for (int i = 4; i < 6; ++i) {
    GVAE_CHECK(g.mask[static_cast<std::size_t>(i)] == 0);
    for (int c = 0; c < 4; ++c) GVAE_CHECK(feat(g, i, c) == 0.f);
    for (int s = 0; s < 2; ++s) GVAE_CHECK(nb(g, 2, i, s) == i);
  }
  GVAE_CHECK(g.features.size() == 6 * 4 && g.neighbours.size() == 6 * 2 && g.pixels.size() == 6 * 2);
  const Graph empty = builder.build(nullptr, 0, 3);
  GVAE_CHECK(empty.n_nodes == 0 && empty.n_hits == 0 && empty.total_energy == 0.0 && empty.dropped_energy_fraction == 0.0);
  for (int i = 0; i < 6; ++i) GVAE_CHECK(nb(empty, 2, i, 0) == i && empty.mask[static_cast<std::size_t>(i)] == 0);
}

// Ties in distance are broken by node index ascending.
void testKnnTies() {
  const GraphBuilder builder({3, 8});
  // Centre node with the highest energy (index 0); four nodes at distance 1 with decreasing energy
  // (indices 1..4) and one at distance 2.
  const std::vector<Hit> hits = {{1, 50, 51, 5.f}, {1, 51, 50, 6.f}, {1, 50, 50, 10.f},
                                 {1, 49, 50, 8.f}, {1, 50, 49, 7.f}, {1, 52, 50, 9.f}};
  const Graph g = builder.build(hits, 0);
  // Node order by energy: (50,50) 10, (52,50) 9, (49,50) 8, (50,49) 7, (51,50) 6, (50,51) 5.
  GVAE_CHECK(g.pixels[0] == 50 && g.pixels[1] == 50);
  // Node 0: distance-1 nodes are indices 2, 3, 4, 5 -> first three by index.
  GVAE_CHECK(nb(g, 3, 0, 0) == 2 && nb(g, 3, 0, 1) == 3 && nb(g, 3, 0, 2) == 4);
  // Every node against brute force.
  const int n = g.n_nodes;
  for (int i = 0; i < n; ++i) {
    std::vector<std::pair<int, int>> c;
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const int di = g.pixels[static_cast<std::size_t>(2 * i)] - g.pixels[static_cast<std::size_t>(2 * j)];
      const int dj = g.pixels[static_cast<std::size_t>(2 * i + 1)] - g.pixels[static_cast<std::size_t>(2 * j + 1)];
      c.push_back({di * di + dj * dj, j});
    }
    std::sort(c.begin(), c.end());
    for (int s = 0; s < 3; ++s) GVAE_CHECK(nb(g, 3, i, s) == c[static_cast<std::size_t>(s)].second);
  }
}

// Random jets: kNN against brute force, self fill when fewer than k others.
void testKnnBruteForce() {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> pix(0, 124), ch(0, 2), count(0, 60);
  std::uniform_real_distribution<float> en(0.f, 3.f);
  for (int trial = 0; trial < 30; ++trial) {
    const int k = 1 + trial % 9;
    const GraphBuilder builder({k, 40});
    std::vector<Hit> hits(static_cast<std::size_t>(count(rng)));
    for (auto& h : hits) h = {ch(rng), pix(rng) / 8 + 50, pix(rng) / 8 + 50, en(rng)};  // dense: many ties
    const Graph g = builder.build(hits, trial);
    const int n = g.n_nodes;
    for (int i = 0; i < n; ++i) {
      std::vector<std::pair<int, int>> c;
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        const int di = g.pixels[static_cast<std::size_t>(2 * i)] - g.pixels[static_cast<std::size_t>(2 * j)];
        const int dj = g.pixels[static_cast<std::size_t>(2 * i + 1)] - g.pixels[static_cast<std::size_t>(2 * j + 1)];
        c.push_back({di * di + dj * dj, j});
      }
      std::sort(c.begin(), c.end());
      for (int s = 0; s < k; ++s) {
        const std::int64_t want = s < static_cast<int>(c.size()) ? c[static_cast<std::size_t>(s)].second : i;
        GVAE_CHECK(nb(g, k, i, s) == want);
      }
    }
  }
}

// Truncation keeps the highest-energy nodes and accounts the dropped energy.
void testTruncation() {
  const GraphBuilder builder({2, 3});
  std::vector<Hit> hits;
  for (int i = 0; i < 6; ++i) hits.push_back({1, 60 + i, 60, static_cast<float>(i + 1)});  // 1..6 GeV
  const Graph g = builder.build(hits, 0);
  GVAE_CHECK(g.n_nodes == 3);
  GVAE_CHECK(g.n_hits == 6);
  GVAE_CHECK(feat(g, 0, 2) == 6.f && feat(g, 1, 2) == 5.f && feat(g, 2, 2) == 4.f);
  GVAE_CHECK(g.total_energy == 21.0);
  GVAE_CHECK(g.dropped_energy_fraction == 6.0 / 21.0);
  for (int i = 0; i < 3; ++i)
    for (int s = 0; s < 2; ++s) GVAE_CHECK(nb(g, 2, i, s) >= 0 && nb(g, 2, i, s) < 3);
}

bool throwsWith(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const gvae::InvalidInput& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      if (what.find(p) == std::string::npos) {
        std::fprintf(stderr, "message '%s' lacks '%s'\n", what.c_str(), p.c_str());
        return false;
      }
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

void testErrors() {
  const GraphBuilder builder({8, 400});
  auto one = [&](Hit h, long jet) { return [&builder, h, jet] { builder.build(std::vector<Hit>{{0, 1, 1, 1.f}, h}, jet); }; };
  GVAE_CHECK(throwsWith(one({3, 1, 1, 1.f}, 11), {"jet 11", "hit 1", "channel"}));
  GVAE_CHECK(throwsWith(one({-1, 1, 1, 1.f}, 11), {"jet 11", "channel"}));
  GVAE_CHECK(throwsWith(one({0, 125, 1, 1.f}, 12), {"jet 12", "ieta"}));
  GVAE_CHECK(throwsWith(one({0, -1, 1, 1.f}, 12), {"jet 12", "ieta"}));
  GVAE_CHECK(throwsWith(one({0, 1, 125, 1.f}, 13), {"jet 13", "iphi"}));
  GVAE_CHECK(throwsWith(one({0, 1, 1, std::numeric_limits<float>::quiet_NaN()}, 14), {"jet 14", "energy", "finite"}));
  GVAE_CHECK(throwsWith(one({0, 1, 1, std::numeric_limits<float>::infinity()}, 14), {"jet 14", "energy"}));
  GVAE_CHECK(throwsWith(one({0, 1, 1, -0.5f}, 15), {"jet 15", "energy", ">= 0"}));
  GVAE_CHECK(throwsWith([] { GraphBuilder b({0, 10}); }, {"k"}));
  GVAE_CHECK(throwsWith([] { GraphBuilder b({8, 0}); }, {"max_nodes"}));
}

// GraphBuilder::buildMany: the graphs do not depend on the thread count (bitwise equal to build()
// jet by jet), every jet is built, and the error of the lowest failing jet is the one thrown.
bool sameGraph(const Graph& a, const Graph& b) {
  return a.features == b.features && a.pixels == b.pixels && a.neighbours == b.neighbours && a.mask == b.mask &&
         a.n_nodes == b.n_nodes && a.n_hits == b.n_hits && a.total_energy == b.total_energy &&
         a.dropped_energy_fraction == b.dropped_energy_fraction;
}

void testBuildMany() {
  const GraphBuilder builder({8, 64});
  std::vector<std::vector<Hit>> jets;
  for (const auto& j : gvae_test::syntheticJets(57, 3)) jets.push_back(j.hits);
  std::vector<Graph> serial;
  for (std::size_t b = 0; b < jets.size(); ++b) serial.push_back(builder.build(jets[b], static_cast<long>(b)));
  for (int threads : {1, 2, 4, 100}) {
    const std::vector<Graph> many = builder.buildMany(jets, threads);
    GVAE_CHECK(many.size() == jets.size());
    bool same = many.size() == serial.size();
    for (std::size_t b = 0; same && b < many.size(); ++b) same = sameGraph(many[b], serial[b]);
    GVAE_CHECK_MSG(same, threads << " threads");
  }
  GVAE_CHECK(builder.buildMany(std::vector<std::vector<Hit>>{}, 4).empty());
  // Jets 9 and 30 are bad: jet 9 (labelled first_jet + 9 = 109) is reported, every good jet was sunk.
  jets[30][0].ieta = 200;
  jets[9][2].energy = -1.f;
  std::vector<int> sunk(jets.size(), 0);
  GVAE_CHECK_THROWS(gvae::InvalidInput,
                    builder.buildMany(
                        jets.size(), [&](std::size_t b, std::vector<Hit>& hits) { hits = jets[b]; },
                        [&](std::size_t b, const Graph&) { ++sunk[b]; }, 4, 100),
                    "jet 109", "hit 2", "energy");
  for (std::size_t b = 0; b < jets.size(); ++b) GVAE_CHECK_MSG(sunk[b] == (b == 9 || b == 30 ? 0 : 1), "jet " << b);
  GVAE_CHECK_THROWS(gvae::InvalidInput, builder.buildMany(jets, 1, 0), "jet 9,");
}

// GraphBuilder::imageHits: nonzero pixels in (channel, ieta, iphi) row-major order, NaN kept.
void testImageHits() {
  std::vector<float> image(3 * 125 * 125, 0.f);
  auto at = [&](int c, int i, int j) -> float& { return image[static_cast<std::size_t>((c * 125 + i) * 125 + j)]; };
  at(2, 0, 1) = 4.f;
  at(0, 124, 124) = 1.5f;
  at(0, 3, 7) = 2.f;
  at(1, 62, 62) = std::numeric_limits<float>::quiet_NaN();
  std::vector<Hit> hits = {Hit{0, 0, 0, 9.f}};  // cleared first
  GraphBuilder::imageHits(image.data(), hits);
  GVAE_CHECK(hits.size() == 4);
  if (hits.size() == 4) {
    GVAE_CHECK(hits[0].channel == 0 && hits[0].ieta == 3 && hits[0].iphi == 7 && hits[0].energy == 2.f);
    GVAE_CHECK(hits[1].channel == 0 && hits[1].ieta == 124 && hits[1].iphi == 124);
    GVAE_CHECK(hits[2].channel == 1 && hits[2].ieta == 62 && std::isnan(hits[2].energy));
    GVAE_CHECK(hits[3].channel == 2 && hits[3].ieta == 0 && hits[3].iphi == 1 && hits[3].energy == 4.f);
  }
  GVAE_CHECK(throwsWith([&] { GraphBuilder({4, 16}).build(hits, 5); }, {"jet 5", "hit 2", "energy"}));
}

}  // namespace

int main() {
  testTowerCollapse();
  testOrderingAndPadding();
  testKnnTies();
  testKnnBruteForce();
  testTruncation();
  testErrors();
  testBuildMany();
  testImageHits();
  return gvae_test::finish("test_graph_builder");
}
