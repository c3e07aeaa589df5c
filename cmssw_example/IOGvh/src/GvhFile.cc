#include "IOGvh/interface/GvhFile.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Errors.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .gvh reader/writer assumes a little-endian host"
#endif

namespace gvh {

namespace {

template <typename T>
T load(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void store(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
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

[[noreturn]] void writeError(const std::string& path, const std::string& what) {
  throw edm::Exception(edm::errors::Category::FileOpenError, "file '" + path + "': " + what);
}

/// Header with n_jets = 0 (the real count is written by commit()).
std::string header(const char (&magic)[8]) {
  std::string out(magic, 8);
  store<std::uint32_t>(out, kVersion);
  store<std::uint32_t>(out, 0);
  store<std::uint64_t>(out, 0);
  return out;
}

/// Write n_jets into the header, close, rename tmp -> path.
void finish(std::ofstream& out, const std::string& tmpPath, const std::string& path, std::uint64_t nJets) {
  std::string count;
  store<std::uint64_t>(count, nJets);
  out.seekp(16);
  out.write(count.data(), static_cast<std::streamsize>(count.size()));
  out.close();
  if (!out) writeError(tmpPath, "cannot write the header");
  if (std::rename(tmpPath.c_str(), path.c_str()) != 0)
    writeError(path, std::string("cannot rename from '") + tmpPath + "': " + std::strerror(errno));
}

std::uint16_t pixel16(int pixel) { return static_cast<std::uint16_t>(pixel < 0 ? 0 : (pixel > 124 ? 124 : pixel)); }

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
  if (fileSize < kHeaderBytes)
    fail("file too short for a .gvh header (" + std::to_string(fileSize) + " bytes, need 24)", -1, "header");
  unsigned char head[kHeaderBytes];
  in_.read(reinterpret_cast<char*>(head), kHeaderBytes);
  if (!in_) fail("cannot read the header", -1, "header");
  if (std::memcmp(head, kMagic, 8) != 0)
    fail("not a .gvh file: magic '" + printable(reinterpret_cast<const char*>(head), 8) + "', expected 'GVAEHIT1'",
         -1, "magic");
  const auto version = load<std::uint32_t>(head + 8);
  if (version != kVersion)
    fail("unsupported version " + std::to_string(version) + " (this reader knows version 1)", -1, "version");
  if (load<std::uint32_t>(head + 12) != 0) fail("reserved header field is not 0", -1, "reserved");
  nJets_ = load<std::uint64_t>(head + 16);

  // Walk the n_hits chain: every jet must be complete and the file must end exactly after them.
  std::uint64_t position = kHeaderBytes;
  std::uint64_t count = 0;
  while (position < fileSize) {
    const std::uint64_t left = fileSize - position;
    if (left < kJetHeaderBytes)
      fail("truncated: " + std::to_string(left) + " bytes left, a jet header needs 32" +
               (nJets_ == 0 ? " (header says 0 jets: the file was not closed properly)" : ""),
           static_cast<std::int64_t>(count), "jet header");
    unsigned char nHitsBytes[4];
    in_.seekg(static_cast<std::streamoff>(position + 28));
    in_.read(reinterpret_cast<char*>(nHitsBytes), 4);
    if (!in_) fail("cannot read", static_cast<std::int64_t>(count), "n_hits");
    const auto nHits = load<std::uint32_t>(nHitsBytes);
    if (nHits > kMaxHits)
      fail("n_hits = " + std::to_string(nHits) + " exceeds the maximum " + std::to_string(kMaxHits) +
               " (corrupt file)", static_cast<std::int64_t>(count), "n_hits");
    const std::uint64_t need = kJetHeaderBytes + kHitBytes * nHits;
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
  in_.seekg(static_cast<std::streamoff>(kHeaderBytes));
}

bool GvhReader::next(JetRecord& jet) {
  if (next_ >= nJets_) return false;
  const auto row = static_cast<std::int64_t>(next_);
  unsigned char head[kJetHeaderBytes];
  in_.read(reinterpret_cast<char*>(head), kJetHeaderBytes);
  if (!in_) fail("cannot read the jet header (file changed while reading?)", row, "jet header");
  jet.kinematics.eventID = load<std::uint64_t>(head);
  jet.kinematics.pt = load<float>(head + 8);
  jet.kinematics.eta = load<float>(head + 12);
  jet.kinematics.phi = load<float>(head + 16);
  jet.kinematics.m0 = load<float>(head + 20);
  jet.kinematics.label = load<float>(head + 24);
  const auto nHits = load<std::uint32_t>(head + 28);
  if (nHits > kMaxHits) fail("n_hits = " + std::to_string(nHits) + " exceeds the maximum", row, "n_hits");
  buffer_.resize(static_cast<std::size_t>(kHitBytes) * nHits);
  in_.read(reinterpret_cast<char*>(buffer_.data()), static_cast<std::streamsize>(buffer_.size()));
  if (!in_) fail("cannot read the hits (file changed while reading?)", row, "hits");
  jet.hits.resize(nHits);
  for (std::uint32_t i = 0; i < nHits; ++i) {
    const unsigned char* h = buffer_.data() + static_cast<std::size_t>(kHitBytes) * i;
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

// ---- GvhWriter ---------------------------------------------------------------------------------

GvhWriter::GvhWriter(const std::string& path)
    : path_(path), tmpPath_(path + ".tmp"), out_(tmpPath_, std::ios::binary | std::ios::trunc) {
  if (!out_) writeError(tmpPath_, std::string("cannot create: ") + std::strerror(errno));
  const std::string head = header(kMagic);
  out_.write(head.data(), static_cast<std::streamsize>(head.size()));
}

GvhWriter::~GvhWriter() {
  if (!committed_) {
    out_.close();
    std::remove(tmpPath_.c_str());
  }
}

void GvhWriter::write(const gvaedf::JetKinematics& k, const std::vector<gvae::Hit>& hits) {
  if (hits.size() > std::numeric_limits<std::uint32_t>::max()) writeError(path_, "too many hits in one jet");
  std::string record;
  record.reserve(kJetHeaderBytes + kHitBytes * hits.size());
  store<std::uint64_t>(record, k.eventID);
  for (float v : {k.pt, k.eta, k.phi, k.m0, k.label}) store<float>(record, v);
  store<std::uint32_t>(record, static_cast<std::uint32_t>(hits.size()));
  for (const auto& h : hits) {
    store<std::uint8_t>(record, static_cast<std::uint8_t>(h.channel));
    store<std::uint8_t>(record, 0);
    store<std::uint16_t>(record, pixel16(h.ieta));
    store<std::uint16_t>(record, pixel16(h.iphi));
    store<std::uint16_t>(record, 0);
    store<float>(record, h.energy);
  }
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  if (!out_) writeError(tmpPath_, "write failed (disk full?)");
  ++nJets_;
}

void GvhWriter::commit() {
  finish(out_, tmpPath_, path_, nJets_);
  committed_ = true;
}

// ---- GvrWriter ---------------------------------------------------------------------------------

GvrWriter::GvrWriter(const std::string& path)
    : path_(path), tmpPath_(path + ".tmp"), out_(tmpPath_, std::ios::binary | std::ios::trunc) {
  if (!out_) writeError(tmpPath_, std::string("cannot create: ") + std::strerror(errno));
  const std::string head = header(kRecoMagic);
  out_.write(head.data(), static_cast<std::streamsize>(head.size()));
}

GvrWriter::~GvrWriter() {
  if (!committed_) {
    out_.close();
    std::remove(tmpPath_.c_str());
  }
}

void GvrWriter::write(const gvae::JetResult& result, std::uint64_t eventID) {
  std::string record;
  record.reserve(kRecoJetHeaderBytes + kRecoHitBytes * result.hits.size());
  store<std::uint64_t>(record, eventID);
  store<std::uint32_t>(record, static_cast<std::uint32_t>(result.diagnostics.n_nodes));
  store<std::uint32_t>(record, static_cast<std::uint32_t>(result.diagnostics.n_hits));
  store<double>(record, result.diagnostics.total_energy);
  store<double>(record, result.diagnostics.dropped_energy_fraction);
  store<std::uint32_t>(record, static_cast<std::uint32_t>(result.hits.size()));
  store<std::uint32_t>(record, 0);
  for (const auto& h : result.hits) {
    store<std::uint8_t>(record, static_cast<std::uint8_t>(h.channel));
    store<std::uint8_t>(record, 0);
    store<std::uint16_t>(record, pixel16(h.ieta));
    store<std::uint16_t>(record, pixel16(h.iphi));
    store<std::uint16_t>(record, 0);
    store<float>(record, h.x);
    store<float>(record, h.y);
    store<float>(record, h.energy);
  }
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  if (!out_) writeError(tmpPath_, "write failed (disk full?)");
  ++nJets_;
}

void GvrWriter::commit() {
  finish(out_, tmpPath_, path_, nJets_);
  committed_ = true;
}

}  // namespace gvh
