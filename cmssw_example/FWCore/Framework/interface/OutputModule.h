// edm::OutputModule: writes events. The EventProcessor calls write() one event at a time and in
// input order (it buffers events that finish early on another stream), so an output module needs
// no locking and its file has the order of the input whatever the number of streams.
#ifndef FWCore_Framework_OutputModule_h
#define FWCore_Framework_OutputModule_h

#include <string>

#include "FWCore/Framework/interface/Event.h"

namespace edm {

class OutputModule {
 public:
  OutputModule(std::string label, std::string type) : label_(std::move(label)), type_(std::move(type)) {}
  virtual ~OutputModule() = default;
  const std::string& label() const noexcept { return label_; }
  const std::string& type() const noexcept { return type_; }

  virtual void beginJob() {}
  virtual void write(const Event& event) = 0;
  /// Called only after every event was written successfully: finish and commit the output.
  /// An output module whose job fails is destroyed without endJob() and must not leave a
  /// complete-looking file behind.
  virtual void endJob() {}

 private:
  std::string label_;
  std::string type_;
};

}  // namespace edm

#endif  // FWCore_Framework_OutputModule_h
