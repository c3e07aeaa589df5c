// gvae::GvhReader: the .gvh hits file (docs/DESIGN.md section 3.1).
#include "gvae/GvhFile.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "gvae/Errors.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .gvh reader assumes a little-endian host"
#endif

namespace gvae {

namespace {

template <typename T>
T load(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

std::string printable(const char* bytes, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 32 && c < 127) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

// ---- GvhReader ---------------------------------------------------------------------------------

void GvhReader::fail(const std::string& what, std::int64_t row, const std::string& field) const {
  std::string message = "file '" + path_ + "'";
  if (row >= 0) message += ", row " + std::to_string(row);
  if (!field.empty()) message += ", field '" + field + "'";
  throw gvae::DataError(message + ": " + what);
}

GvhReader::GvhReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) fail(std::string("cannot open: ") + std::strerror(errno));
  in_.seekg(0, std::ios::end);
  const std::streamoff end = in_.tellg();
  if (end < 0) fail("cannot determine the file size");
  const auto fileSize = static_cast<std::uint64_t>(end);
  in_.seekg(0);
  if (fileSize < gvh::kHeaderBytes)
    fail("file too short for a .gvh header (" + std::to_string(fileSize) + " bytes, need 24)", -1, "header");
  unsigned char head[gvh::kHeaderBytes];
  in_.read(reinterpret_cast<char*>(head), gvh::kHeaderBytes);
  if (!in_) fail("cannot read the header", -1, "header");
  if (std::memcmp(head, gvh::kMagic, 8) != 0)
    fail("not a .gvh file: magic '" + printable(reinterpret_cast<const char*>(head), 8) + "', expected 'GVAEHIT1'",
         -1, "magic");
  const auto version = load<std::uint32_t>(head + 8);
  if (version != gvh::kVersion)
    fail("unsupported version " + std::to_string(version) + " (this reader knows version 1)", -1, "version");
  if (load<std::uint32_t>(head + 12) != 0) fail("reserved header field is not 0", -1, "reserved");
  nJets_ = load<std::uint64_t>(head + 16);

  // Walk the n_hits chain: every jet must be complete and the file must end exactly after them.
  std::uint64_t position = gvh::kHeaderBytes;
  std::uint64_t count = 0;
  while (position < fileSize) {
    const std::uint64_t left = fileSize - position;
    if (left < gvh::kJetHeaderBytes)
      fail("truncated: " + std::to_string(left) + " bytes left, a jet header needs 32" +
               (nJets_ == 0 ? " (header says 0 jets: the file was not closed properly)" : ""),
           static_cast<std::int64_t>(count), "jet header");
    unsigned char nHitsBytes[4];
    in_.seekg(static_cast<std::streamoff>(position + 28));
    in_.read(reinterpret_cast<char*>(nHitsBytes), 4);
    if (!in_) fail("cannot read", static_cast<std::int64_t>(count), "n_hits");
    const auto nHits = load<std::uint32_t>(nHitsBytes);
    if (nHits > gvh::kMaxHits)
      fail("n_hits = " + std::to_string(nHits) + " exceeds the maximum " + std::to_string(gvh::kMaxHits) +
               " (corrupt file)", static_cast<std::int64_t>(count), "n_hits");
    const std::uint64_t need = gvh::kJetHeaderBytes + gvh::kHitBytes * nHits;
    if (need > left)
      fail("truncated: the jet needs " + std::to_string(need) + " bytes, " + std::to_string(left) + " left" +
               (nJets_ == 0 ? " (header says 0 jets: the file was not closed properly)" : ""),
           static_cast<std::int64_t>(count), "hits");
    position += need;
    ++count;
  }
  if (count != nJets_) {
    if (nJets_ == 0)
      fail("header says 0 jets but " + std::to_string(count) + " jets follow: the file was not closed properly "
               "(truncated/corrupt)", -1, "n_jets");
    fail("header says " + std::to_string(nJets_) + " jets, the file holds " + std::to_string(count) +
             (count < nJets_ ? " (truncated)" : " (corrupt)"), static_cast<std::int64_t>(count), "n_jets");
  }
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(gvh::kHeaderBytes));
}

bool GvhReader::next(GvhJet& jet) {
  if (next_ >= nJets_) return false;
  const auto row = static_cast<std::int64_t>(next_);
  unsigned char head[gvh::kJetHeaderBytes];
  in_.read(reinterpret_cast<char*>(head), gvh::kJetHeaderBytes);
  if (!in_) fail("cannot read the jet header (file changed while reading?)", row, "jet header");
  jet.event_id = load<std::uint64_t>(head);
  jet.pt = load<float>(head + 8);
  jet.eta = load<float>(head + 12);
  jet.phi = load<float>(head + 16);
  jet.m0 = load<float>(head + 20);
  jet.label = load<float>(head + 24);
  const auto nHits = load<std::uint32_t>(head + 28);
  if (nHits > gvh::kMaxHits) fail("n_hits = " + std::to_string(nHits) + " exceeds the maximum", row, "n_hits");
  buffer_.resize(static_cast<std::size_t>(gvh::kHitBytes) * nHits);
  in_.read(reinterpret_cast<char*>(buffer_.data()), static_cast<std::streamsize>(buffer_.size()));
  if (!in_) fail("cannot read the hits (file changed while reading?)", row, "hits");
  jet.hits.resize(nHits);
  for (std::uint32_t i = 0; i < nHits; ++i) {
    const unsigned char* h = buffer_.data() + static_cast<std::size_t>(gvh::kHitBytes) * i;
    const std::string field = "hits[" + std::to_string(i) + "].";
    const unsigned channel = h[0];
    const auto ieta = load<std::uint16_t>(h + 2);
    const auto iphi = load<std::uint16_t>(h + 4);
    const auto energy = load<float>(h + 8);
    if (channel > 2) fail("channel " + std::to_string(channel) + " is not 0, 1 or 2", row, field + "channel");
    if (h[1] != 0 || load<std::uint16_t>(h + 6) != 0) fail("padding bytes are not 0 (corrupt)", row, field + "pad");
    if (ieta > 124) fail("ieta " + std::to_string(ieta) + " outside [0, 125)", row, field + "ieta");
    if (iphi > 124) fail("iphi " + std::to_string(iphi) + " outside [0, 125)", row, field + "iphi");
    if (!std::isfinite(energy) || energy < 0.f)
      fail("energy " + std::to_string(energy) + " is not finite and >= 0", row, field + "energy");
    jet.hits[i] = gvae::Hit{static_cast<int>(channel), ieta, iphi, energy};
  }
  ++next_;
  return true;
}

std::vector<JetHits> readGvhJets(const std::string& path) {
  GvhReader reader(path);
  std::vector<JetHits> jets;
  jets.reserve(static_cast<std::size_t>(reader.size()));
  GvhJet jet;
  while (reader.next(jet)) {
    jets.push_back(JetHits{jet.event_id, std::move(jet.hits)});
    jet.hits = {};
  }
  return jets;
}

}  // namespace gvae
