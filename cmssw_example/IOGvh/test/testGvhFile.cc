// .gvh writer/reader round trip and every corruption the reader must name (file, row, field).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "FWCore/Utilities/interface/TestMacros.h"
#include "IOGvh/interface/GvhFile.h"
#include "gvae/Errors.h"

namespace {

std::string dir;

std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
bool exists(const std::string& path) { return std::ifstream(path).good(); }

std::vector<std::vector<gvae::Hit>> sampleJets() {
  return {{{0, 62, 62, 10.5f}, {1, 0, 124, 0.25f}, {2, 7, 12, 3.f}}, {}, {{1, 100, 3, 1e-3f}}};
}

std::string writeSample(const std::string& name) {
  const std::string path = dir + "/" + name;
  gvh::GvhWriter writer(path);
  const auto jets = sampleJets();
  for (std::size_t j = 0; j < jets.size(); ++j) {
    gvaedf::JetKinematics k{j, 100.f + j, 0.1f, -0.2f, 170.f, 1.f};
    writer.write(k, jets[j]);
  }
  writer.commit();
  return path;
}

void testRoundTrip() {
  const std::string path = writeSample("roundtrip.gvh");
  CHECK(!exists(path + ".tmp"));
  gvae::GvhReader reader(path);
  CHECK(reader.size() == 3);
  const auto expected = sampleJets();
  gvae::GvhJet jet;
  for (std::size_t j = 0; j < expected.size(); ++j) {
    CHECK(reader.next(jet));
    CHECK(jet.event_id == j);
    CHECK(jet.pt == 100.f + j);
    CHECK(jet.m0 == 170.f);
    CHECK(jet.hits.size() == expected[j].size());
    for (std::size_t h = 0; h < jet.hits.size() && h < expected[j].size(); ++h) {
      CHECK(jet.hits[h].channel == expected[j][h].channel);
      CHECK(jet.hits[h].ieta == expected[j][h].ieta);
      CHECK(jet.hits[h].iphi == expected[j][h].iphi);
      CHECK(jet.hits[h].energy == expected[j][h].energy);
    }
  }
  CHECK(!reader.next(jet));
  CHECK(slurp(path).size() == 24 + 3 * 32 + 4 * 12);
}

void testUncommittedWriterLeavesNothing() {
  const std::string path = dir + "/aborted.gvh";
  {
    gvh::GvhWriter writer(path);
    writer.write(gvaedf::JetKinematics{}, sampleJets()[0]);
  }
  CHECK(!exists(path));
  CHECK(!exists(path + ".tmp"));
}

/// Corrupt a copy of a good file with `edit`, expect a DataError mentioning `text`.
template <typename Edit>
void expectCorrupt(const std::string& name, Edit edit, const std::string& text, bool atOpen = true) {
  auto bytes = slurp(writeSample("good_" + name));
  edit(bytes);
  const std::string path = dir + "/" + name;
  spit(path, bytes);
  if (atOpen) {
    CHECK_THROWS(gvae::GvhReader{path}, gvae::DataError, text);
    CHECK_THROWS(gvae::GvhReader{path}, gvae::DataError, "file '" + path + "'");
  } else {
    gvae::GvhReader reader(path);
    gvae::GvhJet jet;
    CHECK_THROWS(while (reader.next(jet)) {}, gvae::DataError, text);
  }
}

void testCorruptions() {
  CHECK_THROWS(gvae::GvhReader{dir + "/does_not_exist.gvh"}, gvae::DataError, "cannot open");
  expectCorrupt("magic.gvh", [](auto& b) { b[3] = 'X'; }, "field 'magic': not a .gvh file");
  expectCorrupt("version.gvh", [](auto& b) { b[8] = 2; }, "field 'version': unsupported version 2");
  expectCorrupt("short.gvh", [](auto& b) { b.resize(10); }, "too short");
  // truncated inside jet 2's hits
  expectCorrupt("truncated.gvh", [](auto& b) { b.resize(b.size() - 5); }, "row 2, field 'hits': truncated");
  // truncated inside jet 1's header
  expectCorrupt("truncated_header.gvh", [](auto& b) { b.resize(24 + 32 + 3 * 12 + 10); },
                "row 1, field 'jet header': truncated");
  // a writer that never closed: header says 0 jets
  expectCorrupt("unclosed.gvh", [](auto& b) { std::memset(b.data() + 16, 0, 8); }, "header says 0 jets but 3 jets follow");
  expectCorrupt("extra.gvh", [](auto& b) { b.insert(b.end(), 32, 0); }, "header says 3 jets, the file holds 4");
  expectCorrupt("fewer.gvh", [](auto& b) { b[16] = 5; }, "header says 5 jets, the file holds 3 (truncated)");
  // hit-level problems are found when the jet is read; hit 0 of jet 0 starts at byte 56
  expectCorrupt("channel.gvh", [](auto& b) { b[56] = 3; }, "row 0, field 'hits[0].channel'", false);
  expectCorrupt("pad.gvh", [](auto& b) { b[57] = 1; }, "row 0, field 'hits[0].pad'", false);
  expectCorrupt("ieta.gvh", [](auto& b) { b[58] = static_cast<char>(200); }, "row 0, field 'hits[0].ieta'", false);
  expectCorrupt("energy.gvh", [](auto& b) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(b.data() + 56 + 8, &nan, 4);
      }, "row 0, field 'hits[0].energy'", false);
}

void testGvr() {
  const std::string path = dir + "/details.gvr";
  gvh::GvrWriter writer(path);
  gvae::JetResult result;
  result.hits = {gvae::RecoHit{1, 0.01f, -0.02f, 63, 61, 4.5f}};
  result.diagnostics = {1, 2, 5.0, 0.1};
  writer.write(result, 17);
  writer.commit();
  const auto bytes = slurp(path);
  CHECK(bytes.size() == 24 + 40 + 20);
  CHECK(std::memcmp(bytes.data(), gvh::kRecoMagic, 8) == 0);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data() + 16, 8);
  CHECK(n == 1);
}

}  // namespace

int main(int argc, char** argv) {
  dir = argc > 1 ? argv[1] : ".";
  testRoundTrip();
  testUncommittedWriterLeavesNothing();
  testCorruptions();
  testGvr();
  return TEST_MAIN_RESULT();
}
