// gvae::GvhReader / gvae::readGvhJets, the one C++ .gvh reader (DESIGN section 3.1): files written
// byte by byte here read back exactly; the committed export/reference/heldout.gvh reads; bad files
// throw gvae::DataError naming file, row and field. (The CMSSW example's testGvhFile covers the
// same reader through the example's writer, with more corruptions.)
#include <cstdio>
#include <filesystem>

#include "gvae_test.h"

namespace {

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

std::string jetBytes(std::uint64_t eventId, float pt, const std::vector<gvae::Hit>& hits) {
  std::string out;
  put<std::uint64_t>(out, eventId);
  for (float v : {pt, 0.5f, -0.25f, 170.f, 1.f}) put<float>(out, v);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(hits.size()));
  for (const auto& h : hits) {
    put<std::uint8_t>(out, static_cast<std::uint8_t>(h.channel));
    put<std::uint8_t>(out, 0);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(h.ieta));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(h.iphi));
    put<std::uint16_t>(out, 0);
    put<float>(out, h.energy);
  }
  return out;
}

std::string fileBytes(std::uint64_t nJets, const std::string& jets) {
  std::string out("GVAEHIT1", 8);
  put<std::uint32_t>(out, 1);
  put<std::uint32_t>(out, 0);
  put<std::uint64_t>(out, nJets);
  return out + jets;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = (std::filesystem::temp_directory_path() / ("gvae_test_gvh_" + name)).string();
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

}  // namespace

int main() {
  const std::vector<gvae::Hit> a = {{0, 3, 4, 1.5f}, {2, 122, 7, 0.25f}}, b = {{1, 62, 62, 40.f}};
  const std::string good = fileBytes(3, jetBytes(11, 100.f, a) + jetBytes(12, 200.f, {}) + jetBytes(13, 300.f, b));
  const std::string path = write("good.gvh", good);
  {
    gvae::GvhReader reader(path);
    GVAE_CHECK(reader.size() == 3 && reader.position() == 0 && reader.path() == path);
    gvae::GvhJet jet;
    GVAE_CHECK(reader.next(jet));
    GVAE_CHECK(jet.event_id == 11 && jet.pt == 100.f && jet.eta == 0.5f && jet.phi == -0.25f && jet.m0 == 170.f &&
               jet.label == 1.f);
    GVAE_CHECK(jet.hits.size() == 2 && jet.hits[1].channel == 2 && jet.hits[1].ieta == 122 && jet.hits[1].iphi == 7 &&
               jet.hits[1].energy == 0.25f);
    GVAE_CHECK(reader.next(jet) && jet.event_id == 12 && jet.hits.empty());
    GVAE_CHECK(reader.next(jet) && jet.event_id == 13 && jet.hits.size() == 1 && jet.hits[0].energy == 40.f);
    GVAE_CHECK(!reader.next(jet) && reader.position() == 3);
  }
  const std::vector<gvae::JetHits> jets = gvae::readGvhJets(path);
  GVAE_CHECK(jets.size() == 3 && jets[0].jet_id == 11 && jets[2].jet_id == 13 && jets[0].hits.size() == 2);

  // Bad files: at open (structure) and at next() (a hit's field).
  GVAE_CHECK_THROWS(gvae::DataError, gvae::GvhReader("/nonexistent/x.gvh"), "file '/nonexistent/x.gvh'", "cannot open");
  const std::string truncated = write("truncated.gvh", good.substr(0, good.size() - 3));
  GVAE_CHECK_THROWS(gvae::DataError, gvae::GvhReader{truncated}, truncated, "row 2", "truncated");
  const std::string count = write("count.gvh", fileBytes(4, good.substr(24)));
  GVAE_CHECK_THROWS(gvae::DataError, gvae::GvhReader{count}, "field 'n_jets'", "header says 4 jets");
  std::string magic = good;
  magic[3] = 'X';
  GVAE_CHECK_THROWS(gvae::DataError, gvae::GvhReader{write("magic.gvh", magic)}, "field 'magic'");
  const std::string badHit = write("badhit.gvh", fileBytes(2, jetBytes(1, 1.f, a) + jetBytes(2, 1.f, {{0, 130, 1, 1.f}})));
  GVAE_CHECK_THROWS(gvae::DataError, gvae::readGvhJets(badHit), badHit, "row 1", "field 'hits[0].ieta'");

  // The committed reference file (16 held-out jets, export/reference/README.md).
  const char* src = std::getenv("GVAE_SOURCE_DIR");
  const std::string heldout = std::string(src ? src : ".") + "/export/reference/heldout.gvh";
  if (std::filesystem::exists(heldout)) GVAE_CHECK(gvae::readGvhJets(heldout).size() == 16);
  for (const char* name : {"good.gvh", "truncated.gvh", "count.gvh", "magic.gvh", "badhit.gvh"})
    std::remove((std::filesystem::temp_directory_path() / (std::string("gvae_test_gvh_") + name)).c_str());
  return gvae_test::finish("test_gvh_file");
}
