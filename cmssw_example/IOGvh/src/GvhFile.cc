#include "IOGvh/interface/GvhFile.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Errors.h"
#include "gvae/Geometry.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .gvh reader/writer assumes a little-endian host"
#endif

namespace gvh {

namespace {

template <typename T>
void store(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
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

void GvhWriter::writeHits(const gvaedf::JetKinematics& k, const std::vector<gvae::RecoHit>& hits) {
  scratch_.clear();
  scratch_.reserve(hits.size());
  for (const auto& h : hits) {
    gvae::Hit hit{h.channel, h.ieta, h.iphi, h.energy};
    if (h.channel == gvae::geometry::kHcal) {  // towers are stored at their centre pixel
      const int t = gvae::geometry::kHcalTowerPixels;
      hit.ieta = t * (h.ieta / t) + t / 2;
      hit.iphi = t * (h.iphi / t) + t / 2;
    }
    scratch_.push_back(hit);
  }
  write(k, scratch_);
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
